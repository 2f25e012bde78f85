"""Everything an ephemeral environment starts is stopped, and everything it creates removed: after a normal
close, after Ctrl-C in the middle of provisioning, and after SIGTERM to the CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import postgres_servers_under
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION
from mwaa_verify.config import EphemeralConfig
from mwaa_verify.environments.ephemeral import EphemeralEnvironment

pytestmark = pytest.mark.slow


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 600) -> list[str]:
    """Read the process's stderr until a line contains `text`; the lines read so far."""
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}; stderr was:\n{''.join(seen)}")


def test_close_stops_the_server_and_removes_the_files(cache_dir: Path) -> None:
    environment = EphemeralEnvironment(EphemeralConfig(name="closed", airflow_version=DEMO_SOURCE_VERSION), cache_dir)
    environment.start()
    assert environment.cluster is not None and environment.workdir is not None
    pid = environment.cluster.postmaster_pid()
    workdir = environment.workdir
    assert pid is not None and postgres_servers_under(str(workdir))

    environment.close()

    assert not postgres_servers_under(str(workdir))
    assert not Path(f"/proc/{pid}").exists()
    assert not workdir.exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_during_provisioning_leaves_nothing_behind(
    cache_dir: Path, tmp_path: Path, signum: signal.Signals, request: pytest.FixtureRequest
) -> None:
    # PostgreSQL runs as `postgres` when the tests run as root: its directories must be traversable
    scratch = Path(tempfile.mkdtemp(prefix="cleanup-test-"))
    scratch.chmod(0o711)
    request.addfinalizer(lambda: shutil.rmtree(scratch, ignore_errors=True))
    config = tmp_path / "mwaa-verify.toml"
    config.write_text(f'[environments.interrupted]\nkind = "ephemeral"\nairflow_version = "{DEMO_SOURCE_VERSION}"\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "mwaa_verify.cli", "--mwaa-config", str(config), "dags", "interrupted"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch), "MWAA_VERIFY_CACHE_DIR": str(cache_dir)},
    )
    try:
        wait_for_line(process, "airflow db migrate")
        assert postgres_servers_under(str(scratch)), "the server should be up while the database is migrated"

        process.send_signal(signum)
        exit_code = process.wait(timeout=120)
        assert process.stderr is not None
        rest = process.stderr.read()
    finally:
        process.kill()

    assert exit_code == 130
    assert "mwaa-verify: interrupted; everything started was stopped" in rest
    assert "Traceback" not in rest
    assert not postgres_servers_under(str(scratch))
    assert [path.name for path in scratch.iterdir() if path.name.startswith("mwaa-verify-")] == []
