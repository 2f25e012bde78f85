"""What the tool starts it owns: a command's children are stopped with it, never waited for; a signal waits
until a resource is recorded; what a killed run left is swept, what a live run holds is never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mwaa_verify import ownership
from mwaa_verify.errors import EnvironmentStartError

SPAWNS = """
import subprocess
subprocess.Popen(["sleep", "3600"])  # keeps our stdout and stderr open
subprocess.Popen(["sleep", "3600"], start_new_session=True)  # leaves the process group
print("parent done", flush=True)
"""


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = ownership.make_owned_dir("test")
    yield path
    ownership.remove_owned_dir(path)


def sleeping_in(directory: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "3600"], cwd=directory, start_new_session=True)


def dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def test_a_command_is_not_waited_for_past_its_own_exit_and_its_children_are_stopped(scratch: Path) -> None:
    completed = ownership.run([sys.executable, "-c", SPAWNS], scratch, timeout=120)

    assert completed.returncode == 0 and completed.stdout == "parent done\n"
    assert ownership.processes_under([scratch]) == []


def test_a_command_that_times_out_is_stopped_with_its_children(scratch: Path) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        ownership.run([sys.executable, "-c", SPAWNS + "import time; time.sleep(3600)"], scratch, timeout=5)

    assert ownership.processes_under([scratch]) == []


def test_sweep_removes_what_a_dead_owner_left_and_spares_a_live_one(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(tempfile.gettempdir())
    live_owner = subprocess.Popen(["sleep", "3600"])
    dead = Path(tempfile.mkdtemp(prefix=f"{ownership.PREFIX}{dead_pid()}-killed-", dir=root))
    live = Path(tempfile.mkdtemp(prefix=f"{ownership.PREFIX}{live_owner.pid}-running-", dir=root))
    (dead / "airflow.cfg").write_text("[core]\nfernet_key = secret\n")
    orphan, kept = sleeping_in(dead), sleeping_in(live)
    try:
        monkeypatch.setattr(ownership, "_swept", False)
        ownership.sweep_stale()

        assert orphan.wait(timeout=30) == -signal.SIGTERM
        assert not dead.exists()
        assert kept.poll() is None and live.is_dir()
    finally:
        for process in (orphan, kept, live_owner):
            process.kill()
            process.wait()
        ownership.remove_owned_dir(live)


def test_a_workdir_held_by_a_live_run_is_refused_in_one_line(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    with ownership.WorkdirLock(workdir):
        (workdir / "database").mkdir()
        with pytest.raises(EnvironmentStartError) as refused:
            ownership.WorkdirLock(workdir).acquire()

        assert str(refused.value) == (
            f"the working directory {workdir} is in use by another mwaa-verify run (pid {os.getpid()}); "
            f"wait for it to finish or choose another working directory"
        )
        assert (workdir / "database").is_dir()
    with ownership.WorkdirLock(workdir):  # free again once released
        pass


def test_a_signal_inside_a_deferred_block_takes_effect_when_it_ends() -> None:
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for signum in previous:
        signal.signal(signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler)
    try:
        ownership.install_signal_handlers()
        reached_end = False
        with pytest.raises(KeyboardInterrupt), ownership.deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler has run by now, and deferred the interrupt
            reached_end = True
        assert reached_end
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
