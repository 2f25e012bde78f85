"""Everything the tool starts is stopped, and everything it creates removed: after a normal close, after Ctrl-C
or SIGTERM in each phase (provisioning, a backfill, the verification in `mwaa-verify run` and in `pytest
suites`), and after a SIGKILL, by the next run. Each case runs the tool in a temporary directory of its own
(its TMPDIR) and looks only at processes working or named inside it, never at anything else on the machine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import postgres_servers_under
from mwaa_verify import ownership
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION
from mwaa_verify.config import EphemeralConfig
from mwaa_verify.demo import DEMO_DAGS
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.verification import suites_dir

pytestmark = pytest.mark.slow

SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
INTERRUPTED = "mwaa-verify: interrupted; everything started was stopped"


def processes_in(*roots: Path) -> list[str]:
    """Processes (other than this one) whose working directory or command line points inside `roots`."""
    wanted = [os.path.realpath(root) for root in roots]
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(proc / "cwd").removesuffix(" (deleted)")
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if any(cwd == root or cwd.startswith(root + "/") or root in command for root in wanted):
            found.append(f"{proc.name} in {cwd}: {command[:200]}")
    return found


def leftover_dirs(scratch: Path) -> list[str]:
    return sorted(path.name for path in scratch.iterdir() if path.name.startswith("mwaa-verify-"))


@pytest.fixture
def scratch(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The TMPDIR of the tool under test; traversable, since PostgreSQL may run as the postgres user. Short,
    so that the tool keeps LocalExecutor's sockets (paths of at most 107 bytes) in it too."""
    path = Path(tempfile.mkdtemp(prefix="mvc-", dir="/tmp"))
    path.chmod(0o711)
    yield path
    for line in processes_in(path):  # never leave a failed case's processes to the next one
        os.kill(int(line.split()[0]), signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def dags(scratch: Path) -> Path:
    folder = scratch / "dags"
    folder.mkdir()
    shutil.copy(DEMO_DAGS / "demo_etl.py", folder)
    return folder


def config_file(scratch: Path, dags: Path, *names: str) -> Path:
    path = scratch / "mwaa-verify.toml"
    path.write_text(
        "".join(
            f'[environments.{name}]\nkind = "ephemeral"\nairflow_version = "{DEMO_SOURCE_VERSION}"\n'
            f'dags_folder = "{dags}"\n\n'
            for name in names
        )
    )
    return path


def _ctrl_c_delivered() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Tool:
    """The tool (or pytest) in a process of its own, with `scratch` as its TMPDIR; stderr read line by line."""

    def __init__(self, args: list[str], scratch: Path, cache_dir: Path) -> None:
        self.output = scratch / "stdout.txt"
        with self.output.open("w") as stdout:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *args],
                stderr=subprocess.PIPE,
                stdout=stdout,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=scratch,
                env={**os.environ, "TMPDIR": str(scratch), "MWAA_VERIFY_CACHE_DIR": str(cache_dir)},
                # as from a terminal: Ctrl-C is delivered even where this session was started with SIGINT
                # ignored (a background job, a CI runner), which the tool, like every program, would respect
                preexec_fn=_ctrl_c_delivered,
            )
        self.stderr: list[str] = []

    def wait_for_line(self, text: str, timeout: float = 600) -> None:
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.stderr.append(line)
            if text in line:
                return
        raise AssertionError(f"never saw {text!r}; stderr was:\n{''.join(self.stderr)}")

    def wait_until(self, condition: Callable[[], object], what: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"exited before {what}:\n{self.finish()}"
            assert time.monotonic() < deadline, f"never saw {what}"
            time.sleep(0.2)

    def stop(self, signum: int) -> tuple[int, str]:
        """Send `signum`, wait for the exit; the exit code and the rest of stderr."""
        self.process.send_signal(signum)
        return self.process.wait(timeout=300), self.finish()

    def finish(self) -> str:
        assert self.process.stderr is not None
        try:
            rest = self.process.communicate(timeout=300)[1] or ""
        finally:
            self.process.kill()
        runs = [f"\n--- {log}:\n{log.read_text()[-3000:]}" for log in self.output.parent.rglob("runs/*.log")]
        return "".join(self.stderr) + rest + self.output.read_text() + "".join(runs)


def assert_nothing_left(scratch: Path, *also: Path) -> None:
    assert processes_in(scratch, *also) == []
    assert leftover_dirs(scratch) == []


def task_process_running(scratch: Path) -> bool:
    """A LocalExecutor worker of the backfill runs a task (Airflow renames its processes so)."""
    return any("airflow task supervisor" in line or "airflow task runner" in line for line in processes_in(scratch))


def both_up_and_probing(scratch: Path) -> bool:
    running = processes_in(scratch)
    return len(postgres_servers_under(str(scratch))) == 2 and any("dag_probe.py" in line for line in running)


def test_close_stops_the_server_and_removes_the_files(cache_dir: Path) -> None:
    environment = EphemeralEnvironment(EphemeralConfig(name="closed", airflow_version=DEMO_SOURCE_VERSION), cache_dir)
    environment.start()
    assert environment.cluster is not None and environment.workdir is not None
    pid = environment.cluster.postmaster_pid()
    workdir = environment.workdir
    assert pid is not None and postgres_servers_under(str(workdir))

    environment.close()

    assert not postgres_servers_under(str(workdir))
    assert not ownership.running(pid)
    assert not workdir.exists()


@SIGNALS
def test_interrupt_during_provisioning_leaves_nothing_behind(
    cache_dir: Path, scratch: Path, dags: Path, signum: signal.Signals
) -> None:
    config = config_file(scratch, dags, "interrupted")
    tool = Tool(["mwaa_verify.cli", "--mwaa-config", str(config), "dags", "interrupted"], scratch, cache_dir)
    tool.wait_for_line("airflow db migrate")
    assert postgres_servers_under(str(scratch)), "the server should be up while the database is migrated"

    exit_code, output = tool.stop(signum)

    assert exit_code == 130, output
    assert INTERRUPTED in output and "Traceback" not in output
    assert_nothing_left(scratch)


@SIGNALS
def test_interrupt_during_a_demo_backfill_stops_the_executor_and_its_workers(
    cache_dir: Path, scratch: Path, signum: signal.Signals
) -> None:
    workdir = scratch / "demo"
    demo = ["mwaa_verify.cli", "demo", "--workdir", str(workdir), "--reports", str(scratch / "reports")]
    tool = Tool([*demo, "--target-version", DEMO_SOURCE_VERSION], scratch, cache_dir)
    tool.wait_for_line("demo-source: running demo_etl")
    tool.wait_until(lambda: task_process_running(scratch), "a task process of the backfill")

    # a second demo on the same workdir refuses in one line, and the first one's database lives on
    second = subprocess.run(
        [sys.executable, "-m", *demo], capture_output=True, text=True, timeout=300,
        env={**os.environ, "TMPDIR": str(scratch), "MWAA_VERIFY_CACHE_DIR": str(cache_dir)},
    )  # fmt: skip
    assert second.returncode == 2, second.stderr
    assert (
        second.stderr.strip()
        .splitlines()[-1]
        .startswith(f"mwaa-verify: error: the working directory {workdir} is in use by another mwaa-verify run (pid ")
    )
    assert "Traceback" not in second.stderr
    assert len(postgres_servers_under(str(workdir))) == 2

    exit_code, output = tool.stop(signum)

    assert exit_code == 130, output
    assert INTERRUPTED in output and "Traceback" not in output
    assert_nothing_left(scratch)  # the workdir's files stay, as a demo's do; nothing runs in them


@SIGNALS
def test_interrupt_during_the_verification_of_mwaa_verify_run(
    cache_dir: Path, scratch: Path, dags: Path, signum: signal.Signals
) -> None:
    config = config_file(scratch, dags, "old", "new")
    run = ["mwaa_verify.cli", "--mwaa-config", str(config), "run", "--source", "old", "--target", "new"]
    tool = Tool([*run, "--suite", "dag_import", "--reports", str(scratch / "reports")], scratch, cache_dir)
    tool.wait_for_line("verifying old -> new")
    # the suites' pytest, a child of the tool, runs both environments and parses their DAGs
    tool.wait_until(lambda: both_up_and_probing(scratch), "both servers up and a DAG probe")

    exit_code, output = tool.stop(signum)

    assert exit_code == 130, output
    assert INTERRUPTED in output and "Traceback" not in output
    assert_nothing_left(scratch)


@SIGNALS
def test_interrupt_during_pytest_suites_stops_its_environments(
    cache_dir: Path, scratch: Path, dags: Path, signum: signal.Signals
) -> None:
    config = config_file(scratch, dags, "old", "new")
    suite = str(suites_dir() / "test_dag_import.py")
    pytest_args = ["pytest", suite, "--source", "old", "--target", "new", "--mwaa-config", str(config)]
    tool = Tool([*pytest_args, "-p", "no:cacheprovider", "-o", "addopts="], scratch, cache_dir)
    tool.wait_until(lambda: both_up_and_probing(scratch), "both servers up and a DAG probe")

    exit_code, output = tool.stop(signum)

    assert exit_code == pytest.ExitCode.INTERRUPTED, output
    assert_nothing_left(scratch)


def test_what_a_sigkill_leaves_is_removed_by_the_next_run(cache_dir: Path, scratch: Path, dags: Path) -> None:
    config = config_file(scratch, dags, "killed")
    dags_command = ["mwaa_verify.cli", "--mwaa-config", str(config), "dags", "killed"]
    killed = Tool(dags_command, scratch, cache_dir)
    killed.wait_for_line("airflow db migrate")
    killed.process.kill()
    killed.finish()
    left = leftover_dirs(scratch)
    assert postgres_servers_under(str(scratch)) and left, "a SIGKILL leaves the server and its files"
    assert all(name.startswith(f"mwaa-verify-pid{killed.process.pid}-") for name in left)

    next_run = Tool(dags_command, scratch, cache_dir)
    assert next_run.process.wait(timeout=600) == 0, next_run.finish()
    output = next_run.finish()

    assert "cleaned up after an earlier run that was killed" in output
    assert_nothing_left(scratch)


FORKS_AT_IMPORT = """
import os
import time
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

if os.fork() == 0:
    time.sleep(3600)
    os._exit(0)

with DAG("forks_at_import", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="start")
"""


def test_a_dag_file_that_starts_a_background_process_does_not_hang_the_report(cache_dir: Path, scratch: Path) -> None:
    dags = scratch / "dags"
    dags.mkdir()
    corpus = Path(__file__).resolve().parent / "dag_corpus"
    shutil.copy(corpus / "background_process_at_import.py", dags)
    # a fork at import: the copy of the parsing child holds the pipe its result goes through
    (dags / "forks_at_import.py").write_text(FORKS_AT_IMPORT)
    config = config_file(scratch, dags, "spawning")
    tool = Tool(["mwaa_verify.cli", "--mwaa-config", str(config), "dags", "spawning"], scratch, cache_dir)

    # far below the probe's own timeout (1800 s): the report does not wait for the DAG file's children
    exit_code = tool.process.wait(timeout=600)
    output = tool.finish()

    assert exit_code == 0, output
    assert "2 files, 2 DAGs, 0 import errors" in output
    assert_nothing_left(scratch)
