"""The log comparison's findings, each distinct: what the target's reader shows against what the source logged.
(The readers themselves run in real Airflow in test_log_copy_fidelity.py and test_migration.py.)"""

from __future__ import annotations

from dataclasses import replace

from mwaa_verify.airflow.log_paths import content_digest, log_key
from mwaa_verify.environments.base import TaskLog
from mwaa_verify.parity.logs import SourceLog, TargetSide, compare_logs, visible_lines

T0 = 1_790_000_000_000  # ms
LINES = [f"[2026-09-21T14:13:2{i}.000+0000] {{x.py:1}} INFO - step {i}" for i in range(4)]
CONTENT = "".join(line + "\n" for line in LINES).encode()


def source_log(name: str, run_id: str = "r1") -> TaskLog:
    digest = content_digest(CONTENT)
    return TaskLog("etl", run_id, "load", -1, 1, name, digest.size, digest.hexdigest(), digest.lines,
                   T0, T0 + 3000, (T0 + 3000) / 1000)  # fmt: skip


def stream(log: TaskLog, first: int = T0, last: int = T0 + 3000) -> TaskLog:
    return replace(log, first_timestamp=first, last_timestamp=last, modified=None)


def judge(stored: dict, views: dict | None, window=None, archived=lambda log: None, contents=None):
    logs = {
        name: source_log(name, run_id=name)
        for name in ("missing", "ok", "cut", "other", "late", "moved", "broken", "old")
    }
    source = {log_key(log): SourceLog(log, CONTENT) for log in logs.values()}
    target = TargetSide(
        stored={log_key(logs[name]): log for name, log in stored.items()},
        read_stored=lambda log: (contents or {}).get(log.name, CONTENT),
        views=None if views is None else {log_key(logs[name]): view for name, view in views.items()},
        acceptance_window=window,
        archived=archived,
    )
    return compare_logs(source, target, log_key)


def test_each_way_a_copy_can_fail_is_its_own_finding() -> None:
    names = ("ok", "cut", "other", "late", "moved", "broken", "old")
    stored = {name: stream(source_log(name, run_id=name)) for name in names}
    stored["moved"] = stream(source_log("moved", run_id="moved"), T0 + 86_400_000, T0 + 86_403_000)
    views = {
        "ok": {"lines": LINES, "handler": "FileTaskHandler"},
        "old": {"lines": LINES},
        "cut": {"lines": LINES[:1]},
        "other": {"lines": [*LINES[:3], "something else"]},
        "late": {"lines": [], "start_date": "2026-09-21T14:13:00+00:00", "end_date": "2026-09-21T14:13:01+00:00"},
        "moved": {"lines": LINES},
        "broken": {"error": "ClientError: AccessDenied", "handler": "FileTaskHandler + CloudWatchRemoteLogIO"},
    }
    window = (T0 - 1000, T0 + 10**9, "CloudWatch accepts no event older than 14 days")

    contents = {"cut": (LINES[0] + "\n").encode(), "other": "\n".join([*LINES[:3], "something else"]).encode()}

    found = judge(stored, views, window, contents=contents)

    assert found.missing == ["missing"] and found.truncated == [("cut", 4, 1)] and found.differing == ["other"]
    assert [name for name, _ in found.shifted] == ["late", "moved"]
    assert found.shifted[0][1] == (
        "stored whole, but the target's reader shows 0 of 4 line(s) for the task instance's window "
        "(2026-09-21T14:13:00+00:00 to 2026-09-21T14:13:01+00:00)"
    )
    assert found.shifted[1][1].startswith("events stamped 2026-09-22T")
    assert found.unreadable == [("broken", "ClientError: AccessDenied (through the target's FileTaskHandler + "
                                 "CloudWatchRemoteLogIO)")]  # fmt: skip
    assert found.not_copyable == [] and not found.complete


def test_a_log_too_old_for_cloudwatch_is_reported_with_its_archive_not_failed() -> None:
    everything = ("ok", "cut", "other", "late", "moved", "broken", "missing")
    stored = {name: stream(source_log(name, run_id=name)) for name in everything}
    views = {name: {"lines": LINES} for name in everything}
    window = (T0 + 1, T0 + 10**9, "CloudWatch accepts no event older than 14 days")

    found = judge(stored, views, window, archived=lambda log: f"s3://archive/{log.name}")

    assert found.complete
    assert found.not_copyable == [
        ("old", "logged from 2026-09-21T14:13:20+00:00, before 2026-09-21T14:13:20+00:00: CloudWatch accepts no "
                "event older than 14 days; archived at s3://archive/old")]  # fmt: skip


def test_a_file_copy_must_keep_its_modification_time() -> None:
    log = source_log("ok", run_id="ok")
    touched = replace(log, modified=log.modified + 60)
    stored = {
        name: source_log(name, run_id=name) for name in ("cut", "other", "late", "moved", "broken", "missing", "old")
    }
    stored["ok"] = touched
    views = {name: {"lines": LINES} for name in stored}

    found = judge(stored, views)

    assert found.shifted == [("ok", "the file was last modified at 2026-09-21T14:14:23+00:00, the source's at "
                                    "2026-09-21T14:13:23+00:00")]  # fmt: skip


def test_an_mwaa_target_is_compared_by_its_streams_and_says_so() -> None:
    stored = {
        name: stream(source_log(name, run_id=name))
        for name in ("ok", "cut", "other", "late", "moved", "broken", "missing", "old")
    }

    found = judge(stored, None)

    assert found.complete
    assert found.warnings == [
        "the target's own log reader cannot run from here (an MWAA environment): its stored task logs were "
        "compared line by line and by time instead"
    ]


def test_lines_in_airflows_reading_order_are_the_same_log() -> None:
    """A task's runner and its task process write to one file; their times interleave, and the reader sorts."""
    lines = [LINES[0], LINES[2], LINES[1], "traceback of step 1", LINES[3]]
    content = "".join(line + "\n" for line in lines).encode()
    log = source_log("ok", run_id="ok")
    shown = [LINES[0], LINES[1], "traceback of step 1", LINES[2], LINES[3]]
    target = TargetSide({log_key(log): stream(log)}, lambda log: content, {log_key(log): {"lines": shown}})

    found = compare_logs({log_key(log): SourceLog(log, content)}, target, log_key)

    assert found.complete, found.explain("etl")


def test_lines_compare_as_the_reader_shows_them() -> None:
    assert visible_lines(['{"timestamp": "x", "event": "airflow 3 line  "}', "", "  ", "same", "same", "x  "]) == [
        "airflow 3 line", "same", "x"]  # fmt: skip


def test_a_source_that_kept_digests_only_is_judged_by_digest_and_line_count() -> None:
    """A snapshot taken without --include-logs: equal digests pass, fewer lines are truncated, other bytes differ,
    and a whole log the target's reader hides is shifted, as with content."""
    logs = {name: source_log(name, run_id=name) for name in ("ok", "cut", "other", "hidden")}
    cut_content = (LINES[0] + "\n").encode()
    cut, other = content_digest(cut_content), content_digest(CONTENT + b"tampered\n")
    stored = {
        "ok": logs["ok"],
        "cut": replace(logs["cut"], sha256=cut.hexdigest(), lines=cut.lines, size=cut.size),
        "other": replace(logs["other"], sha256=other.hexdigest(), lines=other.lines, size=other.size),
        "hidden": logs["hidden"],
    }
    target = TargetSide(
        stored={log_key(logs[name]): log for name, log in stored.items()},
        read_stored=lambda log: CONTENT,
        views={log_key(logs[name]): {"lines": [] if name == "hidden" else LINES} for name in logs},
        acceptance_window=None,
        archived=lambda log: None,
    )

    found = compare_logs({log_key(log): SourceLog(log, None) for log in logs.values()}, target, log_key)

    assert found.truncated == [("cut", 4, 1)]
    assert found.differing == ["other"]
    assert [name for name, _ in found.shifted] == ["hidden"]
    assert not found.missing and not found.unreadable
