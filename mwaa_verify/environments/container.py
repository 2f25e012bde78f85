"""The `container` kind: Airflow and PostgreSQL as containers on a Docker-API engine, through testcontainers.

A PostgreSQL container and an Airflow container on a network of their own; ports only on 127.0.0.1. Everything
an Airflow process does (`airflow db migrate`, the dag-processor, the DAG and environment probes) runs inside
the Airflow container with `exec`: the probes are this package's own files, mounted read-only. Rows are read
from the PostgreSQL container through its mapped port, task logs from the container's log folder, a host folder
mounted into it. The DAGs folder is mounted read-only, so the user's files are never touched.

Ryuk (testcontainers' reaper) is not used, since its image may not be pullable: this module stops and removes its
own containers and network on close, at interpreter exit, on Ctrl-C and SIGTERM. Each carries the labels below
(owner pid and host), and every start removes labelled leftovers whose owner process is gone.

Keep and attach: with `keep`, close() leaves a started environment's containers running, labelled kept, so a
later process (`mwaa-verify run`, `pytest suites`) can `attach` to them by their key instead of starting new
ones; the connection secrets live in a root-only file inside the Airflow container, never on the host. Kept
containers are removed only by `mwaa-verify containers --remove`. A process also attaches to the containers of
a live owner (the demo's suites attach to the demo's containers).

Exec sessions: podman keeps each exec session's monitor (`conmon`) alive for minutes after the command ended
(its exit delay). Each exec here ends its monitor once the exit code is read, and close() ends any left of its
containers, so nothing of an environment outlives it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import itertools
import json
import os
import secrets
import shutil
import signal
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
LABEL_KEY = f"{LABEL}.key"  # what attach looks for
LABEL_INSTANCE = f"{LABEL}.instance"  # one environment's containers and network
LABEL_KEPT = f"{LABEL}.kept"
LABEL_ROLE = f"{LABEL}.role"
# where containers should be started (a cgroup of the caller's), on hosts that account resources per cgroup
CGROUP_PARENT_VARIABLE = "MWAA_VERIFY_CGROUP_PARENT"

DAGS_IN = "/opt/airflow/dags"
LOGS_IN = "/opt/airflow/logs"
PROBES_IN = "/opt/mwaa-verify/probes"
OUT_IN = "/opt/mwaa-verify/out"
CA_IN = "/opt/mwaa-verify/ca.crt"
STATE_IN = "/opt/mwaa-verify/state.json"  # the connection secrets an attaching process needs (root only)
STATE_VARIABLE = "MWAA_VERIFY_STATE"
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


def _on_this_host(labels: Mapping[str, str] | None) -> bool:
    return (labels or {}).get(LABEL_OWNER_HOST) == socket.gethostname()


def _owner_alive(labels: Mapping[str, str] | None) -> bool:
    pid = (labels or {}).get(LABEL_OWNER_PID, "")
    return pid.isdigit() and ownership.alive(int(pid))


def _kept(labels: Mapping[str, str] | None) -> bool:
    return (labels or {}).get(LABEL_KEPT) == "true"


def _containers(client: Any, stopped_too: bool = True, **filters: Any) -> list[Any]:
    """Containers matching `filters`, without those another process removes while they are listed: the engine
    lists ids first and describes each after, and a concurrent run's cleanup can win in between."""
    import docker.errors

    found = []
    for summary in client.api.containers(all=stopped_too, filters=filters):
        try:
            found.append(client.containers.get(summary["Id"]))
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:
            if "no such container" not in str(exc).lower():
                raise
    return found


def _remove_container(container: Any) -> None:
    """Remove `container` with its anonymous volumes; one another process already removed is fine."""
    import docker.errors

    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "no such container" not in str(exc).lower():
            raise


def remove_leftovers(client: Any) -> list[str]:
    """Remove containers and networks a dead mwaa-verify process on this host left behind (those it was asked to
    keep stay, for `mwaa-verify containers --remove`); their names."""
    removed = []

    listed = _containers(client, label=LABEL_OWNER_PID)
    ready = {c.labels.get(LABEL_INSTANCE) for c in listed if _kept(c.labels) and _ready_marked(_workdir_of(c))}

    def orphaned(labels: Mapping[str, str] | None) -> bool:
        kept = _kept(labels) and (labels or {}).get(LABEL_INSTANCE) in ready  # a killed provisioning is not kept
        return _on_this_host(labels) and not kept and not _owner_alive(labels)

    for container in listed:
        if orphaned(container.labels):
            workdir = _workdir_of(container) if _kept(container.labels) else None
            _remove_container(container)
            if workdir is not None and (workdir / ownership.KEEP_MARKER).is_file():
                shutil.rmtree(workdir, ignore_errors=True)  # kept folders are not swept as owned ones
            end_exec_sessions(container_ids=[container.id])
            removed.append(container.name)
    for network in client.networks.list(filters={"label": LABEL_OWNER_PID}):
        if orphaned(network.attrs.get("Labels")):
            network.remove()
            removed.append(network.name)
    return removed


def ensure_image(client: Any, image: str, what: str, choose: str) -> str:
    """`image` is on the engine (pulled if it must be), or one line saying how to provide it."""
    import docker.errors

    try:
        client.images.get(image)
        return image
    except docker.errors.ImageNotFound:
        pass
    try:
        with progress.step(f"pulling {image}"):
            client.images.pull(image)
        return image
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise EnvironmentStartError(
            f"{what} is not on the engine and cannot be pulled ({reason}); build it (docker build -t {image} ...), "
            f"load it (docker load -i image.tar) or {choose}"
        ) from None


def check_images(images: Mapping[str, str]) -> None:
    """Before anything starts: the engine answers and has (or can pull) each image; keys name the option."""
    client = docker_client("container images")
    try:
        for option, image in images.items():
            ensure_image(client, image, f"image {image} ({option})", f"pass {option} IMAGE the engine has")
    finally:
        client.close()


def attach_config_toml(environment: ContainerEnvironment) -> str:
    """A configuration section that attaches to this running environment's containers (the demo's suites)."""
    config = environment.config
    lines = [
        f"[environments.{environment.name}]",
        'kind = "container"',
        "attach = true",
        f"key = {json.dumps(config.attach_key)}",
        f"airflow_image = {json.dumps(config.airflow_image)}",
        f"postgres_image = {json.dumps(config.postgres_image)}",
        f"airflow_version = {json.dumps(environment.info().airflow_version)}",
    ]
    return "\n".join(lines) + "\n"


def kept_containers(client: Any, key: str | None = None) -> list[Any]:
    """Containers on this host kept for attach (of `key`, or all)."""
    filters = [LABEL_KEPT + "=true", *([f"{LABEL_KEY}={key}"] if key else [])]
    found = _containers(client, label=filters)
    return [container for container in found if _on_this_host(container.labels)]


READY_MARKER = ".mwaa-verify-ready"


def _ready_marked(workdir: Path | None) -> bool:
    """Whether a kept set finished starting (its folder holds the marker start() writes once it is ready)."""
    return workdir is not None and (workdir / READY_MARKER).is_file()


def remove_kept(client: Any, key: str | None = None) -> list[str]:
    """Remove kept containers (of `key`, or all on this host), their networks and their host folders; names."""
    import docker.errors

    removed = []
    instances = set()
    for container in kept_containers(client, key):
        instances.add(container.labels.get(LABEL_INSTANCE))
        workdir = _workdir_of(container)
        if container.status == "running" and container.labels.get(LABEL_ROLE) == "airflow":
            with contextlib.suppress(Exception):  # stopped meanwhile: the folder removal below does what it can
                _exec(client, container, ["chmod", "-R", "a+rwX", LOGS_IN, OUT_IN], user="0")  # host files removable
        _remove_container(container)
        end_exec_sessions(container_ids=[container.id])
        removed.append(container.name)
        if workdir is not None and (workdir / ownership.KEEP_MARKER).is_file():
            shutil.rmtree(workdir, ignore_errors=True)
    for network in client.networks.list(filters={"label": LABEL_KEPT + "=true"}):
        if network.attrs.get("Labels", {}).get(LABEL_INSTANCE) in instances:
            with contextlib.suppress(docker.errors.NotFound):  # removed by another run meanwhile
                network.remove()
            removed.append(network.name)
    return removed


def _workdir_of(container: Any) -> Path | None:
    """The host folder whose logs/ is mounted at LOGS_IN (an Airflow container of this module's)."""
    for mount in container.attrs.get("Mounts") or []:
        if mount.get("Destination") == LOGS_IN and mount.get("Source"):
            return Path(mount["Source"]).parent
    return None


def _mount_source(container: Any, destination: str) -> Path:
    for mount in container.attrs.get("Mounts") or []:
        if mount.get("Destination") == destination and mount.get("Source"):
            return Path(mount["Source"])
    raise EnvironmentStartError(
        f"container {container.name} mounts nothing at {destination}: it was not started by mwaa-verify; "
        f"remove it (`mwaa-verify containers --remove`) and start the environment again"
    )


# every exec session this process started: only their monitors are ever ended on a container that stays
_exec_ids: set[str] = set()


def _exec(
    client: Any, container: Any, command: Sequence[str], env: Mapping[str, str] | None = None, user: str = ""
) -> tuple[int, bytes, bytes]:
    """Run `command` in `container`, wait for it, then end its exec session's monitor (see the module's note)."""
    api = client.api
    exec_id = api.exec_create(container.id, list(command), environment=dict(env or {}), user=user)["Id"]
    _exec_ids.add(exec_id)
    try:
        stdout, stderr = api.exec_start(exec_id, demux=True)
        code = api.exec_inspect(exec_id).get("ExitCode")
    finally:
        end_exec_sessions(exec_ids=[exec_id])
    return (-1 if code is None else int(code)), stdout or b"", stderr or b""


def exec_monitors(container_ids: Sequence[str] = (), exec_ids: Sequence[str] = ()) -> list[int]:
    """pids of podman's `conmon` monitors of these containers (`-c ID`) or these exec sessions (`-u ID`)."""
    wanted = {("-c", cid) for cid in container_ids} | {("-u", eid) for eid in exec_ids}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not args or Path(args[0].decode(errors="replace")).name != "conmon":
            continue
        words = [arg.decode(errors="replace") for arg in args]
        if any((flag, value) in wanted for flag, value in itertools.pairwise(words)):
            found.append(int(entry.name))
    return found


def end_exec_sessions(container_ids: Sequence[str] = (), exec_ids: Sequence[str] = ()) -> None:
    """End the monitors podman leaves waiting after an exec (its exit delay); only those of the given ids.

    A monitor daemonizes (forks, and its parent exits): one found while it does so leaves a child the scan did
    not see, so the scan repeats until none is found (for a bounded time)."""
    deadline = time.monotonic() + 5
    while pids := exec_monitors(container_ids, exec_ids):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


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
        self._instance = uuid.uuid4().hex[:12]
        self._attached = False  # to containers another process started: close() leaves them running
        self._ready = False  # fully started: only then does `keep` keep anything
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
            LABEL_KEY: self.config.attach_key,
            LABEL_INSTANCE: self._instance,
            LABEL_KEPT: "true" if self.config.keep else "false",
        }

    def start(self) -> None:
        if self.started:
            return
        ownership.install_signal_handlers()  # SIGTERM and SIGHUP unwind like Ctrl-C, so close() runs
        _open_environments.add(self)
        try:
            if self.config.attach:
                self._attach()
            else:
                self._provision()
                self._ready = True
                if self.config.keep and self.workdir is not None:
                    (self.workdir / READY_MARKER).touch()  # from now on a later run's sweep leaves them kept
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
        # a kept environment's folders outlive this process; the sweep of dead owners' folders leaves them
        self.workdir = ownership.make_owned_dir("container", keep=self.config.keep)
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
                self._postgres = self._postgres.start().get_wrapped_container()
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
            with self._engine_errors(f"starting Airflow ({airflow_image})"), ownership.deferred_signals():
                self._airflow = airflow.start().get_wrapped_container()
        self._write_state(password)
        self._hold_defaults_back()
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
            "labels": {**self.labels(), LABEL_ROLE: role},
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
        what = f"environment {self.name!r}: image {image} ({key})"
        return ensure_image(self._client, image, what, f"set {key} to an image the engine has")

    @staticmethod
    def _mapped_port(container: Any, port: int) -> int:
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
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
                    wrapped = self._postgres
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
        sql = f"ALTER ROLE {POSTGRES_USER} PASSWORD :'password';"
        code, output, errors = _exec(
            self._client,
            self._postgres,
            [
                "sh",
                "-c",
                f'echo "{sql}" | psql -q -v ON_ERROR_STOP=1 -v password="$NEW_PASSWORD" '
                f"-h 127.0.0.1 -U {POSTGRES_USER} -d {POSTGRES_DB}",
            ],
            {"PGPASSWORD": bootstrap, "NEW_PASSWORD": password},
        )
        if code != 0:
            text = (errors or output).decode(errors="replace")
            raise EnvironmentStartError(
                f"environment {self.name!r}: cannot set the database password in {self.config.postgres_image} "
                f"(psql exit {code}: {_last_line(text)}); use a PostgreSQL image with psql"
            )

    def _write_state(self, password: str) -> None:
        """What an attaching process needs and the engine must not show: a root-only file in the container."""
        state = json.dumps({"password": password, "network_url": self._network_url, "secret_env": self._secret_env})
        script = (
            "import os; fd = os.open(os.environ['TARGET'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600); "
            f"os.write(fd, os.environ['{STATE_VARIABLE}'].encode()); os.close(fd)"
        )
        code, _, errors = _exec(
            self._client, self._airflow, ["python", "-c", script], {STATE_VARIABLE: state, "TARGET": STATE_IN}, "0"
        )
        if code != 0:
            raise EnvironmentStartError(
                f"environment {self.name!r}: cannot write {STATE_IN} in {self.config.airflow_image} "
                f"({_last_line(errors.decode(errors='replace'))}); use an image whose python runs as root with exec"
            )

    def _hold_defaults_back(self) -> None:
        """Where the image has no airflow.cfg, an empty one, before Airflow first runs: otherwise Airflow writes
        every default into it, and the configuration suite would read each default as configured (the defaults
        change between versions). An image's own airflow.cfg is left as it is: it is part of what is verified."""
        script = (
            'cfg="${AIRFLOW_CONFIG:-${AIRFLOW_HOME:-$HOME/airflow}/airflow.cfg}"; '
            '[ -e "$cfg" ] || { mkdir -p "$(dirname "$cfg")" && : > "$cfg"; }'
        )
        completed = self.exec(["sh", "-c", script], 60)
        if completed.returncode != 0:
            raise EnvironmentStartError(
                f"environment {self.name!r}: cannot create airflow.cfg in {self.config.airflow_image} "
                f"({_last_line(completed.stderr)}); give the image's user a writable AIRFLOW_HOME"
            )

    # -- attach ------------------------------------------------------------------------------------------

    def _attach(self) -> None:
        """Use the running containers labelled with this environment's key (kept, or of a live owner)."""
        self._client = docker_client(f"environment {self.name!r}")
        airflow, postgres = self._attachable()
        code, state_text, errors = _exec(self._client, airflow, ["cat", STATE_IN], user="0")
        if code != 0:
            raise EnvironmentStartError(
                f"environment {self.name!r}: container {airflow.name} has no readable {STATE_IN} "
                f"({_last_line(errors.decode(errors='replace'))}); remove it (`mwaa-verify containers --remove "
                f"{self.config.attach_key}`) and start the environment again with keep"
            )
        state = json.loads(state_text)
        self._airflow, self._postgres, self._attached = airflow, postgres, True
        self._secret_env = dict(state["secret_env"])
        self._network_url = state["network_url"]
        port = self._mapped_port(postgres, 5432)
        self.sql_alchemy_conn = (
            f"postgresql+psycopg2://{POSTGRES_USER}:{state['password']}@127.0.0.1:{port}/{POSTGRES_DB}"
        )
        self.base_log_folder = _mount_source(airflow, LOGS_IN)
        self._out = _mount_source(airflow, OUT_IN)
        self.dags_folder = _mount_source(airflow, DAGS_IN)
        self.workdir = self.base_log_folder.parent
        self._check_versions()
        progress.say(f"{self.name}: attached to running containers {airflow.name} and {postgres.name}")

    def _attachable(self) -> tuple[Any, Any]:
        key = self.config.attach_key
        running = _containers(self._client, stopped_too=False, label=f"{LABEL_KEY}={key}", status="running")
        usable = [c for c in running if _on_this_host(c.labels) and (_kept(c.labels) or _owner_alive(c.labels))]
        instances: dict[str, dict[str, Any]] = {}
        for container in usable:
            roles = instances.setdefault(container.labels.get(LABEL_INSTANCE, ""), {})
            roles[container.labels.get(LABEL_ROLE, "")] = container
        complete = [roles for roles in instances.values() if {"airflow", "postgres"} <= set(roles)]
        if not complete:
            raise EnvironmentStartError(
                f"environment {self.name!r}: attach is set, but no running containers labelled {LABEL_KEY}={key} "
                f"are on this host's engine; start and fill them first with keep (`--keep`, or keep = true), or "
                f"remove attach to start new ones"
            )
        if len(complete) > 1:
            names = ", ".join(sorted(roles["airflow"].name for roles in complete))
            raise EnvironmentStartError(
                f"environment {self.name!r}: {len(complete)} running sets of containers are labelled "
                f"{LABEL_KEY}={key} ({names}); remove the stale ones (`mwaa-verify containers --remove {key}`) "
                f"or give each environment its own key"
            )
        return complete[0]["airflow"], complete[0]["postgres"]

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
        code, stdout, stderr = _exec(
            self._client,
            self._airflow,
            ["timeout", "--signal=KILL", str(int(timeout)), *command],
            {**self._secret_env, **(env or {})},
        )
        return subprocess.CompletedProcess(
            list(command), code, stdout.decode(errors="replace"), stderr.decode(errors="replace")
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
                _exec(self._client, self._airflow, ["rm", "-rf", there], user="0")
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
            _exec(self._client, self._airflow, ["chmod", "-R", "a+rwX", LOGS_IN, OUT_IN], user="0")

    def close(self) -> None:
        with self._lock, ownership.deferred_signals():  # a signal cannot interrupt the cleanup half-way
            super().close()
            if self._attached or (self.config.keep and self._ready):
                self._leave_running()
            else:
                self._remove_everything()
            if self._client is not None:
                self._client.close()
                self._client = None
            _open_environments.discard(self)

    def _leave_running(self) -> None:
        """Attached or kept: the containers and their folders stay; only this process's hold on them goes."""
        if not self._attached and self._airflow is not None:
            progress.say(
                f"{self.name}: kept running ({self._airflow.name}, {self._postgres.name}); attach with "
                f"`attach = true` (key {self.config.attach_key}), remove with "
                f"`mwaa-verify containers --remove {self.config.attach_key}`"
            )
        self._airflow = self._postgres = None
        self._network = None
        self.workdir = None
        # a monitor of one of this process's execs that appeared after its exec ended it (never another's)
        end_exec_sessions(exec_ids=sorted(_exec_ids))

    def _remove_everything(self) -> None:
        self._release_written_files()
        self._airflow = self._postgres = None
        if self._client is not None:
            # everything of this instance, also a container the engine created but refused to start
            mine = {"label": f"{LABEL_INSTANCE}={self._instance}"}
            with contextlib.suppress(Exception):
                removed = []
                for container in _containers(self._client, label=mine["label"]):
                    with contextlib.suppress(Exception):  # close() reports what remains
                        _remove_container(container)
                        removed.append(container.id)
                # only monitors of removed containers: ending a live container's own monitor would orphan it
                end_exec_sessions(container_ids=removed)
            with contextlib.suppress(Exception):
                for network in self._client.networks.list(filters=mine):
                    with contextlib.suppress(Exception):
                        network.remove()
        self._network = None
        if self.workdir is not None:
            ownership.remove_owned_dir(self.workdir)
            if self.workdir.exists() and self.config.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)  # kept folders are not in the owned set
            if self.workdir.exists():
                progress.say(
                    f"{self.name}: could not remove {self.workdir} (files the container's user wrote); "
                    f"remove it by hand (e.g. `podman unshare rm -rf {self.workdir}`)"
                )
            self.workdir = None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
