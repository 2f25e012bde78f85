"""The digest path gives exactly the row path's Comparison, on real PostgreSQL and real Airflow schemas.

The Airflow 2.10 and 3.x schemas are copied (tables and column types as `airflow db migrate` made them) from the
session's airflow2/airflow3 environments into databases of a cluster of this module's own, which are then filled
with the same history written the way each version writes it (pickled conf vs JSON, JSON-in-bytes xcom vs JSON,
execution_date vs logical_date, secrets under different Fernet keys) and planted differences of every kind.
Every table and pair of versions is compared both ways; the results must be equal, field for field.
"""

from __future__ import annotations

import json
import pickle
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from mwaa_verify.airflow.secrets import SECRET_COLUMNS, FernetKeys, Redactor
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.metadata_db import MetadataDatabase
from mwaa_verify.environments.postgres import PostgresCluster
from mwaa_verify.parity.digests import Shard, compare_by_digest
from mwaa_verify.parity.engine import Comparison, compare, merged
from mwaa_verify.parity.explain import explain
from mwaa_verify.parity.metadata import (
    canonical_form,
    compare_rows,
    compare_table,
    database_plan,
    redactor_for,
)

pytestmark = pytest.mark.slow

TABLES = ("dag_run", "task_instance", "xcom", "variable", "connection", "slot_pool", "rendered_task_instance_fields")
SECRET = "pw-Kq72-not-for-reports"
START = datetime(2024, 3, 1, tzinfo=UTC)
RUNS = [f"scheduled__2024-03-{day:02d}T00:00:00+00:00" for day in range(1, 11)]
TASKS = [f"task_{number}" for number in range(12)]


def copy_schema(source_url: str, target_url: str) -> None:
    """The tables of TABLES as an Airflow version created them (types, nullability, defaults), no foreign keys."""
    reflected = sa.MetaData()
    reflected.reflect(sa.create_engine(source_url, poolclass=sa.pool.NullPool), only=list(TABLES))
    copied = sa.MetaData()
    for table in reflected.sorted_tables:
        columns = []
        for column in table.columns:
            default = column.server_default.arg if column.server_default is not None else None
            extra: list[Any] = []
            if default is not None and "nextval" in str(default):
                extra, default = [sa.Identity()], None
            columns.append(
                sa.Column(
                    column.name,
                    column.type,
                    *extra,
                    nullable=column.nullable,
                    primary_key=column.primary_key,
                    server_default=sa.text(str(default)) if default is not None else None,
                )
            )
        sa.Table(table.name, copied, *columns)
    engine = sa.create_engine(target_url, poolclass=sa.pool.NullPool)
    copied.create_all(engine)
    engine.dispose()


def filled(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row, with a value for every other column the schema requires (uuid ids of 3.x, flags, counters)."""
    result = {name: value for name, value in row.items() if name in table.c}
    for column in table.columns:
        if column.name in result or column.nullable or column.server_default is not None or column.identity:
            continue
        result[column.name] = _required(column)
    return result


def _required(column: sa.Column) -> Any:
    if isinstance(column.type, sa.Uuid):
        return uuid.uuid4()
    if isinstance(column.type, sa.Boolean):
        return False
    if isinstance(column.type, sa.Integer):
        return 1
    if isinstance(column.type, sa.DateTime):
        return START
    if isinstance(column.type, sa.JSON):
        return {}
    if isinstance(column.type, sa.LargeBinary):
        return b""
    return "x"


def history(version: int, keys: FernetKeys, planted: bool) -> dict[str, list[dict[str, Any]]]:
    """The same history as Airflow `version` stores it; `planted` adds one difference of every kind."""
    date_column = "execution_date" if version == 2 else "logical_date"
    runs = []
    for index, run_id in enumerate(RUNS):
        conf = {"n": index, "regions": ["eu"]} if index % 2 else {}
        if planted and index == 3:
            conf = {"n": index, "regions": ["eu", "us"]}  # a nested change: deepdiff says what
        logical = START + timedelta(days=index)
        if planted and index == 4:
            logical = logical.astimezone(timezone(timedelta(hours=2)))  # the same instant, another zone: equal
        runs.append({
            "dag_id": "etl", "run_id": run_id, date_column: logical, "state": "success",
            "run_type": "dataset_triggered" if version == 2 and index == 5 else
            ("asset_triggered" if index == 5 else "scheduled"),
            "conf": pickle.dumps(conf) if version == 2 else (conf or None),
            "start_date": logical, "end_date": logical + timedelta(minutes=5),
            "run_after": logical, "data_interval_start": logical, "data_interval_end": logical,
        })  # fmt: skip
    instances = []
    for run_index, run_id in enumerate(RUNS):
        for task in TASKS:
            started = START + timedelta(days=run_index, minutes=TASKS.index(task))
            instances.append({
                "dag_id": "etl", "task_id": task, "run_id": run_id, "map_index": -1, "try_number": 1,
                "state": "success", "start_date": started, "end_date": started + timedelta(seconds=42),
                "duration": 42.0, "hostname": "worker-1", "pool": "default_pool", "pool_slots": 1,
                "queue": "default", "priority_weight": 1, "operator": "PythonOperator", "max_tries": 1,
                "executor_config": pickle.dumps({}), "job_id": run_index,
            })  # fmt: skip
    if planted:
        instances[7]["state"] = "failed"  # a changed field
        instances[20]["hostname"] = None  # NULL vs a value
        instances[33]["end_date"] += timedelta(hours=1)  # a changed timestamp
        instances[45]["start_date"] = instances[45]["start_date"].astimezone(timezone(timedelta(hours=-5)))  # equal
        del instances[50]  # missing on this side
        instances.append({**instances[0], "run_id": "manual__extra"})  # only on this side
    xcoms = []
    for run_index, run_id in enumerate(RUNS[:4]):
        value: Any = {"rows": run_index, "ok": True}
        if planted and run_index == 2:
            value = {"rows": 99, "ok": True}
        stored = json.dumps(value).encode() if version == 2 else value
        if run_index == 3 and version == 2:
            stored = pickle.dumps(value)  # enable_xcom_pickling: not migratable, a difference against any value
        xcoms.append({
            "dag_id": "etl", "run_id": run_id, "task_id": "task_0", "map_index": -1, "key": "return_value",
            "value": stored, "timestamp": START, "dag_run_id": run_index + 1,
        })  # fmt: skip
    variables = []
    for name, plain in (("warehouse_schema", "analytics"), ("api_token", SECRET), ("in_clear", "visible")):
        if planted and name == "api_token":
            plain = SECRET + "-rotated"
        stored, encrypted = (plain, False) if name == "in_clear" else keys.encrypt(plain)
        variables.append({"key": name, "val": stored, "is_encrypted": encrypted, "description": None})
    password = SECRET + ("-changed" if planted else "")
    connections = [{
        "conn_id": "warehouse_db", "conn_type": "postgres", "host": "db.internal", "port": 5432,
        "password": keys.encrypt(password)[0], "is_encrypted": True,
        "extra": keys.encrypt(json.dumps({"sslmode": "require"}))[0], "is_extra_encrypted": True,
    }]  # fmt: skip
    pools = [{"pool": "default_pool", "slots": 128 if not planted else 64, "description": "Default pool"}]
    rendered = [
        {"dag_id": "etl", "task_id": task, "run_id": run_id, "map_index": -1,
         "rendered_fields": {"bash_command": f"echo {task} {run_id}", "env": {"A": "1", "B": [1, 2]}}}
        for run_id in RUNS[:3] for task in TASKS[:4]
    ]  # fmt: skip
    if planted:
        rendered[1]["rendered_fields"] = {"bash_command": "echo changed", "env": {"A": "1", "B": [1, 2]}}
        # JSON that PostgreSQL's jsonb refuses (\u0000): the digest path falls back to reading rows
        rendered[2]["rendered_fields"] = {"bash_command": "echo \x00", "env": {}}
    return {"dag_run": runs, "task_instance": instances, "xcom": xcoms, "variable": variables,
            "connection": connections, "slot_pool": pools, "rendered_task_instance_fields": rendered}  # fmt: skip


@pytest.fixture(scope="module")
def databases(airflow2: EphemeralEnvironment, airflow3: EphemeralEnvironment) -> Iterator[dict[str, Any]]:
    """Six databases: each version's schema with the plain history, the planted one, and an empty one."""
    with PostgresCluster() as cluster:
        admin = sa.create_engine(cluster.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        base = cluster.url.rsplit("/", 1)[0]
        found: dict[str, Any] = {}
        for version, environment in ((2, airflow2), (3, airflow3)):
            keys = FernetKeys((Fernet.generate_key().decode(),))
            for variant in ("plain", "planted", "empty"):
                name = f"af{version}_{variant}"
                with admin.connect() as connection:
                    connection.execute(sa.text(f"CREATE DATABASE {name}"))
                copy_schema(environment.sql_alchemy_conn, f"{base}/{name}")
                if variant != "empty":
                    write(f"{base}/{name}", history(version, keys, planted=variant == "planted"))
                found[name] = (MetadataDatabase(f"{base}/{name}"), keys)
        admin.dispose()
        yield found
        for database, _ in found.values():
            database.close()


def write(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.begin() as connection:
        for table, items in rows.items():
            connection.execute(sa.insert(metadata.tables[table]), [filled(metadata.tables[table], r) for r in items])
    engine.dispose()


PAIRS = [
    ("af2_plain", "af2_planted"),
    ("af2_planted", "af3_plain"),
    ("af2_plain", "af3_plain"),
    ("af3_planted", "af3_plain"),
    ("af2_plain", "af3_empty"),
]


def both_ways(
    table: str, databases: dict[str, Any], pair: tuple[str, str], redactor: Redactor
) -> tuple[Comparison, Comparison, tuple]:
    (source, source_keys), (target, target_keys) = databases[pair[0]], databases[pair[1]]
    secret = table in SECRET_COLUMNS
    forms = [canonical_form(table, keys if secret else None, redactor) for keys in (source_keys, target_keys)]
    reference = compare(source.rows(table), target.rows(table), _key(table), forms[0], forms[1], max_examples=3)
    plan = database_plan(table, source, target, forms[0], forms[1])
    assert plan is not None, f"{table} of two PostgreSQL databases is compared by digest"
    return reference, compare_by_digest(table, *plan, max_examples=3), plan


def _key(table: str) -> tuple[str, ...]:
    from mwaa_verify.airflow.column_map import SPECS

    return SPECS[table].natural_key


@pytest.mark.parametrize("pair", PAIRS, ids=["->".join(pair) for pair in PAIRS])
@pytest.mark.parametrize("table", TABLES)
def test_the_digest_path_finds_what_the_row_path_finds(
    table: str, pair: tuple[str, str], databases: dict[str, Any]
) -> None:
    redactor = Redactor()

    reference, digested, _ = both_ways(table, databases, pair, redactor)

    assert digested == reference
    assert reference.source_rows > 0  # the history is there: nothing passes on empty tables
    assert SECRET not in explain(table, digested)


def test_planted_differences_of_every_kind_are_found(databases: dict[str, Any]) -> None:
    redactor = Redactor()
    outcomes = {table: both_ways(table, databases, ("af2_plain", "af3_plain"), redactor)[1] for table in TABLES}
    planted = {table: both_ways(table, databases, ("af2_plain", "af2_planted"), redactor)[1] for table in TABLES}

    # across versions the same history is the same (pickled conf = JSON, bytes xcom = JSON, renamed dates,
    # dataset_triggered = asset_triggered, secrets under other keys), except the pickled xcom
    assert {table: (o.missing, o.changed, o.extra) for table, o in outcomes.items()} == {
        "dag_run": (0, 0, 0), "task_instance": (0, 0, 0), "xcom": (0, 1, 0), "variable": (0, 0, 0),
        "connection": (0, 0, 0), "slot_pool": (0, 0, 0), "rendered_task_instance_fields": (0, 0, 0),
    }  # fmt: skip
    ti = planted["task_instance"]
    assert (ti.missing, ti.changed, ti.extra, ti.matched) == (1, 3, 1, len(RUNS) * len(TASKS) - 4)
    assert {change.field for row in ti.changed_rows for change in row.changes} == {"state", "hostname", "end_date"}
    (run,) = planted["dag_run"].changed_rows
    assert run.changes[0].field == "conf" and "root['regions'][1]" in (run.changes[0].detail or "")
    (token,) = planted["variable"].changed_rows
    assert token.key == ("api_token",) and all("<redacted" in str(change.source) for change in token.changes)
    assert planted["connection"].changed == 1 and planted["slot_pool"].changed == 1
    assert planted["rendered_task_instance_fields"].changed == 2


def test_shards_merge_into_the_whole_table_comparison(databases: dict[str, Any]) -> None:
    redactor = Redactor()
    reference, _, plan = both_ways("task_instance", databases, ("af2_planted", "af3_plain"), redactor)

    parts = [compare_by_digest("task_instance", *plan, max_examples=3, shard=Shard(i, 3)) for i in range(3)]

    assert merged(parts, max_examples=3) == reference
    assert sum(part.source_rows for part in parts) == reference.source_rows and all(p.source_rows for p in parts)


def test_real_airflow_environments_compare_the_same_both_ways(
    airflow2: EphemeralEnvironment, airflow3: EphemeralEnvironment
) -> None:
    """The session's real Airflow 2.10 and 3.x, every migrated table, through compare_table itself."""
    from mwaa_verify.airflow.column_map import MIGRATED_TABLES
    from mwaa_verify.parity.metadata import NotApplicable

    redactor = redactor_for(airflow2, airflow3)
    for source, target in ((airflow2, airflow3), (airflow2, airflow2)):
        for since in (None, datetime(2024, 3, 2, tzinfo=UTC)):
            for spec in MIGRATED_TABLES:
                outcome = compare_table(spec.name, source, target, redactor, since)
                if isinstance(outcome, NotApplicable):
                    continue
                assert outcome == compare_rows(spec.name, source, target, redactor, since), (spec.name, since)
    assert compare_table("task_instance", airflow2, airflow2, redactor).matched > 0


def test_rows_changed_alike_in_one_bucket_are_all_found(
    airflow2: EphemeralEnvironment, databases: dict[str, Any]
) -> None:
    """A migration that changes one column the same way on many rows: with thousands of rows, many buckets hold two
    or more of them, and their changes must not cancel out in the bucket's digest."""
    template = history(2, FernetKeys((Fernet.generate_key().decode(),)), planted=False)
    run, instance = template["dag_run"][0], template["task_instance"][0]
    runs = [{**run, "run_id": f"scheduled__{n:05d}", "execution_date": START + timedelta(hours=n)} for n in range(1000)]
    instances = [
        {**instance, "run_id": item["run_id"], "task_id": task, "hostname": "worker-1"}
        for item in runs
        for task in TASKS
    ]
    blanked = [{**item, "hostname": ""} if index % 2 else item for index, item in enumerate(instances)]
    source, target = (_database_like(airflow2, databases, name) for name in ("af2_wide", "af2_wide_blanked"))
    write(source.url, {"dag_run": runs, "task_instance": instances})
    write(target.url, {"dag_run": runs, "task_instance": blanked})
    try:
        forms = [canonical_form("task_instance", None, Redactor()) for _ in range(2)]
        reference = compare(source.rows("task_instance"), target.rows("task_instance"), _key("task_instance"),
                            forms[0], forms[1], max_examples=3)  # fmt: skip
        plan = database_plan("task_instance", source, target, forms[0], forms[1])
        assert plan is not None
        digested = compare_by_digest("task_instance", *plan, max_examples=3)
    finally:
        source.close()
        target.close()

    assert reference.changed == len(instances) // 2
    assert digested == reference


def _database_like(airflow2: EphemeralEnvironment, databases: dict[str, Any], name: str) -> MetadataDatabase:
    """A new empty database with Airflow 2's schema, in the cluster of the module's other databases."""
    url = databases["af2_empty"][0].url
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    new_url = f"{url.rsplit('/', 1)[0]}/{name}"
    copy_schema(airflow2.sql_alchemy_conn, new_url)
    return MetadataDatabase(new_url)


def test_an_interrupted_comparison_cancels_its_statements_on_the_server(databases: dict[str, Any]) -> None:
    """Ctrl-C during a full-table aggregate: the statement is cancelled on the server, so the comparison's threads
    end at once instead of after the scan."""
    import threading
    import time

    from sqlalchemy.exc import DBAPIError

    database = MetadataDatabase(databases["af2_empty"][0].url)
    outcome: list[BaseException | None] = []

    def long_statement() -> None:
        try:
            with database.connect() as connection:
                connection.exec_driver_sql("SELECT pg_sleep(120)")
            outcome.append(None)
        except DBAPIError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=long_statement)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not database._in_use and time.monotonic() < deadline:  # the statement's connection is checked out
            time.sleep(0.05)
        time.sleep(0.5)
        database.cancel_running()
        worker.join(timeout=60)
    finally:
        database.close()

    assert not worker.is_alive(), "the statement ran on after cancel_running()"
    assert outcome and outcome[0] is not None and "canceling statement" in str(outcome[0])
