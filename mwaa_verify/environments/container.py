"""The `container` kind: Airflow and PostgreSQL as containers on a Docker-API engine, through testcontainers.

A PostgreSQL container and an Airflow container on a network of their own; ports only on 127.0.0.1. Everything
an Airflow process does (`airflow db migrate`, the dag-processor, the DAG and environment probes) runs inside
the Airflow container with `exec`: the probes are this package's own files, mounted read-only. Rows are read
from the PostgreSQL container through its mapped port, task logs from the container's log folder, a host folder
mounted into it. The DAGs folder is mounted read-only, so the user's files are never touched.

Ryuk (testcontainers' reaper) is not used, since its image may not be pullable: this module stops and removes its
own containers and network on close, at interpreter exit, on Ctrl-C and SIGTERM. Each carries the labels below
(owner pid and host), and every start removes labelled leftovers whose owner process is gone.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mwaa_verify import ownership, progress
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.config import ContainerConfig
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import PROBES, HostAirflow, _tail
from mwaa_verify.errors import EnvironmentStartError, ProbeError

# testcontainers reads these once, at import: no reaper image to pull, and no guessing from inside a container
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

LABEL = "io.github.mwaa-verify"
LABEL_OWNER_PID = f"{LABEL}.owner-pid"
LABEL_OWNER_HOST = f"{LABEL}.owner-host"
LABEL_ENVIRONMENT = f"{LABEL}.environment"
# where containers should be started (a cgroup of the caller's), on hosts that account resources per cgroup
CGROUP_PARENT_VARIABLE = "MWAA_VERIFY_CGROUP_PARENT"

DAGS_IN = "/opt/airflow/dags"
LOGS_IN = "/opt/airflow/logs"
PROBES_IN = "/opt/mwaa-verify/probes"
OUT_IN = "/opt/mwaa-verify/out"
CA_IN = "/opt/mwaa-verify/ca.crt"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
POSTGRES_USER = "airflow"
POSTGRES_DB = "airflow"
READY_TIMEOUT_SECONDS = 180
MIGRATE_TIMEOUT_SECONDS = 900
RUN_TIMEOUT_SECONDS = 900
PIP_TIMEOUT_SECONDS = 900
# PID 1 of the Airflow container: waits, ends at once on SIGTERM (a plain `sleep` as PID 1 ignores it)
_IDLE = "import signal, sys; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); signal.pause()"
# Airflow options that are secrets: given to each process run in the container, not to the container itself
SECRET_VARIABLES = (
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__WEBSERVER__SECRET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
)
_ENGINE_SOCKETS = ("/var/run/docker.sock", "{runtime}/podman/podman.sock", "/run/podman/podman.sock")

_open_environments: set[ContainerEnvironment] = set()


@atexit.register
def _close_leftovers() -> None:
    for environment in list(_open_environments):
        environment.close()


def discover_docker_host() -> str:
    """The engine to use: DOCKER_HOST as set, else Docker's default socket, else podman's."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    runtime = os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}")
    for candidate in _ENGINE_SOCKETS:
        path = Path(candidate.format(runtime=runtime))
        if path.is_socket():
            return f"unix://{path}"
    raise EnvironmentStartError(
        "no container engine found (DOCKER_HOST is unset and no Docker or podman socket exists); start one "
        "(`podman system service --time=0 unix:///run/podman/podman.sock &` or dockerd) and set DOCKER_HOST"
    )


def docker_client(where: str) -> Any:
    import docker

    host = discover_docker_host()
    try:
        client = docker.DockerClient(base_url=host, timeout=600)
        client.ping()
    except Exception as exc:
        raise EnvironmentStartError(
            f"{where}: the container engine at {host} does not answer ({type(exc).__name__}); start it or point "
            f"DOCKER_HOST at a running one"
        ) from None
    os.environ["DOCKER_HOST"] = host  # testcontainers connects through DOCKER_HOST
    return client


def remove_leftovers(client: Any) -> list[str]:
    """Remove containers and networks a dead mwaa-verify process on this host left behind; their names."""
    removed = []
    here = socket.gethostname()

    def orphaned(labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        pid = labels.get(LABEL_OWNER_PID, "")
        return labels.get(LABEL_OWNER_HOST) == here and pid.isdigit() and not ownership.alive(int(pid))

    for container in client.containers.list(all=True, filters={"label": LABEL_OWNER_PID}):
        if orphaned(container.labels):
            container.remove(force=True, v=True)
            removed.append(container.name)
    for network in client.networks.list(filters={"label": LABEL_OWNER_PID}):
        if orphaned(network.attrs.get("Labels")):
            network.remove()
            removed.append(network.name)
    return removed


class ContainerEnvironment(HostAirflow):
    def __init__(self, config: ContainerConfig) -> None:
        self.config = config
        self.workdir: Path | None = None
        self._client: Any = None
        self._network: Any = None
        self._postgres: Any = None
        self._airflow: Any = None
        self._out: Path | None = None
        self._version: AirflowVersion | None = None
        self._network_url = ""
        self._secret_env: dict[str, str] = {}
        self._lock = threading.Lock()
        super().__init__(
            name=config.name,
            kind="container",
            python=Path("python"),
            sql_alchemy_conn="",
            dags_folder=config.dags_folder or Path(),
            base_log_folder=None,
            airflow_home=None,
            policy_file=config.policy_file,
        )

    @property
    def started(self) -> bool:
        return self._airflow is not None

    def labels(self) -> dict[str, str]:
        return {
            LABEL_OWNER_PID: str(os.getpid()),
            LABEL_OWNER_HOST: socket.gethostname(),
            LABEL_ENVIRONMENT: self.name,
        }

    def start(self) -> None:
        if self.started:
            return
        ownership.install_signal_handlers()  # SIGTERM and SIGHUP unwind like Ctrl-C, so close() runs
        _open_environments.add(self)
        try:
            self._provision()
        except BaseException:
            self.close()
            raise

    def _provision(self) -> None:
        where = f"environment {self.name!r}"
        self._client = docker_client(where)
        remove_leftovers(self._client)
        airflow_image = self._airflow_image()
        postgres_image = self._image(self.config.postgres_image, "postgres_image")
        ownership.sweep_stale()
        self.workdir = ownership.make_owned_dir("container")
        self.workdir.chmod(0o755)
        self.base_log_folder = self.workdir / "logs"
        self._out = self.workdir / "out"
        for folder in (self.base_log_folder, self._out):
            folder.mkdir()
            folder.chmod(0o777)  # the image's Airflow user need not be root
        if self.config.dags_folder is None:
            self.dags_folder = self.workdir / "dags"
            self.dags_folder.mkdir()

        from testcontainers.core.container import DockerContainer
        from testcontainers.core.network import Network

        with self._engine_errors("creating the network"), ownership.deferred_signals():
            self._network = Network(docker_network_kw={"labels": self.labels()}).create()
        # the engine shows a container's environment to anyone who may inspect it: the PostgreSQL container
        # starts with a bootstrap password that is replaced once it is up, and Airflow's secrets reach only the
        # processes run in its container (exec), never the container's own environment
        bootstrap = secrets.token_urlsafe(18)
        password = secrets.token_urlsafe(18)
        self._network_url = f"postgresql+psycopg2://{POSTGRES_USER}:{password}@postgres:5432/{POSTGRES_DB}"
        with progress.step(f"{self.name}: starting PostgreSQL ({postgres_image})"):
            self._postgres = (
                DockerContainer(postgres_image)
                .with_env("POSTGRES_USER", POSTGRES_USER)
                .with_env("POSTGRES_PASSWORD", bootstrap)
                .with_env("POSTGRES_DB", POSTGRES_DB)
                .with_network(self._network)
                .with_network_aliases("postgres")
                .with_name(self._container_name("postgres"))
                .with_kwargs(**self._run_kwargs("postgres"))
            )
            self._postgres.ports["5432/tcp"] = ("127.0.0.1",)  # any free port, on the loopback only
            with self._engine_errors(f"starting PostgreSQL ({postgres_image})"), ownership.deferred_signals():
                self._postgres.start()
            port = self._mapped_port(self._postgres, 5432)
            self.sql_alchemy_conn = f"postgresql+psycopg2://{POSTGRES_USER}:{bootstrap}@127.0.0.1:{port}/{POSTGRES_DB}"
            self._wait_for_postgres()
            self._replace_password(bootstrap, password)
            self.sql_alchemy_conn = f"postgresql+psycopg2://{POSTGRES_USER}:{password}@127.0.0.1:{port}/{POSTGRES_DB}"
        with progress.step(f"{self.name}: starting Airflow ({airflow_image})"):
            airflow = (
                DockerContainer(airflow_image)
                .with_network(self._network)
                .with_volume_mapping(str(self.dags_folder.resolve()), DAGS_IN, "ro")
                .with_volume_mapping(str(self.base_log_folder), LOGS_IN, "rw")
                .with_volume_mapping(str(PROBES), PROBES_IN, "ro")
                .with_volume_mapping(str(self._out), OUT_IN, "rw")
                .with_name(self._container_name("airflow"))
                .with_kwargs(entrypoint=["python", "-c", _IDLE], **self._run_kwargs("airflow"))
            )
            if HOST_CA_BUNDLE.is_file():
                airflow.with_volume_mapping(str(HOST_CA_BUNDLE), CA_IN, "ro")
            public, self._secret_env = self._airflow_env()
            for key, value in public.items():
                airflow.with_env(key, value)
            self._airflow = airflow
            with self._engine_errors(f"starting Airflow ({airflow_image})"), ownership.deferred_signals():
                airflow.start()
        self._check_versions()
        if self.config.requirements:
            self._install_requirements()
        with progress.step(f"{self.name}: airflow db migrate (Airflow {self.version})"):
            self.airflow("db", "migrate", timeout=MIGRATE_TIMEOUT_SECONDS)

    @contextlib.contextmanager
    def _engine_errors(self, what: str) -> Iterator[None]:
        """The engine's refusals (docker's APIError, testcontainers' errors) as one line naming the fix."""
        import docker.errors

        try:
            yield
        except (docker.errors.DockerException, RuntimeError) as exc:
            detail = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
            lines = [line.strip() for line in str(detail).splitlines() if line.strip()]
            raise EnvironmentStartError(
                f"environment {self.name!r}: the container engine refused {what}: "
                f"{(lines[-1] if lines else type(exc).__name__)[:200]}; fix what the engine names (the image, "
                f"a mounted folder, the engine's state: `docker info` / `podman info`) and run again"
            ) from None

    def _run_kwargs(self, role: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "labels": {**self.labels(), f"{LABEL}.role": role},
        }
        if os.environ.get(CGROUP_PARENT_VARIABLE):
            kwargs["cgroup_parent"] = os.environ[CGROUP_PARENT_VARIABLE]
        return kwargs

    def _container_name(self, role: str) -> str:
        return f"mwaa-verify-{self.name}-{role}-{uuid.uuid4().hex[:8]}"

    def _airflow_image(self) -> str:
        image = self.config.airflow_image
        if self.config.build_context is not None:
            with progress.step(f"{self.name}: building {image} from {self.config.build_context}"):
                try:
                    self._client.images.build(path=str(self.config.build_context), tag=image, rm=True)
                except Exception as exc:
                    raise EnvironmentStartError(
                        f"environment {self.name!r}: building {image} from {self.config.build_context} failed: "
                        f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}; fix "
                        f"the Dockerfile or remove build_context"
                    ) from None
            return image
        return self._image(image, "airflow_image")

    def _image(self, image: str, key: str) -> str:
        import docker.errors

        try:
            self._client.images.get(image)
            return image
        except docker.errors.ImageNotFound:
            pass
        try:
            with progress.step(f"{self.name}: pulling {image}"):
                self._client.images.pull(image)
            return image
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise EnvironmentStartError(
                f"environment {self.name!r}: image {image} ({key}) is not on the engine and cannot be pulled "
                f"({reason}); build it (docker build -t {image} ...), load it (docker load -i image.tar) or "
                f"set {key} to an image the engine has"
            ) from None

    @staticmethod
    def _mapped_port(container: Any, port: int) -> int:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        bindings = wrapped.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
        return int(bindings[0]["HostPort"])

    def _wait_for_postgres(self) -> None:
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.sql_alchemy_conn, poolclass=sqlalchemy.pool.NullPool)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        try:
            while True:
                try:
                    with engine.connect() as connection:
                        connection.execute(sqlalchemy.text("select 1"))
                    return
                except sqlalchemy.exc.OperationalError:
                    wrapped = self._postgres.get_wrapped_container()
                    wrapped.reload()
                    if wrapped.status in ("exited", "dead") or time.monotonic() > deadline:
                        logs = wrapped.logs(tail=10).decode(errors="replace")
                        raise EnvironmentStartError(
                            f"environment {self.name!r}: PostgreSQL ({self.config.postgres_image}) did not accept "
                            f"connections ({wrapped.status}): {_tail(logs)}"
                        ) from None
                    time.sleep(0.5)
        finally:
            engine.dispose()

    def _replace_password(self, bootstrap: str, password: str) -> None:
        """Set the database user's password to one the PostgreSQL container's environment does not show."""
        wrapped = self._postgres.get_wrapped_container()
        sql = f"ALTER ROLE {POSTGRES_USER} PASSWORD :'password';"
        code, output = wrapped.exec_run(
            [
                "sh",
                "-c",
                f'echo "{sql}" | psql -q -v ON_ERROR_STOP=1 -v password="$NEW_PASSWORD" '
                f"-h 127.0.0.1 -U {POSTGRES_USER} -d {POSTGRES_DB}",
            ],
            environment={"PGPASSWORD": bootstrap, "NEW_PASSWORD": password},
        )
        if code != 0:
            raise EnvironmentStartError(
                f"environment {self.name!r}: cannot set the database password in {self.config.postgres_image} "
                f"(psql exit {code}: {_last_line(output.decode(errors='replace'))}); use a PostgreSQL image with psql"
            )

    def _airflow_env(self) -> tuple[dict[str, str], dict[str, str]]:
        """(the Airflow container's environment, the secrets every process run in it gets)."""
        options = {
            "core.fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "core.executor": "LocalExecutor",
            "core.parallelism": "2",
            "core.dagbag_import_timeout": "30",
            "core.load_examples": "False",
            "core.dags_folder": DAGS_IN,
            "logging.base_log_folder": LOGS_IN,
            "database.sql_alchemy_conn": self._network_url,
            "database.sql_alchemy_pool_enabled": "False",
            "webserver.secret_key": base64.urlsafe_b64encode(os.urandom(24)).decode(),
            "api_auth.jwt_secret": base64.urlsafe_b64encode(os.urandom(64)).decode(),
            **self.config.airflow_config,
        }
        env = {"AIRFLOW__" + key.replace(".", "__", 1).upper(): value for key, value in options.items()}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        if HOST_CA_BUNDLE.is_file():
            env["PIP_CERT"] = CA_IN
        secret = {key: env.pop(key) for key in SECRET_VARIABLES if key in env}
        return env, secret

    # -- container-specific checks ---------------------------------------------------------------------

    @property
    def version(self) -> AirflowVersion:
        if self._version is None:
            self._version = AirflowVersion.parse(self.info().airflow_version)
        return self._version

    def _check_versions(self) -> None:
        info = self.info()
        expected = self.config.airflow_version
        if expected is not None and info.airflow_version != expected:
            raise EnvironmentStartError(
                f"environment {self.name!r}: image {self.config.airflow_image} has Airflow {info.airflow_version}, "
                f"the configuration says {expected}; use an image with Airflow {expected} or fix airflow_version"
            )
        wanted = self.config.python_version
        if wanted is not None and not (info.python_version == wanted or info.python_version.startswith(f"{wanted}.")):
            raise EnvironmentStartError(
                f"environment {self.name!r}: image {self.config.airflow_image} has Python {info.python_version}, "
                f"the configuration says {wanted}; use an image with Python {wanted} or fix python_version"
            )

    def _install_requirements(self) -> None:
        """Install the requirements into the running image, constrained to what the image already has: a
        requirement that needs another version of anything installed (Airflow itself included) is refused, as
        the MWAA local runner's test-requirements refuses it."""
        constraints = f"{OUT_IN}/constraints-{uuid.uuid4().hex}.txt"
        requirements = f"{OUT_IN}/requirements-{uuid.uuid4().hex}.txt"
        assert self._out is not None
        (self._out / Path(requirements).name).write_text("".join(f"{line}\n" for line in self.config.requirements))
        script = (
            f"python -m pip freeze --exclude-editable > {constraints} && "
            f"python -m pip install --quiet --disable-pip-version-check -r {requirements} -c {constraints}"
        )
        with progress.step(f"{self.name}: installing {len(self.config.requirements)} requirement(s) in the image"):
            completed = self.exec(["sh", "-c", script], PIP_TIMEOUT_SECONDS)
        if completed.returncode != 0:
            raise EnvironmentStartError(
                f"environment {self.name!r}: the requirements do not install in {self.config.airflow_image} with "
                f"its installed packages as constraints: {_last_line(completed.stderr or completed.stdout)}; "
                f"pin versions the image has, or use an image built with them"
            )
        self._info = None  # the installed requirements are part of what info() reports

    # -- processes inside the Airflow container ----------------------------------------------------------

    def exec(self, command: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> Any:
        if self._airflow is None:
            raise ProbeError(f"environment {self.name!r} is not started")
        wrapped = self._airflow.get_wrapped_container()
        code, (stdout, stderr) = wrapped.exec_run(
            ["timeout", "--signal=KILL", str(int(timeout)), *command],
            environment={**self._secret_env, **(env or {})},
            demux=True,
        )
        return subprocess.CompletedProcess(
            list(command),
            code,
            (stdout or b"").decode(errors="replace"),
            (stderr or b"").decode(errors="replace"),
        )

    def run(
        self,
        args: Sequence[str],
        timeout: float,
        what: str,
        extra_env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        completed = self.exec(["python", *args], timeout, extra_env)
        if completed.returncode == 137:
            raise ProbeError(f"environment {self.name!r}: {what} took longer than {timeout:.0f} s")
        if check and completed.returncode != 0:
            raise ProbeError(
                f"environment {self.name!r}: {what} failed (exit {completed.returncode}) in "
                f"{self.config.airflow_image}:\n{_tail(completed.stderr or completed.stdout)}"
            )
        return completed

    @contextlib.contextmanager
    def probe_scratch(self, what: str) -> Iterator[tuple[Path, str]]:
        """A folder inside the mounted out folder: (its host path, its path in the Airflow container)."""
        assert self._out is not None, "start the environment first"
        name = f"{what}-{uuid.uuid4().hex}"
        here = self._out / name
        with ownership.deferred_signals():
            here.mkdir()
            here.chmod(0o777)  # the image's Airflow user need not be this host's user
        try:
            yield here, f"{OUT_IN}/{name}"
        finally:
            with ownership.deferred_signals():
                self._remove_written(here, f"{OUT_IN}/{name}")

    def probe_path(self, script: str) -> str:
        return f"{PROBES_IN}/{script}"

    def probe_dags_folder(self) -> str:
        return DAGS_IN

    def probe_database_url(self) -> str:
        return self._network_url  # the PostgreSQL container, as the Airflow container reaches it

    def _remove_written(self, here: Path, there: str) -> None:
        """Remove a host folder the container wrote into; files of the container's user (another uid on a
        rootless engine) are removed from inside the container."""
        shutil.rmtree(here, ignore_errors=True)
        if here.exists() and self._airflow is not None:
            with contextlib.suppress(Exception):
                self._airflow.get_wrapped_container().exec_run(["rm", "-rf", there], user="0")
            shutil.rmtree(here, ignore_errors=True)

    def plugins_path(self) -> Path | None:
        return None  # the plugins folder is inside the image

    def parse_dags(self) -> None:
        """Let the dag-processor parse the DAGs folder once, as a running deployment does."""
        if self.version.is_airflow3:
            self.airflow("dag-processor", "--num-runs", "1", timeout=RUN_TIMEOUT_SECONDS)
        else:
            self.airflow("dags", "reserialize", timeout=RUN_TIMEOUT_SECONDS)

    # one implementation of running a DAG's history, the ephemeral kind's: on 2.x a DAG with mapped tasks is
    # backfilled in two passes, so its mapped task instances run every time (no "BackfillJob is deadlocked")
    run_dag = EphemeralEnvironment.run_dag
    _upstream_of_mapped = EphemeralEnvironment._upstream_of_mapped

    def _release_written_files(self) -> None:
        """Before the Airflow container stops: make what its user wrote into the mounted folders removable by
        this host's user (on a rootless engine that user is another uid here)."""
        if self._airflow is None or self.workdir is None:
            return
        with contextlib.suppress(Exception):  # the container may be gone already; close() reports what remains
            self._airflow.get_wrapped_container().exec_run(["chmod", "-R", "a+rwX", LOGS_IN, OUT_IN], user="0")

    def close(self) -> None:
        with self._lock, ownership.deferred_signals():  # a signal cannot interrupt the cleanup half-way
            super().close()
            self._release_written_files()
            for attribute in ("_airflow", "_postgres"):
                container = getattr(self, attribute)
                setattr(self, attribute, None)
                if container is not None:
                    with contextlib.suppress(Exception):  # already gone
                        container.stop(force=True, delete_volume=True)
            if self._network is not None:
                with contextlib.suppress(Exception):
                    self._network.remove()
                self._network = None
            if self._client is not None:
                self._client.close()
                self._client = None
            if self.workdir is not None:
                ownership.remove_owned_dir(self.workdir)
                if self.workdir.exists():
                    progress.say(
                        f"{self.name}: could not remove {self.workdir} (files the container's user wrote); "
                        f"remove it by hand (e.g. `podman unshare rm -rf {self.workdir}`)"
                    )
                self.workdir = None
            _open_environments.discard(self)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
