"""A comparison as a reader wants it in a failure message: the counts, then the first differing keys with
their field changes. Secret fields arrive already redacted (see parity/metadata.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mwaa_verify.parity.engine import Comparison, Key

_MAX_VALUE_CHARS = 200


def explain(table: str, comparison: Comparison, extras_allowed: bool = False) -> str:
    c = comparison
    lines = [
        f"{table}: source {c.source_rows} rows, target {c.target_rows} rows: {c.matched} match, "
        f"{c.missing} missing on the target, {c.changed} changed, {c.extra} only on the target"
        + (" (allowed: the target writes its own)" if extras_allowed and c.extra else "")
    ]
    if c.missing:
        lines.append(f"missing on the target (first {len(c.missing_keys)} of {c.missing}):")
        lines += [f"  {format_key(c.key_columns, key)}" for key in c.missing_keys]
    if c.changed:
        lines.append(f"changed (first {len(c.changed_rows)} of {c.changed}):")
        for row in c.changed_rows:
            lines.append(f"  {format_key(c.key_columns, row.key)}")
            for change in row.changes:
                lines.append(f"    {change.field}: {_short(change.source)} -> {_short(change.target)}")
                if change.detail:
                    lines += [f"      {line}" for line in change.detail.splitlines()]
    if c.extra and not extras_allowed:
        lines.append(f"only on the target (first {len(c.extra_keys)} of {c.extra}):")
        lines += [f"  {format_key(c.key_columns, key)}" for key in c.extra_keys]
    return "\n".join(lines)


def format_key(columns: tuple[str, ...], key: Key) -> str:
    return "(" + ", ".join(f"{column}={_short(value)}" for column, value in zip(columns, key, strict=True)) + ")"


def _short(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def difference_rows(comparison: Comparison) -> list[tuple[str, str, str, str]]:
    """The examples as table rows (key, difference, source value, target value), for attachments."""
    columns = comparison.key_columns
    rows = [(format_key(columns, key), "missing on the target", "", "") for key in comparison.missing_keys]
    for row in comparison.changed_rows:
        rows += [
            (format_key(columns, row.key), f"{change.field} changed", _short(change.source), _short(change.target))
            for change in row.changes
        ]
    rows += [(format_key(columns, key), "only on the target", "", "") for key in comparison.extra_keys]
    return rows


def counts_note(table: str, comparison: Comparison, extras_allowed: bool, since: datetime | None) -> str:
    """Why the row counts read as they do: what a reader of `log 62/63` needs to trust a passing table."""
    c = comparison
    notes = []
    if since is not None:
        notes.append(f"rows since {since.isoformat(timespec='seconds')} only (--since)")
    if extras_allowed and c.extra and not c.missing and not c.changed:
        notes.append(
            f"append-only table: the target wrote {c.extra} {table} row(s) of its own (its own jobs, imports and "
            f"runs); every source row is on the target"
        )
    return "; ".join(notes)
