"""Task log file names written by Airflow 2.3+ and 3.x, and what the tool reads from them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mwaa_verify.airflow.log_paths import TaskLogKey, parse_log_path, task_log_files


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        (
            "dag_id=etl/run_id=scheduled__2024-03-01T00:00:00+00:00/task_id=load/attempt=2.log",
            TaskLogKey("etl", "scheduled__2024-03-01T00:00:00+00:00", "load", -1, 2),
        ),
        (
            "dag_id=etl/run_id=manual__1/task_id=process/map_index=7/attempt=1.log",
            TaskLogKey("etl", "manual__1", "process", 7, 1),
        ),
        ("dag_id=etl/run_id=r/task_id=t/attempt=one.log", None),
        ("dag_id=etl/run_id=r/attempt=1.log", None),
        ("scheduler/latest/etl.py.log", None),
        ("dag_processor_manager/dag_processor_manager.log", None),
    ],
)
def test_parse_log_path(relative: str, expected: TaskLogKey | None) -> None:
    assert parse_log_path(relative) == expected


def test_task_log_files_lists_task_logs_with_size_lines_and_hash(tmp_path: Path) -> None:
    content = b"line one\nline two\n"
    log = tmp_path / "dag_id=etl" / "run_id=r1" / "task_id=load" / "attempt=1.log"
    log.parent.mkdir(parents=True)
    log.write_bytes(content)
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "etl.py.log").write_text("not a task log")

    logs = list(task_log_files(tmp_path))

    assert [(t.dag_id, t.run_id, t.task_id, t.map_index, t.try_number) for t in logs] == [("etl", "r1", "load", -1, 1)]
    assert logs[0].name == "dag_id=etl/run_id=r1/task_id=load/attempt=1.log"
    assert (logs[0].size, logs[0].lines, logs[0].sha256) == (
        len(content),
        2,
        hashlib.sha256(content).hexdigest(),
    )


def test_missing_log_folder_has_no_logs(tmp_path: Path) -> None:
    assert list(task_log_files(tmp_path / "absent")) == []
