"""What the suites add to an Allure run: labels per suite, diff attachments, the environments, categories.

Everything here is a no-op when pytest runs without --alluredir, so suites call it unconditionally.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from mwaa_verify.report.runs import RUN_ID_LABEL

EPIC = "Migration verification"
# suite module -> (feature, severity, the test parameters worth a label)
SUITES: dict[str, tuple[str, str]] = {
    "test_dag_import": ("DAG import", "blocker"),
    "test_metadata_parity": ("Metadata parity", "critical"),
    "test_log_copy": ("Task logs", "normal"),
    "test_environment_config": ("Environment configuration", "normal"),
    "test_iam_policy": ("IAM permissions", "critical"),
}
# Failure classes, used by Allure 2 (categories.json), Allure 3 (its configuration) and the sign-off summary.
# Each pattern is searched in the failure message (the same regex in Python and JavaScript: no inline flags).
# The first match wins: the most specific first.
CATEGORIES: list[dict[str, Any]] = [
    {"name": "Log missing", "pattern": r"log\(s\) missing|truncated|log differs", "statuses": ["failed"]},
    {"name": "Breaks on Airflow 3", "pattern": r"break on Airflow 3", "statuses": ["failed"]},
    {"name": "Import error", "pattern": r"does not import on Airflow|is not on the target", "statuses": ["failed"]},
    {"name": "Missing rows", "pattern": r"[1-9][0-9]* missing on the target|not in the target's dag table",
     "statuses": ["failed"]},
    {"name": "Value drift", "pattern": r"[1-9][0-9]* changed|[1-9][0-9]* only on the target|changed on the target",
     "statuses": ["failed"]},
    {"name": "Permission missing", "pattern": r"not allowed|denied|missing( [0-9]+)? permission",
     "statuses": ["failed"]},
    {"name": "Configuration drift", "pattern": r"configuration differs", "statuses": ["failed"]},
    {"name": "Environment unavailable", "pattern": r"cannot (open|parse|read)", "statuses": ["failed", "broken"]},
]  # fmt: skip
OTHER_FAILURE = "Other failure"
WARNING_LABEL = "mwaa_warning"  # one label per warning a passing check has for the sign-off
TEST_ID_LABEL = "mwaa_test"  # the pytest node id
# a check split into shards (parity of a large table under xdist): which share, "2/4"
SHARD_PARAMETER, SHARD_LABEL = "shard", "mwaa_shard"
# the parity suite's row counts, per table
ROWS_SOURCE, ROWS_TARGET, ROWS_MATCHED, ROWS_NOTE = (
    "mwaa_rows_source",
    "mwaa_rows_target",
    "mwaa_rows_matched",
    ("mwaa_rows_note"),
)


def suite_features(modules: set[str]) -> list[str]:
    """The features of the bundled suites among these test modules, in the suites' order."""
    return [feature for module, (feature, _severity) in SUITES.items() if module in modules]


def category_of(status: str, message: str) -> str:
    """The failure class of a failed or broken result, as Allure's categories decide it."""
    for category in CATEGORIES:
        if status in category["statuses"] and re.search(category["pattern"], message):
            return category["name"]
    return OTHER_FAILURE


def allure3_config(report_name: str, output: Path, history: Path) -> dict[str, Any]:
    """Allure 3's configuration: one HTML file that opens from disk, our categories, history across runs."""
    return {
        "name": report_name,
        "output": str(output),
        "historyPath": str(history),
        "appendHistory": True,
        "categories": {
            "rules": [
                {"name": c["name"], "messageRegex": c["pattern"], "matchedStatuses": c["statuses"]}
                for c in CATEGORIES
            ]
        },
        "plugins": {"awesome": {"options": {"singleFile": True, "reportName": report_name,
                                            "groupBy": ["feature", "story"]}}},
    }  # fmt: skip


def enabled(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "allure_report_dir", None))


def label_test(item: pytest.Item) -> None:
    """Epic/feature/story, severity and parameters, from where the test lives and what it is given."""
    import allure

    module = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
    feature, severity = SUITES.get(module, ("Other checks", "normal"))
    allure.dynamic.epic(EPIC)
    allure.dynamic.feature(feature)
    allure.dynamic.story(getattr(item, "originalname", item.name))
    allure.dynamic.severity(severity)
    for name, value in getattr(getattr(item, "callspec", None), "params", {}).items():
        if name == SHARD_PARAMETER:
            # a share of one check (one table's keys): hidden, and merged into one row by the summary
            share = f"{value.index + 1}/{value.count}"
            allure.dynamic.parameter(name, share, mode=allure.parameter_mode.HIDDEN)
            if value.count > 1:
                allure.dynamic.label(SHARD_LABEL, share)
            continue
        allure.dynamic.parameter(name, str(value))
        allure.dynamic.label(name, str(value))


def attach_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A diff as an HTML table and as CSV, when Allure is recording; values must already be redacted."""
    if not _recording():
        return
    import allure

    rows = [[str(value) for value in row] for row in rows]
    table = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    page = (
        "<html><head><meta charset='utf-8'><style>table{border-collapse:collapse;font:13px sans-serif}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}</style></head><body>"
        f"<table><tr>{table}</tr>{body}</table></body></html>"
    )
    allure.attach(page, name=f"{title} (table)", attachment_type=allure.attachment_type.HTML)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    allure.attach(buffer.getvalue(), name=f"{title} (csv)", attachment_type=allure.attachment_type.CSV)


def write_run_files(results_dir: Path, environments: Mapping[str, Mapping[str, str]]) -> None:
    """environment.properties (both environments) and categories.json, next to the results."""
    results_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{role}.{key}={_property(value)}" for role, values in environments.items() for key, value in values.items()
    ]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    allure2 = [
        {"name": c["name"], "messageRegex": f"(?s).*({c['pattern']}).*", "matchedStatuses": c["statuses"]}
        for c in CATEGORIES
    ]
    (results_dir / "categories.json").write_text(json.dumps(allure2, indent=2), encoding="utf-8")


def write_run_record(results_dir: Path, record: Mapping[str, Any]) -> None:
    """Who ran this session, when and on what, next to its results (the summary reads it back)."""
    path = results_dir / run_record_name(str(record["run_id"]))
    path.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")


def run_record_name(run_id: str) -> str:
    return f"mwaa-verify-run-{run_id}.json"


def label_run(run_id: str, nodeid: str) -> None:
    """The run a result belongs to, and which collected test it is (the summary finds tests with no result)."""
    import allure

    allure.dynamic.label(RUN_ID_LABEL, run_id)
    allure.dynamic.label(TEST_ID_LABEL, nodeid)


def label_row_counts(source: int, target: int, matched: int, note: str = "") -> None:
    """Row counts of one table for the summary, when Allure is recording."""
    if not _recording():
        return
    import allure

    for name, value in ((ROWS_SOURCE, source), (ROWS_TARGET, target), (ROWS_MATCHED, matched)):
        allure.dynamic.label(name, str(value))
    if note:
        allure.dynamic.label(ROWS_NOTE, note)


def _recording() -> bool:
    try:
        from allure_commons._allure import plugin_manager
    except ImportError:
        return False
    return bool(plugin_manager.list_name_plugin())


def _property(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", " ").replace("=", "\\=").replace(":", "\\:")
