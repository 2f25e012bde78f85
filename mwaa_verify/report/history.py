"""Drift between runs: each run's outcome appended to `reports/history/runs.jsonl`, and this run compared with
the previous one of the same source and target (new failures, fixed, new warnings, row counts that moved).

One JSON line per run keeps the history small enough to carry between nightly jobs (an artifact or an S3
prefix); Allure's own history (trends, flaky) lives next to it (report/allure_html.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mwaa_verify.report.summary import Drift, RowCounts, RowsMoved, Summary

HISTORY_DIR = "history"
RUNS_FILE = "runs.jsonl"


def history_dir(reports: Path) -> Path:
    return reports / HISTORY_DIR


def record(summary: Summary) -> dict[str, Any]:
    """What a later run needs to know about this one."""
    return {
        "run_id": summary.run.run_id,
        "started": summary.run.started,
        "command": summary.run.command,
        "pair": _pair(summary.environments),
        "verdict": summary.verdict(),
        "checks": {result.key: result.status for result in summary.results},
        "warnings": sorted({f"{result.key}: {warning}" for result, warning in summary.warnings}),
        "rows": {table: [c.source, c.target, c.matched] for table, c, _status in summary.row_counts()},
    }


def _pair(environments: dict[str, dict[str, str]]) -> str:
    return " -> ".join(environments.get(role, {}).get("name", "?") for role in ("source", "target"))


def previous_record(reports: Path, summary: Summary) -> dict[str, Any] | None:
    """The last run of the same source and target in this history before this one (also when this one is in it
    already, summarised again)."""
    path = history_dir(reports) / RUNS_FILE
    if not path.is_file():
        return None
    pair, found = _pair(summary.environments), None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a killed run: the others still count
        if entry.get("run_id") == summary.run.run_id:
            break  # a run summarised again (`mwaa-verify report`): the run before it
        if entry.get("pair") == pair:
            found = entry
    return found


def append(reports: Path, summary: Summary) -> None:
    directory = history_dir(reports)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / RUNS_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record(summary), sort_keys=True) + "\n")


def drift(previous: dict[str, Any] | None, summary: Summary) -> Drift:
    if previous is None:
        return Drift(previous_run_id=None)
    failing = {"failed", "broken"}
    now = record(summary)
    before_checks, now_checks = previous.get("checks", {}), now["checks"]
    before_rows, now_rows = previous.get("rows", {}), now["rows"]
    moved = tuple(
        RowsMoved(table, RowCounts(*before_rows[table]), RowCounts(*counts))
        for table, counts in sorted(now_rows.items())
        if table in before_rows and list(before_rows[table]) != list(counts)
    )
    return Drift(
        previous_run_id=previous.get("run_id"),
        previous_started=previous.get("started", ""),
        new_failures=tuple(k for k, s in now_checks.items() if s in failing and before_checks.get(k) not in failing),
        fixed=tuple(k for k, s in now_checks.items() if s == "passed" and before_checks.get(k) in failing),
        still_failing=tuple(k for k, s in now_checks.items() if s in failing and before_checks.get(k) in failing),
        new_warnings=tuple(w for w in now["warnings"] if w not in set(previous.get("warnings", ()))),
        gone_warnings=tuple(w for w in previous.get("warnings", ()) if w not in set(now["warnings"])),
        rows_moved=moved,
        new_checks=tuple(k for k in now_checks if before_checks and k not in before_checks),
        gone_checks=tuple(k for k in before_checks if k not in now_checks),
    )
