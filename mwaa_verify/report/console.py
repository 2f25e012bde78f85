"""Plain-text renderings for the terminal: DAG reports side by side, row counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mwaa_verify.environments.base import DagReport


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(value) for value in row] for row in rows]
    widths = [
        max(len(header), *(len(row[i]) for row in cells)) if cells else len(header) for i, header in enumerate(headers)
    ]
    line = "  ".join(header.ljust(width) for header, width in zip(headers, widths, strict=True))
    rule = "  ".join("-" * width for width in widths)
    body = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, rule, *body])


def dag_report_text(title: str, report: DagReport) -> str:
    rows = []
    for item in report.files:
        status = f"IMPORT ERROR: {item.error_summary}" if item.import_error else "ok"
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
                row.append(f"FAILS: {item.error_summary}" if item.import_error else f"ok ({', '.join(item.dag_ids)})")
        rows.append(row)
    headers = ["file", *(f"{name} (Airflow {reports[name].airflow_version})" for name in names)]
    return table(headers, rows)
