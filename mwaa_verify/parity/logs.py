"""Task logs of one DAG on two sides, judged by what a user would see: for each source log, the target's own
Airflow log reader (task_log_probe.py, run in the target's interpreter against its metadata) must show the same
lines for that task instance and try.

Findings, each distinct: missing (nothing stored where the target's Airflow looks), truncated (the reader shows a
first part of the lines), differing, shifted in time (stored at other times than the source logged them: a
stream's events, a file's modification time; or stored whole but outside the task instance's window, so the
reader hides it), unreadable (the reader fails, or the target's metadata has no such task instance), and not
copyable (CloudWatch takes no event older than 14 days or the group's retention: reported, with the archive that
holds it, not failed). Where no reader can run (an MWAA target), the stored streams are compared directly, and a
warning says so.

Lines are compared as the reader shows them: a 3.x JSON line by its event text, blank lines dropped, a line
repeated right after itself once (Airflow 2's reader collapses such repeats), in the log's order or in the order
of the times the lines start with (Airflow's file readers sort by them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mwaa_verify.airflow.log_paths import line_timestamp, moment, times_differ
from mwaa_verify.environments.base import TaskLog


@dataclass
class LogComparison:
    compared: int = 0
    missing: list[str] = field(default_factory=list)
    truncated: list[tuple[str, int, int]] = field(default_factory=list)  # name, source lines, target lines
    differing: list[str] = field(default_factory=list)
    shifted: list[tuple[str, str]] = field(default_factory=list)  # name, what moved
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # name, why
    not_copyable: list[tuple[str, str]] = field(default_factory=list)  # name, why and where it was archived
    extra: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.missing or self.truncated or self.differing or self.shifted or self.unreadable)

    def explain(self, dag_id: str, limit: int = 20) -> str:
        lines = [
            f"{dag_id}: {self.compared} source log(s): {len(self.missing)} log(s) missing on the target, "
            f"{len(self.truncated)} truncated, {len(self.differing)} log differs, {len(self.shifted)} shifted in "
            f"time, {len(self.unreadable)} unreadable, {len(self.not_copyable)} not copyable at their time, "
            f"{len(self.extra)} only on the target"
        ]
        lines += [f"  missing: {name}" for name in self.missing[:limit]]
        lines += [
            f"  truncated: {name} ({ours} lines, {theirs} on the target)"
            for name, ours, theirs in self.truncated[:limit]
        ]
        lines += [f"  differs: {name}" for name in self.differing[:limit]]
        lines += [f"  shifted in time: {name}: {why}" for name, why in self.shifted[:limit]]
        lines += [f"  unreadable: {name}: {why}" for name, why in self.unreadable[:limit]]
        lines += [f"  not copyable: {name}: {why}" for name, why in self.not_copyable[:limit]]
        lines += [f"  only on the target: {name}" for name in self.extra[:limit]]
        return "\n".join(lines)

    def rows(self) -> list[tuple[str, str]]:
        """(log, problem) for a table in the report."""
        return (
            [(name, "missing") for name in self.missing]
            + [(name, f"truncated: {a} -> {b} lines") for name, a, b in self.truncated]
            + [(name, "content differs") for name in self.differing]
            + [(name, f"shifted in time: {why}") for name, why in self.shifted]
            + [(name, f"unreadable: {why}") for name, why in self.unreadable]
            + [(name, f"not copyable: {why}") for name, why in self.not_copyable]
        )


@dataclass(frozen=True)
class SourceLog:
    """A source log to look for: its listing and its content (None where the source kept its digest only)."""

    log: TaskLog
    content: bytes | None


@dataclass(frozen=True)
class TargetSide:
    """What the target holds and shows: its stored logs by attempt, their content, the reader's answers by
    attempt (None where no reader can run), CloudWatch's acceptance window if its logs live there, and where
    logs that could not be copied were archived."""

    stored: Mapping[tuple, TaskLog]
    read_stored: Callable[[TaskLog], bytes]
    views: Mapping[tuple, Mapping[str, Any]] | None
    acceptance_window: tuple[int, int, str] | None = None
    archived: Callable[[TaskLog], str | None] = lambda log: None


def visible_lines(lines: Iterable[str]) -> list[str]:
    shown: list[str] = []
    for raw in lines:
        line = raw.rstrip()
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and "event" in parsed:
                line = str(parsed["event"]).rstrip()
        if line and (not shown or shown[-1] != line):
            shown.append(line)
    return shown


def compare_logs(
    source: Mapping[tuple, SourceLog],
    target: TargetSide,
    key_of: Callable[[TaskLog], tuple],
    extra: Sequence[str] = (),
) -> LogComparison:
    """`source` by attempt key (log_paths.log_key); `extra` names logs only the target holds."""
    result = LogComparison(compared=len(source), extra=sorted(extra))
    if target.views is None and source:
        result.warnings.append(
            "the target's own log reader cannot run from here (an MWAA environment): its stored task logs were "
            "compared line by line and by time instead"
        )
    for key, item in sorted(source.items(), key=lambda pair: pair[1].log.name):
        _judge(key, item, target, result)
    return result


def _judge_by_digest(
    name: str, log: TaskLog, stored: TaskLog, view: dict[str, Any] | None, target: TargetSide, result: LogComparison
) -> None:
    """The same verdicts from the source's digest and line count alone: equal bytes, fewer lines, other bytes."""
    if stored.sha256 != log.sha256:
        if stored.lines < log.lines:
            result.truncated.append((name, log.lines, stored.lines))
        else:
            result.differing.append(name)
        return
    kept = visible_lines(target.read_stored(stored).decode("utf-8", errors="replace").splitlines())
    if view is not None and len(visible_lines(view.get("lines", []))) < len(kept):
        result.shifted.append(
            (name, "stored whole (the source's digest), but the target's reader does not show all of it for the "
             "task instance's window")
        )  # fmt: skip
    elif (moved := times_differ(log, stored)) is not None:
        result.shifted.append((name, moved))


def _judge(key: tuple, item: SourceLog, target: TargetSide, result: LogComparison) -> None:
    name = item.log.name
    stored = target.stored.get(key)
    if stored is None:
        refusal = _not_acceptable(item.log, target.acceptance_window)
        if refusal is not None:
            where = target.archived(item.log)
            result.not_copyable.append(
                (name, refusal + (f"; archived at {where}" if where else "; not archived (copy-logs --archive)"))
            )
        else:
            result.missing.append(name)
        return
    view = target.views.get(key) if target.views is not None else None
    if target.views is not None and (view is None or "error" in view):
        why = view.get("error") if view else "the reader gave no answer"
        result.unreadable.append((name, f"{why} (through the target's {_handler(view)})"))
        return
    if item.content is None:
        _judge_by_digest(name, item.log, stored, view, target, result)
        return
    source_lines = item.content.decode("utf-8", errors="replace").splitlines()
    # Airflow's readers sort a log's lines by the time in each; a CloudWatch copy keeps the file's order
    orders = [visible_lines(source_lines), visible_lines(in_time_order(source_lines))]
    expected = orders[0]
    kept = visible_lines(target.read_stored(stored).decode("utf-8", errors="replace").splitlines())
    shown = visible_lines(view.get("lines", [])) if view is not None else kept
    if shown in orders:
        moved = times_differ(item.log, stored)
        if moved is not None:  # the reader shows it, but at other times than the source logged it
            result.shifted.append((name, moved))
    elif kept in orders:  # stored whole, yet the reader does not show it all: outside the task's window
        moved = times_differ(item.log, stored)
        result.shifted.append(
            (
                name,
                f"stored whole, but the target's reader shows {len(shown)} of {len(expected)} line(s) for the task "
                f"instance's window ({view.get('start_date') if view else '?'} to "
                f"{view.get('end_date') if view else '?'})" + (f": {moved}" if moved else ""),
            )
        )
    elif len(shown) < len(expected) and any(shown == order[: len(shown)] for order in orders):
        result.truncated.append((name, len(expected), len(shown)))
    else:
        result.differing.append(name)


def in_time_order(lines: Sequence[str]) -> list[str]:
    """Lines as Airflow's readers order them: by the time each starts with (a line without one goes with the
    line before it, lines before the first time first), ties in their order."""
    keyed, current = [], -1
    for index, line in enumerate(lines):
        stamp = line_timestamp(line)
        current = stamp if stamp is not None else current
        keyed.append((current, index, line))
    return [line for _, _, line in sorted(keyed)]


def _not_acceptable(log: TaskLog, window: tuple[int, int, str] | None) -> str | None:
    if window is None or log.first_timestamp is None:
        return None
    oldest, _, why = window
    if log.first_timestamp < oldest:
        return f"logged from {moment(log.first_timestamp)}, before {moment(oldest)}: {why}"
    return None


def _handler(view: Mapping[str, Any] | None) -> str:
    return (view or {}).get("handler") or "log handler"
