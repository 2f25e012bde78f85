"""What mwaa-dr (PyPI `mwaa-dr`) writes, read from mwaa-dr itself, inside an Airflow interpreter that has it.

`layouts`: per Airflow line its dr_factory names (2.4 ... 2.11), the tables it backs up with their column lists
and export filters, and each column's type as this Airflow's models declare it; mwaa_verify/airflow/
mwaa_dr_layouts.json is this output, and a test checks it still is. `backup`: run mwaa-dr's own backup code
(every table's backup()) with local storage, as its backup DAG does, writing under $AIRFLOW_HOME/dags/PREFIX.
Standard library, Airflow and mwaa-dr only.
Usage: python mwaa_dr_probe.py layouts --out FILE.json | python mwaa_dr_probe.py backup --prefix PREFIX --version X_Y
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import sys

LINES = ("2_4", "2_5", "2_6", "2_7", "2_8", "2_9", "2_10", "2_11")
# Tables whose backup() writes its own rows instead of a SELECT of `columns`: the fields it writes, in order
# (VariableTable and ConnectionTable through csv.DictWriter, comma-delimited; ActiveDagTable one dag_id a line).
OWN_WRITERS = {"variable": (["key", "val", "description"], ","), "active_dag": (["dag_id"], "\n")}
COMMA_TABLES = {"connection"}


def factory(line: str, prefix: str = "data"):
    module = importlib.import_module(f"mwaa_dr.v_{line}.dr_factory")
    return getattr(module, f"DRFactory_{line}")(dag_id="backup_metadata", path_prefix=prefix, storage_type="LOCAL")


def column_kind(column) -> str:
    from sqlalchemy import types

    kind = column.type
    checks = (
        (types.DateTime, "datetime"),
        (types.Boolean, "bool"),
        (types.Integer, "int"),
        (types.Float, "float"),
        (types.Numeric, "float"),
        (types.LargeBinary, "bytes"),
        (types.JSON, "json"),
    )
    for cls, name in checks:
        if isinstance(kind, cls) or isinstance(getattr(kind, "impl", None), cls):
            return name
    if type(kind).__name__ in {"UtcDateTime"}:
        return "datetime"
    if type(kind).__name__ in {"ExtendedJSON", "ExecutorConfigType"}:
        return "json" if type(kind).__name__ == "ExtendedJSON" else "bytes"
    return "str"


def layouts() -> dict:
    import airflow.models  # noqa: F401  (registers every model on the metadata)
    from airflow.models.base import Base

    found: dict = {"mwaa_dr_version": importlib.metadata.version("mwaa-dr"), "lines": {}, "types": {}}
    for line in LINES:
        tables = {}
        for table in factory(line).tables():
            columns, delimiter = OWN_WRITERS.get(table.name, (list(table.columns), "|"))
            delimiter = "," if table.name in COMMA_TABLES else delimiter
            tables[table.name] = {"columns": columns, "filter": table.export_filter, "delimiter": delimiter}
        found["lines"][line.replace("_", ".")] = tables
    for name, table in Base.metadata.tables.items():
        found["types"][name] = {column.name: column_kind(column) for column in table.columns}
    return found


def backup(prefix: str, line: str) -> None:
    chosen = factory(line, prefix)
    chosen.setup_backup()
    for table in chosen.tables():
        table.backup()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=("layouts", "backup"))
    parser.add_argument("--out")
    parser.add_argument("--prefix", default="data")
    parser.add_argument("--version", default="2_10")
    args = parser.parse_args()
    if args.action == "layouts":
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(layouts(), handle, indent=1, sort_keys=True)
    else:
        backup(args.prefix, args.version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
