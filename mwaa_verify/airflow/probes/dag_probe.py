"""Parse a DAG folder the way the environment's own dag-processor does, and print what it found as JSON.

Runs inside the environment's interpreter (not mwaa-verify's), so it may import only the standard library
and Airflow. Airflow is imported once; each file is then parsed in a forked child, as the dag-processor
does. On Airflow 3 the child first applies Airflow's own ORM block, so a DAG file that reads the metadata
database at the top level fails here exactly as it fails in production.

Usage: python dag_probe.py --dags-folder DIR --out FILE.json
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import os
import platform
import select
import signal
import sys
import time
import traceback

# Extra seconds the parent grants a child beyond Airflow's own dagbag_import_timeout before killing it.
KILL_GRACE_SECONDS = 30


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dags-folder", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

    import airflow
    from airflow.configuration import conf
    from airflow.utils.file import find_dag_file_paths

    airflow_version = airflow.__version__
    airflow3 = int(airflow_version.split(".")[0]) >= 3
    dags_folder = os.path.realpath(args.dags_folder)
    safe_mode = conf.getboolean("core", "dag_discovery_safe_mode", fallback=True)
    import_timeout = conf.getfloat("core", "dagbag_import_timeout", fallback=30.0)
    _preload_parsing_modules(airflow3)

    files = []
    dags: dict[str, dict] = {}
    for path in sorted(find_dag_file_paths(dags_folder, safe_mode)):
        result = _parse_in_child(path, dags_folder, airflow3, import_timeout)
        files.append(result["file"])
        for shape in result["dags"]:
            dags[shape["dag_id"]] = shape

    report = {
        "airflow_version": airflow_version,
        "python_version": platform.python_version(),
        "dags_folder": dags_folder,
        "dagbag_import_timeout": import_timeout,
        "files": files,
        "dags": dags,
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1, sort_keys=True)
    return 0


def _preload_parsing_modules(airflow3: bool) -> None:
    """Import what every child needs once, in the parent, as the dag-processor's manager does."""
    from airflow.models import DagBag  # noqa: F401  (the lazy import map points at the right module)

    if airflow3:
        from airflow.sdk.execution_time.supervisor import block_orm_access  # noqa: F401


def _parse_in_child(path: str, dags_folder: str, airflow3: bool, import_timeout: float) -> dict:
    relative = os.path.relpath(path, dags_folder)
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        code = 0
        try:
            payload = _parse_file(path, relative, dags_folder, airflow3)
        except BaseException:
            payload = _failed_file(relative, "parser crashed:\n" + traceback.format_exc(), 0.0)
            code = 1
        with os.fdopen(write_fd, "w", encoding="utf-8") as pipe:
            json.dump(payload, pipe)
        os._exit(code)
    os.close(write_fd)
    # The child writes its whole result at once, just before it exits: wait for that, or for the deadline.
    with os.fdopen(read_fd, "r", encoding="utf-8") as pipe:
        ready, _, _ = select.select([pipe], [], [], import_timeout + KILL_GRACE_SECONDS)
        if ready:
            text = pipe.read()
        else:
            os.kill(pid, signal.SIGKILL)
            text = ""
    _, status = os.waitpid(pid, 0)
    elapsed = time.monotonic() - started
    if text:
        return json.loads(text)
    if os.WIFSIGNALED(status):
        reason = f"the parsing process was killed by signal {os.WTERMSIG(status)} after {elapsed:.1f} s"
    else:
        reason = f"the parsing process exited with code {os.WEXITSTATUS(status)} without a result"
    return _failed_file(relative, reason, elapsed)


def _failed_file(relative: str, error: str, seconds: float) -> dict:
    return {
        "file": {
            "path": relative,
            "dag_ids": [],
            "import_error": error,
            "warnings": [],
            "parse_seconds": seconds,
        },
        "dags": [],
    }


def _parse_file(path: str, relative: str, dags_folder: str, airflow3: bool) -> dict:
    if airflow3:
        from airflow.sdk.execution_time.supervisor import block_orm_access

        block_orm_access()
    started = time.monotonic()
    bag = _dagbag(path, dags_folder, airflow3)
    errors = dict(bag.import_errors)
    shapes = []
    for dag_id in sorted(bag.dags):
        dag = bag.dags[dag_id]
        try:
            _serialize(dag, airflow3)
        except Exception:
            errors[relative] = traceback.format_exc()
            continue
        shapes.append(_shape(dag, dags_folder))
    elapsed = time.monotonic() - started
    warnings = []
    for captured in bag.captured_warnings.values():
        warnings.extend(captured)
    error_text = "\n".join(errors.values()) if errors else None
    return {
        "file": {
            "path": relative,
            "dag_ids": [shape["dag_id"] for shape in shapes],
            "import_error": error_text,
            "warnings": warnings,
            "parse_seconds": round(elapsed, 4),
        },
        "dags": shapes,
    }


def _dagbag(path: str, dags_folder: str, airflow3: bool):
    from airflow.models import DagBag

    if airflow3:
        try:
            from airflow.dag_processing.dagbag import BundleDagBag
        except ImportError:  # 3.0: the DagBag itself takes the bundle arguments
            BundleDagBag = DagBag
        return BundleDagBag(
            dag_folder=path, bundle_path=_pathlib(dags_folder), bundle_name="dags-folder", load_op_links=False
        )
    kwargs = {}
    if "include_examples" in inspect.signature(DagBag.__init__).parameters:
        kwargs["include_examples"] = False
    return DagBag(dag_folder=path, load_op_links=False, **kwargs)


def _pathlib(text: str):
    from pathlib import Path

    return Path(text)


def _serialize(dag, airflow3: bool) -> None:
    """Serialisation failures are import errors to the dag-processor, so they are to us."""
    if airflow3:
        from airflow.serialization.serialized_objects import DagSerialization

        DagSerialization.to_dict(dag)
    else:
        from airflow.serialization.serialized_objects import SerializedDAG

        SerializedDAG.to_dict(dag)


def _shape(dag, dags_folder: str) -> dict:
    tasks = sorted(dag.tasks, key=lambda task: task.task_id)
    return {
        "dag_id": dag.dag_id,
        "fileloc": os.path.relpath(dag.fileloc, dags_folder),
        "task_ids": [task.task_id for task in tasks],
        "edges": sorted([task.task_id, downstream] for task in tasks for downstream in task.downstream_task_ids),
        "operators": {task.task_id: _operator_name(task) for task in tasks},
        "retries": {task.task_id: task.retries for task in tasks},
        "schedule": _schedule(dag),
        "tags": sorted(str(tag) for tag in (dag.tags or [])),
        "catchup": bool(dag.catchup),
        "max_active_runs": dag.max_active_runs,
        "description": dag.description,
    }


def _operator_name(task) -> str:
    cls = type(task)
    # MappedOperator, _MappedOperator, DecoratedMappedOperator: name the operator each mapped task runs
    if cls.__name__.endswith("MappedOperator"):
        partial = getattr(task, "operator_class", None)
        if isinstance(partial, type):
            return f"{partial.__module__}.{partial.__qualname__}"
        if isinstance(partial, dict):
            return f"{partial.get('_task_module')}.{partial.get('task_type')}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _schedule(dag) -> dict:
    """A version-neutral description of when a DAG runs."""
    timetable = dag.timetable
    name = type(timetable).__name__
    schedule = {
        "timetable": f"{type(timetable).__module__}.{type(timetable).__qualname__}",
        "summary": str(getattr(timetable, "summary", "")),
        "kind": "custom",
        "expression": None,
        "timezone": None,
        "data_interval": None,
    }
    if name in {"NullTimetable"}:
        schedule["kind"] = "none"
    elif name == "OnceTimetable":
        schedule["kind"] = "once"
    elif name == "ContinuousTimetable":
        schedule["kind"] = "continuous"
    elif name in {
        "DatasetTriggeredTimetable",
        "AssetTriggeredTimetable",
        "DatasetOrTimeSchedule",
        "AssetOrTimeSchedule",
    }:
        schedule["kind"] = "asset"
    elif _first_attribute(timetable, "_expression", "expression") is not None:
        # 2.x core timetables keep _expression/_timezone; 3.x SDK timetables expose expression/timezone
        schedule["kind"] = "cron"
        schedule["expression"] = _first_attribute(timetable, "_expression", "expression")
        schedule["timezone"] = str(_first_attribute(timetable, "_timezone", "timezone") or "") or None
        schedule["data_interval"] = "DataInterval" in name
    elif _first_attribute(timetable, "_delta", "delta") is not None:
        schedule["kind"] = "delta"
        delta = _first_attribute(timetable, "_delta", "delta")
        schedule["expression"] = delta.total_seconds() if isinstance(delta, datetime.timedelta) else repr(delta)
        schedule["data_interval"] = "DataInterval" in name
    return schedule


def _first_attribute(obj, *names):
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


if __name__ == "__main__":
    sys.exit(main())
