"""Real Airflow web servers for tests: the 2.x webserver (/api/v1, basic auth) or the 3.x api-server (/api/v2,
tokens) of an ephemeral environment, with its dag-processor's view of the DAGs, as the REST backend of the
MWAA double."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from aws_double import AirflowRestApi

from mwaa_verify import ownership
from mwaa_verify.environments.ephemeral import EphemeralEnvironment

READY_SECONDS = 180
V1_PASSWORD = "rest-api-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def airflow_process(
    environment: EphemeralEnvironment, args: list[str], extra_env: dict[str, str], log_name: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a long-lived `airflow ...` process of `environment` (output in `<workdir>/<log_name>`); stopped after,
    with its group and whatever works in its own directory (task processes that moved to groups of their own)."""
    assert environment.workdir is not None
    log_path = environment.workdir / log_name
    scratch = ownership.make_owned_dir(log_name.split(".")[0])
    with ownership.deferred_signals(), log_path.open("w") as log:
        process = subprocess.Popen(
            [str(environment.python), "-m", "airflow", *args],
            env=environment.process_env(extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=scratch,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        ownership.stop(process, scratch, grace=60)
        ownership.remove_owned_dir(scratch)


@contextmanager
def serve(
    environment: EphemeralEnvironment, command: list[str], health: str, extra_env: dict[str, str]
) -> Iterator[str]:
    """Run an Airflow web process of `environment`; yields its base URL once `health` answers, stops it after."""
    assert environment.workdir is not None
    port = free_port()
    log_path = environment.workdir / "web.log"
    url = f"http://127.0.0.1:{port}"
    with airflow_process(environment, [*command, str(port)], extra_env, log_path.name) as process:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{url}{health}", timeout=5):
                    break
            except OSError:
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, f"the web server did not come up: {log_path.read_text()[-3000:]}"
                time.sleep(1)
        yield url


@contextmanager
def rest_api(environment: EphemeralEnvironment, parse_first: bool = True) -> Iterator[AirflowRestApi]:
    """The environment's REST API, served after its dag-processor parsed the DAGs folder (unless a running
    dag-processor of its own does that)."""
    if parse_first:
        environment.parse_dags()
    if environment.version.is_airflow3:
        command, health = ["api-server", "--host", "127.0.0.1", "--port"], "/api/v2/monitor/health"
        with serve(environment, command, health, {}) as url:
            assert environment.airflow_home is not None
            generated = environment.airflow_home / "simple_auth_manager_passwords.json.generated"
            yield AirflowRestApi(url, 2, "admin", json.loads(generated.read_text())["admin"])
        return
    environment.airflow("users", "create", "--username", "admin", "--password", V1_PASSWORD, "--role", "Admin",
                        "--email", "admin@example.invalid", "--firstname", "A", "--lastname", "Dmin")  # fmt: skip
    settings = {
        "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
        "AIRFLOW__WEBSERVER__WORKERS": "1",
    }
    with serve(environment, ["webserver", "--hostname", "127.0.0.1", "--port"], "/api/v1/health", settings) as url:
        yield AirflowRestApi(url, 1, "admin", V1_PASSWORD)
