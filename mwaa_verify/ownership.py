"""What the tool starts, it owns: processes and temporary directories are stopped and removed on every exit.

- Every temporary directory is named `mwaa-verify-pid<owner pid>-<what>-XXXXXXXX`, so that a later run can
  tell whose it is and whether that owner still runs.
- Every command runs in a process group of its own, with its working directory (or at least its output) in
  one of those directories. Stopping it stops its group and every process whose working directory lies inside
  the directory: Airflow's task runner moves each task into a process group of its own, PostgreSQL moves into
  its data directory, and a DAG file may start a background process at import; none of them is missed.
- SIGTERM and SIGHUP unwind like Ctrl-C (KeyboardInterrupt), so every `with` and `finally` runs. The moments
  that create a resource and record it defer an arriving signal until it is recorded.
- A SIGKILL leaves things behind; `sweep_stale` (called by everything that provisions) stops the processes
  and removes the directories of owners that no longer run. Nothing whose owner runs is ever touched.
- A configured working directory is held with `WorkdirLock`: a second run on it refuses in one line.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from mwaa_verify import progress
from mwaa_verify.errors import EnvironmentStartError

PREFIX = "mwaa-verify-pid"
# a directory in which this file lies is kept for the user; a sweep stops its processes but keeps its files
KEEP_MARKER = ".mwaa-verify-keep"
LOCK_FILE = ".mwaa-verify-owner"
_OWNED_NAME = re.compile(r"(?:^|/)" + re.escape(PREFIX) + r"(\d+)-[^/]*")
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_KILL_WAIT_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1

_owned_dirs: set[Path] = set()
_running: dict[int, subprocess.Popen[bytes]] = {}
_defer_depth = 0
_pending_signal: int | None = None
_swept = False
_libc: ctypes.CDLL | None = None


# -- signals ------------------------------------------------------------------------------------------------


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _pending_signal
    if _defer_depth:
        _pending_signal = signum
        return
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread (unless someone else handles
    them already), so cleanup code runs on each of them."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in _SIGNALS:
        current = signal.getsignal(signum)
        if current in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(signum, _on_signal)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """A signal that arrives inside this block takes effect (as KeyboardInterrupt) when the block ends, so a
    resource created inside it is always recorded before the interrupt unwinds. Child processes are not
    affected (nothing is blocked at the OS level)."""
    global _defer_depth, _pending_signal
    _defer_depth += 1
    try:
        yield
    finally:
        _defer_depth -= 1
        if _defer_depth == 0 and _pending_signal is not None:
            _pending_signal = None
            raise KeyboardInterrupt


# -- directories --------------------------------------------------------------------------------------------


def make_owned_dir(what: str, parent: Path | None = None, keep: bool = False) -> Path:
    """A new temporary directory named after this process, removed by `remove_owned_dir` or at exit; with
    `keep`, one whose files the user keeps (processes working in it are still stopped)."""
    with deferred_signals():
        path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{what}-", dir=parent))
        if keep:
            (path / KEEP_MARKER).touch()
        else:
            _owned_dirs.add(path)
    return path


@contextmanager
def owned_dir(what: str) -> Iterator[Path]:
    """`with owned_dir("export") as path:` a temporary directory that is gone afterwards, and that a later
    run removes if this one is killed (it may hold decrypted secrets)."""
    sweep_stale()
    path = make_owned_dir(what)
    try:
        yield path
    finally:
        remove_owned_dir(path)


def remove_owned_dir(path: Path) -> None:
    """Stop whatever still runs inside `path`, then remove it."""
    with deferred_signals():
        stop_processes_under([path])
        shutil.rmtree(path, ignore_errors=True)
        _owned_dirs.discard(path)


def owner_of(path: str | Path) -> int | None:
    """The pid in the last `mwaa-verify-pid<N>-` component of `path`, or None."""
    found = _OWNED_NAME.findall(str(path))
    return int(found[-1]) if found else None


# -- processes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Process:
    pid: int
    ppid: int
    pgid: int
    name: str
    cwd: str


def _process_table() -> Iterator[_Process]:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cwd = os.readlink(Path(entry.path, "cwd"))
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] in ("Z", "X"):  # exited, waiting to be reaped: nothing left to stop
            continue
        yield _Process(int(entry.name), int(fields[1]), int(fields[2]), name, cwd.removesuffix(" (deleted)"))


def _inside(cwd: str, directories: Sequence[str]) -> bool:
    return any(cwd == directory or cwd.startswith(directory + "/") for directory in directories)


def _real(paths: Iterable[Path | str]) -> list[str]:
    return [os.path.realpath(path) for path in paths]


def processes_under(directories: Iterable[Path | str]) -> list[int]:
    """Pids of processes (not this one) whose working directory lies inside one of `directories`."""
    wanted = _real(directories)
    return [p.pid for p in _process_table() if p.pid != os.getpid() and _inside(p.cwd, wanted)]


def stop_processes_under(directories: Iterable[Path | str], grace: float = _KILL_WAIT_SECONDS) -> list[int]:
    """Stop every process working inside `directories`; the pids that were found."""
    wanted = _real(directories)
    return _stop(lambda: [p for p in _process_table() if p.pid != os.getpid() and _inside(p.cwd, wanted)], grace)


def _stop(find: Callable[[], list[_Process]], grace: float) -> list[int]:
    """Ask politely (PostgreSQL: fast shutdown), then SIGKILL whatever is left after `grace` seconds."""
    seen: set[int] = set()
    deadline = time.monotonic() + grace
    with deferred_signals():
        while True:
            found = find()
            if not found:
                return sorted(seen)
            overdue = time.monotonic() > deadline
            for process in found:
                if overdue:
                    _signal(process.pid, signal.SIGKILL)
                elif process.pid not in seen:
                    _signal(process.pid, signal.SIGINT if process.name == "postgres" else signal.SIGTERM)
                seen.add(process.pid)
            if time.monotonic() > deadline + _KILL_WAIT_SECONDS:
                raise EnvironmentStartError(
                    f"could not stop process(es) {', '.join(str(p.pid) for p in found)}; stop them by hand"
                )
            time.sleep(0.1)


def _signal(pid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def running(pid: int) -> bool:
    """True while `pid` runs; a process that exited and waits to be reaped (a zombie) no longer does."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] not in ("Z", "X")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exit_with_parent() -> None:
    """In the child, before exec: a SIGTERM when the process that started it dies (also by SIGKILL)."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def run(
    command: Sequence[str],
    scratch: Path,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    grace: float = _KILL_WAIT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Run `command` in a process group of its own, its output in files under the owned directory `scratch`
    (its working directory too, unless `cwd` is given), and wait for it alone: a child it leaves running,
    holding inherited pipes or not, does not keep us waiting. When it ends, times out (TimeoutExpired) or we
    are interrupted, its group and every process working inside `scratch` are stopped."""
    global _libc
    install_signal_handlers()
    if _libc is None and sys.platform == "linux":
        _libc = ctypes.CDLL(None, use_errno=True)
    stdout_path, stderr_path = scratch / ".stdout", scratch / ".stderr"
    with deferred_signals():
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=cwd or scratch,
                env=None if env is None else dict(env),
                start_new_session=True,
                preexec_fn=_exit_with_parent if _libc is not None else None,
            )
        _running[process.pid] = process
    try:
        if not _wait_exited(process.pid, timeout):
            raise subprocess.TimeoutExpired(list(command), timeout or 0)
    finally:
        stop(process, scratch, grace)
    return subprocess.CompletedProcess(
        list(command),
        process.returncode,
        stdout_path.read_text(encoding="utf-8", errors="replace"),
        stderr_path.read_text(encoding="utf-8", errors="replace"),
    )


def _wait_exited(pid: int, timeout: float | None) -> bool:
    """Wait for our child `pid` to exit without reaping it (so its pid, the group id, stays reserved)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.002
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def stop(process: subprocess.Popen[bytes], scratch: Path, grace: float = _KILL_WAIT_SECONDS) -> None:
    """Stop `process` (started by `run`), its process group, and whatever works inside `scratch`."""
    with deferred_signals():
        leader = process.pid
        wanted = _real([scratch])

        def members() -> list[_Process]:
            return [
                p for p in _process_table() if p.pid != os.getpid() and (p.pgid == leader or _inside(p.cwd, wanted))
            ]

        try:
            # one SIGTERM each (a second could interrupt the cleanup the first started), SIGKILL after `grace`;
            # the leader is not reaped yet, so no other group can have its id
            _stop(members, grace)
            # an mwaa-verify child (the suites' pytest) may have been killed before it cleaned up
            _sweep(lambda owner: owner == leader, quiet=True)
        finally:
            process.wait()
            _running.pop(leader, None)


# -- what killed runs left behind ---------------------------------------------------------------------------


def _temp_roots() -> list[Path]:
    roots = []
    for root in (Path(tempfile.gettempdir()), Path("/tmp")):
        if root.is_dir() and root.resolve() not in roots:
            roots.append(root.resolve())
    return roots


def sweep_stale() -> None:
    """Once per process: stop the processes and remove the temporary directories of mwaa-verify runs that no
    longer run (killed by SIGKILL or a crash). Those of live runs are never touched."""
    global _swept
    if _swept:
        return
    _swept = True
    _sweep(lambda owner: owner != os.getpid() and not alive(owner), quiet=False)


def _sweep(is_stale: Callable[[int], bool], quiet: bool) -> None:
    def stale_processes() -> list[_Process]:
        found = []
        for process in _process_table():
            owner = owner_of(process.cwd)
            if owner is not None and process.pid != os.getpid() and is_stale(owner):
                found.append(process)
        return found

    stopped = _stop(stale_processes, _KILL_WAIT_SECONDS)
    removed = []
    for root in _temp_roots():
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            owner = owner_of(entry.name) if entry.name.startswith(PREFIX) else None
            if owner is None or not is_stale(owner) or Path(entry.path, KEEP_MARKER).exists():
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    if (stopped or removed) and not quiet:
        progress.say(
            f"cleaned up after an earlier run that was killed: stopped {len(stopped)} process(es), "
            f"removed {len(removed)} temporary director{'y' if len(removed) == 1 else 'ies'}"
        )


def _stop_own() -> None:
    with deferred_signals():
        for process in list(_running.values()):
            stop(process, Path(tempfile.gettempdir(), f"{PREFIX}{os.getpid()}-none"))
        for path in list(_owned_dirs):
            remove_owned_dir(path)


atexit.register(_stop_own)


def stop_everything() -> list[str]:
    """Stop every process this run started and remove every temporary directory it made, also what a child
    of ours that was killed left behind; returns what is still there (nothing, unless it resisted SIGKILL)."""
    _stop_own()
    with deferred_signals():
        _sweep(lambda owner: owner != os.getpid() and not alive(owner), quiet=True)
    mine = [p for p in _process_table() if owner_of(p.cwd) == os.getpid() and p.pid != os.getpid()]
    left = [f"process {p.pid} ({p.name}) in {p.cwd}" for p in mine]
    left += [str(path) for path in _owned_dirs if path.exists()]
    return left


# -- configured working directories -------------------------------------------------------------------------


class WorkdirLock:
    """`with WorkdirLock(path):` holds a working directory for this run. Another run that asks for it while
    this one lives is refused with one line naming the holder; after a holder that was killed, whatever still
    runs in it is stopped first."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.workdir / LOCK_FILE

    def __enter__(self) -> WorkdirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EnvironmentStartError(
                f"cannot create the working directory {self.workdir}: {exc.strerror}; choose a writable one"
            ) from None
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                raise EnvironmentStartError(
                    f"the working directory {self.workdir} is in use by another mwaa-verify run (pid {holder}); "
                    f"wait for it to finish or choose another working directory"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # its holder removed it as we opened it: take the new one
        self._fd = fd
        previous = os.pread(fd, 64, 0).decode(errors="replace").strip()
        if previous:  # a run that was killed: stop what it left running in here
            stop_processes_under([self.workdir])
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None
