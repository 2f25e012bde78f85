"""Parse a DAG folder the way the environment's own dag-processor does, and print what it found as JSON.

Runs inside the environment's interpreter (not mwaa-verify's), so it may import only the standard library
and Airflow. Airflow is imported once (with what the dag-processor's manager pre-imports, and a warm-up on a
DAG file of our own), then long-lived parse workers are forked from that warmed process, as many as the machine
has cores (the dag-processor's `parsing_processes`), each sent one file at a time and answering one result per
file. Where Airflow has an ORM block (3.x) each worker applies it first, so a DAG file that reads the metadata
database at the top level fails here exactly as it fails in production. Everything about the parser (DagBag
class and arguments, serializer, ORM block) is found by feature detection, never by version number; when the
probe itself fails on a file, the file's entry carries `tool_error` (never `import_error`): the user's DAG was
not judged.

A file is judged as in a fresh process (a sign-off must never pass a file that imports only thanks to another):
- after each file its worker forgets the modules it imported from the DAGs folder (the file, its helpers);
- then compares the process with before the file: sys.path, working directory, environment, sys.meta_path and
  sys.path_hooks, builtins, threads, signal handlers, and sys.modules minus Airflow's own modules (shared between
  files by the dag-processor too). Any difference: the worker answers and exits, and the next file goes to a
  fresh worker forked from the warmed parent (a folder where every file imports pandas costs a fork a file);
- a file past dagbag_import_timeout + KILL_GRACE_SECONDS has its worker killed, a worker that dies on a file
  (os._exit, a signal) fails that file only, as a per-file child would; a fresh worker takes the files left.
Not detected: a file that changes an attribute of a module already imported (monkeypatching Airflow or json,
a `DAG.__enter__()` never exited): the next file in that worker sees it.

Usage: python dag_probe.py --dags-folder DIR --out FILE.json [--processes N]
"""

from __future__ import annotations

import argparse
import builtins
import collections
import contextlib
import datetime
import functools
import gc
import inspect
import json
import os
import platform
import select
import signal
import sys
import tempfile
import time
import traceback
import warnings
from typing import NamedTuple

# Extra seconds the parent grants a child beyond Airflow's own dagbag_import_timeout before killing it.
KILL_GRACE_SECONDS = 30

# The warm-up's own DAG file: the standard operators, default args, no, cron and interval schedules.
WARM_UP_DAGS = """
import datetime

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:
    from airflow.operators.bash import BashOperator
    from airflow.operators.empty import EmptyOperator
    from airflow.operators.python import PythonOperator

for number, schedule in enumerate([None, "0 * * * *", datetime.timedelta(hours=1)]):
    with DAG(
        f"mwaa_verify_warm_up_{number}",
        schedule=schedule,
        start_date=datetime.datetime(2024, 1, 1),
        catchup=False,
        default_args={"retries": 1, "retry_delay": datetime.timedelta(minutes=1)},
        tags=["warm-up"],
    ) as dag:
        start = EmptyOperator(task_id="start")
        run = BashOperator(task_id="run", bash_command="echo {{ ds }}")
        call = PythonOperator(task_id="call", python_callable=print)
        start >> [run, call]
    globals()[dag.dag_id] = dag
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dags-folder", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--processes", type=int, default=_cores(), help="files parsed at once (default: cores)")
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

    import airflow
    from airflow.configuration import conf

    airflow_version = airflow.__version__
    dags_folder = os.path.realpath(args.dags_folder)
    safe_mode = conf.getboolean("core", "dag_discovery_safe_mode", fallback=True)
    import_timeout = conf.getfloat("core", "dagbag_import_timeout", fallback=30.0)
    try:
        parsing = Parsing.detect()
        paths = sorted(_dag_file_paths(dags_folder, safe_mode))
    except Exception as exc:
        # Nothing of the user's ran yet: this is mwaa-verify not knowing this Airflow's API.
        first_line = (str(exc).strip().splitlines() or [""])[0]
        sys.stderr.write(
            f"{traceback.format_exc()}\nmwaa-verify's DAG probe cannot drive the parser of Airflow {airflow_version} "
            f"({type(exc).__name__}: {first_line}): a failure of mwaa-verify, not of your DAGs; report it to "
            f"mwaa-verify's maintainers with this output, or use an Airflow version it supports\n"
        )
        return 3

    with tempfile.TemporaryDirectory(prefix="mwaa-verify-warm-up-") as empty:
        parsing.warm_up(empty, dags_folder)
    files = []
    dags: dict[str, dict] = {}
    for result in _parse_all(paths, dags_folder, parsing, import_timeout, max(1, args.processes)):
        files.append(result["file"])
        for shape in result["dags"]:
            dags[shape["dag_id"]] = shape

    report = {
        "airflow_version": airflow_version,
        "python_version": platform.python_version(),
        "dags_folder": dags_folder,
        "dagbag_import_timeout": import_timeout,
        "parsing": parsing.description(),
        "files": files,
        "dags": dags,
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1, sort_keys=True)
    return 0


class Parsing:
    """How this Airflow's dag-processor parses one file, found by looking at its API, not at its version number:
    which DagBag class and arguments, which serializer, whether an ORM block exists, what the manager imports
    before it forks a parsing child."""

    def __init__(self, dagbag_class, dagbag_parameters, serializer, block_orm, pre_import_modules) -> None:
        self.dagbag_class = dagbag_class
        self.dagbag_parameters = dagbag_parameters
        self.serializer = serializer
        self.block_orm = block_orm
        self.pre_import_modules = pre_import_modules

    @classmethod
    def detect(cls) -> Parsing:
        # The module the real dag-processor runs in: its manager has it (and all it pulls in) imported before
        # forking, so a child pays only for the DAG file itself (without it, Airflow 3.0 re-imports its models
        # and the standard provider in every child: ~2 s a file).
        _import_if_present("airflow.dag_processing.processor")
        dagbag_class = _first_attribute_of(
            ("airflow.dag_processing.dagbag", "BundleDagBag"),  # 3.2+: what the dag-processor uses
            ("airflow.dag_processing.dagbag", "DagBag"),
            ("airflow.models.dagbag", "DagBag"),
        )
        if dagbag_class is None:
            raise RuntimeError("no DagBag class in airflow.dag_processing.dagbag or airflow.models.dagbag")
        serializer = _first_attribute_of(
            ("airflow.serialization.serialized_objects", "DagSerialization"),  # 3.2+
            ("airflow.serialization.serialized_objects", "SerializedDAG"),
        )
        if serializer is None or not callable(getattr(serializer, "to_dict", None)):
            raise RuntimeError("no DagSerialization/SerializedDAG.to_dict in airflow.serialization.serialized_objects")
        block_orm = _first_attribute_of(("airflow.sdk.execution_time.supervisor", "block_orm_access"))
        from airflow.configuration import conf

        option = "parsing_pre_import_modules"  # [dag_processor] on 3.x, [scheduler] on 2.x
        section = "dag_processor" if conf.has_option("dag_processor", option) else "scheduler"
        pre_import = conf.getboolean(section, option, fallback=True)
        pre_import_modules = _first_attribute_of(("airflow.utils.file", "iter_airflow_imports")) if pre_import else None
        return cls(dagbag_class, _accepted_parameters(dagbag_class), serializer, block_orm, pre_import_modules)

    def description(self) -> dict:
        return {
            "dagbag": f"{self.dagbag_class.__module__}.{self.dagbag_class.__qualname__}",
            "serializer": f"{self.serializer.__module__}.{self.serializer.__qualname__}",
            "orm_blocked": self.block_orm is not None,
        }

    def pre_import(self, path: str) -> None:
        """The airflow modules the file imports, imported in the parent as the dag-processor's manager does,
        and the names it imports from them resolved (a moved class behind a deprecation shim is imported only
        when its name is looked up: otherwise every child would import its new home again)."""
        if self.pre_import_modules is None:
            return
        try:
            for module in self.pre_import_modules(path):
                _import_if_present(module)
            _resolve_imported_names(path)
        except Exception:  # an unreadable file: the parse reports it
            pass

    def warm_up(self, scratch: str, dags_folder: str) -> None:
        """What a long-lived dag-processor has loaded after its first files, loaded once here before any fork
        (no DAG file of the user's runs): what parsing, bagging and serialising common DAGs loads (the parser's
        lazy imports, the standard operators, cron and interval timetables, the serializer's JSON schema, the
        ABC caches isinstance fills), from a DAG file of our own. Without it every forked child pays for them
        again: over a second a file on Airflow 3 with the parser alone, ~0.1 s with it."""
        with open(os.path.join(scratch, "mwaa_verify_warm_up.py"), "w", encoding="utf-8") as handle:
            handle.write(WARM_UP_DAGS)
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for dag in self.dagbag(scratch, scratch).dags.values():
                self.serializer.to_dict(dag)
        # what the DagBag does once a process for the DAGs folder (3.2+'s BundleDagBag puts it on sys.path), done
        # here on an empty folder, so that it is no change of a worker's first file
        nothing = os.path.join(scratch, "nothing")
        os.mkdir(nothing)
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.dagbag(nothing, dags_folder)

    def dagbag(self, path: str, dags_folder: str):
        wanted = {
            "dag_folder": path,
            "include_examples": False,
            "load_op_links": False,
            "bundle_path": _pathlib(dags_folder),
            "bundle_name": "dags-folder",
        }
        kwargs = {name: value for name, value in wanted.items() if name in self.dagbag_parameters}
        return self.dagbag_class(**kwargs)


def _accepted_parameters(cls) -> set[str]:
    """Keyword arguments cls() accepts, following **kwargs up the class hierarchy."""
    accepted: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        accepted |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    accepted.discard("self")
    return accepted


def _first_attribute_of(*candidates):
    import importlib

    for module_name, attribute in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found = getattr(module, attribute, None)
        if found is not None:
            return found
    return None


def _resolve_imported_names(path: str) -> None:
    """`from airflow.x import Name` lines of the file: look each Name up (Airflow's code, never the file's)."""
    import ast
    import importlib

    with open(path, "rb") as handle:
        tree = ast.parse(handle.read(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and _is_airflows(node.module or ""):
                with contextlib.suppress(Exception):
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        getattr(module, alias.name, None)


def _is_airflows(module_name: str) -> bool:
    """Airflow's own package, not a user's module that merely starts with the word (`airflow_common`): the file's
    own modules are imported only in its child, under its timeout and the ORM block."""
    return module_name == "airflow" or module_name.startswith("airflow.")


def _import_if_present(module_name: str) -> None:
    import importlib

    with contextlib.suppress(Exception):
        importlib.import_module(module_name)


def _dag_file_paths(dags_folder: str, safe_mode: bool) -> list[str]:
    from airflow.utils import file as file_utils

    if hasattr(file_utils, "find_dag_file_paths"):
        return list(file_utils.find_dag_file_paths(dags_folder, safe_mode))
    return list(file_utils.list_py_file_paths(dags_folder, safe_mode=safe_mode, include_examples=False))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (a container's, a taskset's)
    except AttributeError:
        return os.cpu_count() or 1


class _ProcessState(NamedTuple):
    """What a DAG file can change in the process that parses it and the next file in the same process would
    see: all of it compared before and after each file (a change sends the next file to a fresh worker)."""

    sys_path: tuple
    cwd: str | None
    environ: dict
    meta_path: tuple
    path_hooks: tuple
    builtins: frozenset
    threads: int
    signal_handlers: dict
    modules: frozenset

    @classmethod
    def now(cls) -> _ProcessState:
        try:
            cwd = os.getcwd()
        except OSError:  # the file removed the working directory
            cwd = None
        return cls(
            tuple(sys.path), cwd, dict(os.environ), tuple(sys.meta_path), tuple(sys.path_hooks),
            frozenset(vars(builtins)), _thread_count(), _signal_handlers(), frozenset(sys.modules),
        )  # fmt: skip

    def change_to(self, after: _ProcessState) -> str | None:
        """What differs in `after` (None: nothing), once the DAGs folder's own modules are forgotten. A new
        module of Airflow's is no change: the dag-processor shares those between files too."""
        for field in self._fields:
            if field != "modules" and getattr(self, field) != getattr(after, field):
                return field
        added = {name for name in after.modules - self.modules if not _is_airflows(name)}
        changed = sorted(added | (self.modules - after.modules))
        return f"sys.modules ({', '.join(changed[:3])})" if changed else None


def _thread_count() -> int:
    """Threads of this process, those started in C code too."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _signal_handlers() -> dict:
    """Each signal's handler; one of Airflow's own counts as the same whichever it is: the parser installs fresh
    ones around every file (its timeout's SIGALRM, its SIGSEGV report), as it would in a fresh process."""
    handlers = {}
    for number in _signal_numbers():
        with contextlib.suppress(ValueError, OSError):
            handler = _getsignal(number)
            airflows = callable(handler) and _is_airflows(getattr(handler, "__module__", None) or "")
            handlers[number] = "Airflow's" if airflows else handler
    return handlers


@functools.lru_cache(maxsize=1)
def _signal_numbers() -> tuple[int, ...]:
    return tuple(int(number) for number in signal.valid_signals())


try:  # the C function: signal.getsignal wraps each answer in an enum, 50 times slower (twice a file, 60 signals)
    from _signal import getsignal as _getsignal
except ImportError:
    _getsignal = signal.getsignal


def _forget_folder_modules(before: frozenset, dags_folder: str) -> None:
    """Remove the modules the file imported from the DAGs folder (the file itself, its helpers): the next file
    imports them afresh, as a fresh process would."""
    for name in set(sys.modules) - before:
        if _inside(sys.modules.get(name), dags_folder):
            del sys.modules[name]


def _inside(module, dags_folder: str) -> bool:
    if module is None:
        return False
    places = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    prefix = dags_folder.rstrip(os.sep) + os.sep
    return any(
        isinstance(place, str) and (place.startswith(prefix) or os.path.realpath(place).startswith(prefix))
        for place in places
    )


class _Worker:
    """A forked parser fed one file at a time: the pipe paths go to, the pipe answers come back through (one
    JSON line per file), the file it is on and when that file is overdue."""

    def __init__(self, pid: int, task_fd: int, result_fd: int) -> None:
        self.pid = pid
        self.task_fd: int | None = task_fd
        self.result_fd: int | None = result_fd
        self.data = bytearray()
        self.eof = False
        self.path: str | None = None
        self.started = 0.0
        self.deadline = 0.0
        self.status: int | None = None
        self.killed = False

    def send(self, path: str, import_timeout: float) -> bool:
        """Give the worker its next file; False when it can no longer take one."""
        try:
            _write_all(self.task_fd, f"{json.dumps(path)}\n".encode())  # one line, whatever the file's name
        except OSError:
            return False
        self.path = path
        self.started = time.monotonic()
        self.deadline = self.started + import_timeout + KILL_GRACE_SECONDS
        return True

    def read(self) -> None:
        """What the pipe holds now, without waiting."""
        while not self.eof:
            try:
                chunk = os.read(self.result_fd, 1 << 16)
            except BlockingIOError:
                return
            if chunk:
                self.data += chunk
            else:
                self.eof = True

    def answer(self) -> dict | None:
        """The next whole answer the worker wrote, if one has arrived."""
        end = self.data.find(b"\n")
        if end < 0:
            return None
        line = bytes(self.data[:end])
        del self.data[: end + 1]
        return json.loads(line.decode("utf-8"))

    def exited(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is not None

    def kill(self, overdue: bool) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.killed = overdue
        if self.status is None:
            _, self.status = os.waitpid(self.pid, 0)

    def stop(self) -> None:
        """No more files: closing its task pipe ends its loop (and a dead worker's pipes are closed)."""
        for fd in self.fds():
            os.close(fd)
        self.task_fd = self.result_fd = None

    def fds(self) -> list[int]:
        return [fd for fd in (self.task_fd, self.result_fd) if fd is not None]


def _parse_all(paths: list[str], dags_folder: str, parsing: Parsing, import_timeout: float, processes: int):
    """Every file's result, in the order of `paths`, parsed by up to `processes` long-lived forked workers, each
    sent its next file as soon as it answered its last one.

    A worker whose file changed its process (see _ProcessState) answers, then exits: the next file goes to a
    fresh worker forked from this warmed parent. A worker past its file's deadline is killed, one that died on
    a file (its exit, a signal) is judged by how it ended, and a fresh worker takes the files left. Workers are
    waited for by their exit, never by their pipe's end: a process the DAG file started may hold it open."""
    results: dict[str, dict] = {}
    queue = collections.deque(paths)
    workers: list[_Worker] = []
    leaving: list[_Worker] = []
    while queue or any(worker.path for worker in workers):
        for worker in [worker for worker in workers if worker.path is None]:
            if queue and worker.send(queue[0], import_timeout):
                queue.popleft()
            else:  # nothing left to parse, or it died between files
                workers.remove(worker)
                worker.stop()
                leaving.append(worker)
        while queue and len(workers) < processes:
            worker = _fork_worker(queue[0], dags_folder, parsing, [fd for w in workers + leaving for fd in w.fds()])
            workers.append(worker)
            if worker.send(queue[0], import_timeout):
                queue.popleft()
        busy = [worker for worker in workers if worker.path is not None]
        if not busy:
            continue
        wait = min(worker.deadline for worker in busy) - time.monotonic()
        select.select([worker.result_fd for worker in busy], [], [], min(max(wait, 0), 0.05))
        for worker in busy:
            if not _collect(worker, results, dags_folder, import_timeout):
                workers.remove(worker)
                worker.stop()
                leaving.append(worker)
        leaving = [worker for worker in leaving if not worker.exited()]
    for worker in workers:
        worker.stop()
    for worker in workers + leaving:
        if worker.status is None:
            os.waitpid(worker.pid, 0)
    return [results[path] for path in paths]


def _collect(worker: _Worker, results: dict[str, dict], dags_folder: str, import_timeout: float) -> bool:
    """Take the worker's answer if it came; record why not if it never will (it exited, or closed its pipe,
    or is overdue: then it is killed). False when the worker is gone or going."""
    worker.read()
    answer = worker.answer()
    if answer is None and not worker.eof and not worker.exited():
        if time.monotonic() < worker.deadline:
            return True
        worker.kill(overdue=True)
    if answer is None and worker.status is None:
        worker.kill(overdue=False)  # its pipe closed under it: it cannot answer any more
    if answer is None:
        worker.read()  # an answer written just before it exited
        answer = worker.answer()
    results[worker.path] = answer["result"] if answer else _death_result(worker, dags_folder, import_timeout)
    worker.path = None
    return bool(answer) and not answer["leaving"] and worker.status is None


def _fork_worker(first_path: str, dags_folder: str, parsing: Parsing, parents_fds: list[int]) -> _Worker:
    parsing.pre_import(first_path)  # in the parent, as the dag-processor's manager does before it forks
    gc.freeze()  # as the dag-processor does: a worker's collections never walk (and copy) the parent's objects
    task_read, task_write = os.pipe()
    result_read, result_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        for fd in (task_write, result_read, *parents_fds):
            os.close(fd)
        code = 1
        try:
            code = _work(task_read, result_write, dags_folder, parsing)
        finally:
            os._exit(code)
    os.close(task_read)
    os.close(result_write)
    os.set_blocking(result_read, False)
    return _Worker(pid, task_write, result_read)


def _work(task_fd: int, result_fd: int, dags_folder: str, parsing: Parsing) -> int:
    """A worker's life: parse each file it is sent, answer, and exit at the end of its files or after a file
    that changed the process."""
    worker = os.getpid()
    tasks = os.fdopen(task_fd, "r", encoding="utf-8")
    if parsing.block_orm is not None:
        parsing.block_orm()  # before the state is taken: what it sets is the same for every file
    state = _ProcessState.now()  # then each file's state after it is the next one's before
    for line in tasks:
        result, change, state = _parse_in_worker(json.loads(line), dags_folder, parsing, state)
        if os.getpid() != worker:
            return 0  # a copy of the worker the DAG file forked: it neither answers nor takes files
        _write_all(result_fd, (json.dumps({"result": result, "leaving": change is not None}) + "\n").encode())
        if change is not None:
            return 0
    return 0


def _parse_in_worker(
    path: str, dags_folder: str, parsing: Parsing, before: _ProcessState
) -> tuple[dict, str | None, _ProcessState]:
    """The file's result, what it changed in the process (None: the next file may be parsed here), and the
    process's state after it (the next file's `before`: nothing happens between the two)."""
    relative = os.path.relpath(path, dags_folder)
    try:
        if parsing.block_orm is not None:
            parsing.block_orm()  # again for every file (a file may have undone it); it sets the same every time
        result = _parse_file(path, relative, dags_folder, parsing)
        _forget_folder_modules(before.modules, dags_folder)
        after = _ProcessState.now()
        return result, before.change_to(after), after
    except BaseException:
        return _tool_failure(relative, traceback.format_exc()), "the probe failed", before


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _death_result(worker: _Worker, dags_folder: str, import_timeout: float) -> dict:
    """A worker that left no answer for its file: why, from how it ended."""
    relative = os.path.relpath(worker.path, dags_folder)
    elapsed = time.monotonic() - worker.started
    if worker.killed:
        # Airflow's own timeout did not stop it (the file blocks signals, or sleeps in C code)
        reason = (
            f"AirflowTaskTimeout: DagBag import timeout for {worker.path} after {import_timeout:g}s.\n"
            f"(the parsing process ignored Airflow's timeout and was killed after {elapsed:.0f} s)"
        )
        return _failed_file(relative, reason, elapsed)
    status = worker.status or 0
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
            "tool_error": None,
            "warnings": [],
            "parse_seconds": round(seconds, 4),
        },
        "dags": [],
    }


def _tool_failure(relative: str, error: str) -> dict:
    """mwaa-verify's own probe failed on this file: nothing is known about the user's DAG."""
    return {
        "file": {
            "path": relative,
            "dag_ids": [],
            "import_error": None,
            "tool_error": error,
            "warnings": [],
            "parse_seconds": None,
        },
        "dags": [],
    }


def _parse_file(path: str, relative: str, dags_folder: str, parsing: Parsing) -> dict:
    started = time.monotonic()
    try:
        bag = parsing.dagbag(path, dags_folder)
    except BaseException as exc:
        if not _raised_by(exc, path):
            raise  # our call into Airflow failed: the tool's problem, reported as such
        # DagBag catches Exception; what escapes it (SystemExit, KeyboardInterrupt) still came from the file
        return _failed_file(relative, traceback.format_exc(), time.monotonic() - started)
    # what dagbag_import_timeout bounds: the file's import, not the serialisation after it
    elapsed = time.monotonic() - started
    errors = dict(bag.import_errors)
    dags = []
    for dag_id in sorted(bag.dags):
        dag = bag.dags[dag_id]
        try:
            parsing.serializer.to_dict(dag)  # serialisation failures are import errors to the dag-processor
        except Exception:
            errors[relative] = traceback.format_exc()
            continue
        dags.append(dag)
    shapes = [_shape(dag, dags_folder) for dag in dags]
    warnings = []
    for captured in getattr(bag, "captured_warnings", {}).values():
        warnings.extend(captured)
    error_text = "\n".join(errors.values()) if errors else None
    return {
        "file": {
            "path": relative,
            "dag_ids": [shape["dag_id"] for shape in shapes],
            "import_error": error_text,
            "tool_error": None,
            "warnings": warnings,
            "parse_seconds": round(elapsed, 4),
        },
        "dags": shapes,
    }


def _raised_by(exc: BaseException, path: str) -> bool:
    """Whether the DAG file's own code is on the exception's traceback."""
    real = os.path.realpath(path)
    tb = exc.__traceback__
    while tb is not None:
        if os.path.realpath(tb.tb_frame.f_code.co_filename) == real:
            return True
        tb = tb.tb_next
    return False


def _pathlib(text: str):
    from pathlib import Path

    return Path(text)


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
