"""Task logs as this Airflow shows them: for each requested attempt, the name its configured task handler looks
under, the task instance's time window in its metadata, and (with --read) the lines its own log reader returns,
the way the UI asks for them (FileTaskHandler on local logs, the Amazon provider's CloudwatchTaskHandler /
CloudWatchRemoteLogIO with remote logging to CloudWatch, whatever `[logging]` configures).

Runs inside the environment's interpreter; standard library and Airflow only.
Usage: python task_log_probe.py --requests FILE.json [--read] --out FILE.json
A request: {"dag_id", "run_id", "task_id", "map_index", "try_number"}; a run id may be spelled with `_` for `:`
(as CloudWatch stream names spell it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys

_HEADER_2X = " INFO - ::group::Log message source details"
_END_2X = " INFO - ::endgroup::"
_SHOWN_TIME = re.compile(r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\] ")  # what the 2.x CloudWatch reader prefixes


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", required=True)
    parser.add_argument("--read", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.requests, encoding="utf-8") as handle:
        requests = json.load(handle)

    import airflow
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session

    airflow3 = int(airflow.__version__.split(".")[0]) >= 3
    reader = TaskLogReader()
    handler = reader.log_handler
    shown_by = type(handler).__name__
    if airflow3:  # remote logs are read through the configured RemoteLogIO (the Amazon provider's for CloudWatch)
        try:
            from airflow.logging_config import get_remote_task_log

            remote = get_remote_task_log()
        except Exception:  # an Airflow without remote log IO reads local files only
            remote = None
        shown_by += f" + {type(remote).__name__}" if remote is not None else ""
    answers = []
    with create_session() as session:
        for request in requests:
            answer = {"request": request, "handler": shown_by}
            try:
                attempt = _attempt(session, request, airflow3)
                if attempt is None:
                    answer["error"] = "no such task instance in the metadata database"
                else:
                    answer["name"] = handler._render_filename(attempt, request["try_number"])
                    answer["start_date"] = _iso(attempt.start_date)
                    answer["end_date"] = _iso(attempt.end_date)
                    if args.read:
                        answer["lines"] = _read(reader, handler, attempt, request["try_number"], airflow3)
            except Exception as exc:  # reported per attempt: the reader failed on this one
                answer["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            answers.append(answer)
            session.rollback()  # read only; nothing the reader loaded is kept
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump({"airflow_version": airflow.__version__, "answers": answers}, handle)
    return 0


def _attempt(session, request, airflow3):
    """The task instance, or on 3.x its history row for an earlier try (the UI reads those with their dates)."""
    from airflow.models.taskinstance import TaskInstance

    candidates = (
        session.query(TaskInstance)
        .filter(
            TaskInstance.dag_id == request["dag_id"],
            TaskInstance.task_id == request["task_id"],
            TaskInstance.map_index == request["map_index"],
        )
        .all()
    )
    wanted = request["run_id"].replace(":", "_")
    found = [ti for ti in candidates if ti.run_id == request["run_id"]] or [
        ti for ti in candidates if ti.run_id.replace(":", "_") == wanted
    ]
    if not found:
        return None
    ti = found[0]
    if request["try_number"] == ti.try_number or not airflow3:  # 2.x's UI reads every try through the TI
        return ti
    from airflow.models.taskinstancehistory import TaskInstanceHistory

    history = (
        session.query(TaskInstanceHistory)
        .filter(
            TaskInstanceHistory.dag_id == ti.dag_id,
            TaskInstanceHistory.run_id == ti.run_id,
            TaskInstanceHistory.task_id == ti.task_id,
            TaskInstanceHistory.map_index == ti.map_index,
            TaskInstanceHistory.try_number == request["try_number"],
        )
        .one_or_none()
    )
    return history if history is not None else ti


def _read(reader, handler, attempt, try_number, airflow3):
    """The lines the reader shows for this attempt, without the reader's own header about where it looked."""
    if airflow3:
        stream, _ = reader.read_log_chunks(attempt, try_number, {})
        lines, in_header = [], False
        for message in stream:
            event = str(message.event)
            if event == "::group::Log message source details" and not lines:
                in_header = True
            elif in_header:
                in_header = event != "::endgroup::"
            else:
                lines.append(event)
        return lines
    logs, _ = handler.read(attempt, try_number, metadata={})
    lines = "\n".join(chunk for _, chunk in (logs[0] if logs else [])).splitlines()
    if lines and lines[0] == _HEADER_2X:  # 2.x's header: where it looked, as "*** " lines, in a group
        end = lines.index(_END_2X) if _END_2X in lines else 0
        lines = lines[end + 1 :]
    remote = type(handler).__name__ == "CloudwatchTaskHandler"
    return [_SHOWN_TIME.sub("", line) if remote else line for line in lines if not line.startswith("*** ")]


def _iso(moment):
    return moment.isoformat() if moment is not None else None


if __name__ == "__main__":
    sys.exit(main())
