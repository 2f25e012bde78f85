"""What the suites add to an Allure run: labels per suite, diff attachments, the environments, categories.

Everything here is a no-op when pytest runs without --alluredir, so suites call it unconditionally.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

EPIC = "Migration verification"
# suite module -> (feature, severity, the test parameters worth a label)
SUITES: dict[str, tuple[str, str]] = {
    "test_dag_import": ("DAG import", "blocker"),
    "test_metadata_parity": ("Metadata parity", "critical"),
    "test_log_copy": ("Task logs", "normal"),
    "test_environment_config": ("Environment configuration", "normal"),
    "test_iam_policy": ("IAM permissions", "critical"),
}
# Failure classes shown by Allure (categories.json) and used by the sign-off summary.
CATEGORIES: list[dict[str, Any]] = [  # the first match wins: the most specific first
    {"name": "Log missing", "messageRegex": r"(?s).*(log\(s\) missing|truncated|log differs).*",
     "matchedStatuses": ["failed"]},
    {"name": "Import error",
     "messageRegex": r"(?s).*(does not import on Airflow|is not on the target|break on Airflow 3).*",
     "matchedStatuses": ["failed"]},
    {"name": "Missing rows",
     "messageRegex": r"(?s).*([1-9][0-9]* missing on the target|not in the target's dag table).*",
     "matchedStatuses": ["failed"]},
    {"name": "Value drift",
     "messageRegex": r"(?s).*([1-9][0-9]* changed|[1-9][0-9]* only on the target|changed on the target).*",
     "matchedStatuses": ["failed"]},
    {"name": "Permission missing", "messageRegex": r"(?s).*(not allowed|denied|missing( [0-9]+)? permission).*",
     "matchedStatuses": ["failed"]},
    {"name": "Configuration drift", "messageRegex": r"(?s).*configuration differs.*", "matchedStatuses": ["failed"]},
    {"name": "Environment unavailable", "messageRegex": r"(?s).*cannot (open|parse|read).*",
     "matchedStatuses": ["failed", "broken"]},
]  # fmt: skip


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
        allure.dynamic.parameter(name, str(value))
        allure.dynamic.label(name, str(value))


def attach_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A diff as an HTML table and as CSV, when Allure is recording; values must already be redacted."""
    try:
        import allure
        from allure_commons._allure import plugin_manager
    except ImportError:
        return
    if not plugin_manager.list_name_plugin():
        return
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
    (results_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")


def _property(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", " ").replace("=", "\\=").replace(":", "\\:")
