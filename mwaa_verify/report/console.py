"""Plain-text renderings for the terminal: DAG reports side by side, row counts."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Mapping, Sequence

from mwaa_verify.environments.base import DagReport
from mwaa_verify.report.summary import Summary


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], last_width: int = 100) -> str:
    """Aligned columns; a last column longer than `last_width` wraps at word boundaries onto continuation lines,
    so one long error message does not widen every row."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [
        max(len(header), *(len(row[i]) for row in cells)) if cells else len(header) for i, header in enumerate(headers)
    ]
    widths[-1] = min(widths[-1], max(last_width, len(headers[-1])))
    line = "  ".join(header.ljust(width) for header, width in zip(headers, widths, strict=True)).rstrip()
    rule = "  ".join("-" * width for width in widths)
    body = []
    for row in cells:
        last = textwrap.wrap(row[-1], widths[-1], break_on_hyphens=False) or [""]
        lead = [cell.ljust(width) for cell, width in zip(row[:-1], widths[:-1], strict=True)]
        body.append("  ".join([*lead, last[0]]).rstrip())
        body += ["  ".join([*(" " * width for width in widths[:-1]), more]) for more in last[1:]]
    return "\n".join([line, rule, *body])


def relative_paths(report: DagReport, text: str) -> str:
    """`text` with the absolute paths of the report's DAG files (in a virtualenv, a cache, a workdir) shown
    relative to the DAGs folder, as the report's own paths are, and installed modules from site-packages."""
    for item in report.files:
        if item.path in text:
            text = re.sub(r"(?:/[^\s'\":()]+)+/(" + re.escape(item.path) + r")\b", r"\1", text)
    return short_paths(text)


def short_paths(text: str) -> str:
    """Paths into a virtualenv (the tool's cache holds Airflow's) from site-packages on: what the module is."""
    return re.sub(r"(?:/[^\s'\":()]+)*/site-packages/", "site-packages/", text)


def dag_report_text(title: str, report: DagReport) -> str:
    rows = []
    for item in report.files:
        status = f"IMPORT ERROR: {relative_paths(report, item.error_summary)}" if item.import_error else "ok"
        if item.tool_error:
            status = "NOT JUDGED: mwaa-verify's probe failed on this file (a tool failure, not the DAG's)"
        rows.append(
            (
                item.path,
                ", ".join(item.dag_ids) or "-",
                item.parse_time_text,
                len(item.warnings),
                status,
            )
        )
    summary = (
        f"{title}: Airflow {report.airflow_version}, Python {report.python_version}: "
        f"{len(report.files)} files, {len(report.dags)} DAGs, {len(report.import_errors)} import errors"
    )
    return f"{summary}\n{table(('file', 'dags', 'parse time', 'warnings', 'status'), rows)}"


def dag_reports_side_by_side(reports: Mapping[str, DagReport]) -> str:
    """One row per DAG file, one column per environment: where a migration breaks a file, it shows."""
    names = list(reports)
    paths = sorted({item.path for report in reports.values() for item in report.files})
    rows = []
    for path in paths:
        row: list[object] = [path]
        for name in names:
            try:
                item = reports[name].file(path)
            except KeyError:
                row.append("(absent)")
                continue
            if item.tool_error:
                row.append("NOT JUDGED (mwaa-verify's probe failed)")
            else:
                error = relative_paths(reports[name], item.error_summary or "")
                row.append(f"FAILS: {error}" if item.import_error else f"ok ({', '.join(item.dag_ids)})")
        rows.append(row)
    headers = ["file", *(f"{name} (Airflow {reports[name].airflow_version})" for name in names)]
    return table(headers, rows)


def summary_text(summary: Summary, width: int | None = None) -> str:
    """The verdict, what changed since the previous run, and one entry per failure, wrapped at word boundaries
    to the terminal's width (a word longer than a line is the only thing ever broken)."""
    width = width or min(shutil.get_terminal_size((100, 24)).columns, 120)
    lines = [summary.verdict()]
    if summary.drift is not None:
        lines.append(summary.drift.headline())
        lines += [f"  new failure: {item}" for item in summary.drift.new_failures]
        lines += [f"  fixed: {item}" for item in summary.drift.fixed]
    for result in summary.failures:
        reason = short_paths(f"{result.category}: {result.reason}" if result.category else result.reason)
        lines += textwrap.wrap(
            f"FAILED {result.key}: {reason}", width, subsequent_indent="    ", break_on_hyphens=False
        )
    if summary.unchecked_suites:
        lines.append(f"not checked at all: {', '.join(summary.unchecked_suites)}")
    if summary.warnings:
        lines.append(f"{len(summary.warnings)} warning(s): see the summary's Warnings section")
    return "\n".join(lines)
