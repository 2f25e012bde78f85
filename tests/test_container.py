"""The `container` kind on a real engine: podman's Docker API (tests/container_engine.py installs and starts it,
and builds local Airflow and PostgreSQL images once per machine). If the engine cannot run here, these tests
fail and say why; they never skip."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import container_engine
import pytest

from mwaa_verify import cli, ownership
from mwaa_verify.airflow.log_paths import TaskLogKey
from mwaa_verify.config import ContainerConfig, EphemeralConfig
from mwaa_verify.demo import DEMO_DAGS, TARGET_AIRFLOW_CONFIG, seed_source
from mwaa_verify.environments.container import (
    LABEL_OWNER_PID,
    ContainerEnvironment,
    docker_client,
    exec_monitors,
    remove_kept,
    remove_leftovers,
)
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml
from mwaa_verify.errors import EnvironmentStartError
from mwaa_verify.migrate.export import export_metadata
from mwaa_verify.migrate.import_ import import_metadata
from mwaa_verify.migrate.logs import copy_task_logs
from mwaa_verify.verification import run_verification

SOURCE_VERSION = "2.10.5"
TARGET_VERSION = "3.3.1"
READY_DAGS = ("demo_etl.py", "demo_mapped.py")
SECRETS = {"password": "pw-Kx41-not-for-reports", "api_key": "key-Rt90-not-for-reports"}
DAG_CORPUS = Path(__file__).parent / "dag_corpus"
BROKEN_DAG = "from airflow import DAG\nfrom airflow.operators.nonexistent_module import Nothing\n"


@pytest.fixture(scope="session")
def engine() -> Iterator[container_engine.Engine]:
    try:
        started = container_engine.start_engine()
    except container_engine.EngineUnavailable as exc:
        pytest.fail(f"no container engine on this machine: {exc}", pytrace=False)
    saved = {key: os.environ.get(key) for key in ("DOCKER_HOST", "MWAA_VERIFY_CGROUP_PARENT")}
    os.environ["DOCKER_HOST"] = started.docker_host
    if cgroup := container_engine.memory_cgroup():
        os.environ["MWAA_VERIFY_CGROUP_PARENT"] = cgroup
    try:
        yield started
    finally:
        started.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def images(engine: container_engine.Engine) -> dict[str, str]:
    try:
        return {
            "postgres": container_engine.postgres_image(),
            SOURCE_VERSION: container_engine.airflow_image(SOURCE_VERSION),
            TARGET_VERSION: container_engine.airflow_image(TARGET_VERSION),
        }
    except container_engine.EngineUnavailable as exc:
        pytest.fail(f"the local images cannot be built on this machine: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("container_dags")
    for name in READY_DAGS:
        shutil.copy(DEMO_DAGS / name, folder / name)
    return folder


def engine_objects(client_env: dict[str, str], pid: int) -> list[str]:
    """Containers and networks (and their volumes) labelled as owned by process `pid`."""
    found = []
    for kind in ("container", "network", "volume"):
        listing = subprocess.run(
            ["podman", kind, "ls", "-q", "--filter", f"label={LABEL_OWNER_PID}={pid}"]
            + (["-a"] if kind == "container" else []),
            capture_output=True,
            text=True,
            env=client_env,
            check=True,
        )
        found += [f"{kind} {name}" for name in listing.stdout.split()]
    return found


def container_ids(pid: int) -> list[str]:
    """Full ids of the containers labelled as owned by process `pid`."""
    listing = subprocess.run(
        ["podman", "ps", "-a", "--no-trunc", "-q", "--filter", f"label={LABEL_OWNER_PID}={pid}"],
        capture_output=True,
        text=True,
        env=container_engine.engine_env(),
        check=True,
    )
    return listing.stdout.split()


def exec_sessions_left(ids: list[str]) -> list[str]:
    """podman's monitors of exec sessions in these containers (`-u` another id than the container's own), by
    their arguments: only these containers' are looked at, never another user's of the engine."""
    left = []
    for pid in exec_monitors(container_ids=ids):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        session = words[words.index("-u") + 1] if "-u" in words else ""
        if session not in ids:
            left.append(" ".join(words)[:200])
    return left


def monitors_left(ids: list[str]) -> list[str]:
    """Any podman monitor (container or exec session) of these containers that still runs."""
    left = []
    for pid in exec_monitors(container_ids=ids):
        with contextlib.suppress(OSError):
            left.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ")[:200])
    return [line for line in left if line.strip()]  # a zombie has no arguments: it is gone but for its reaping


@pytest.mark.slow
def test_two_containers_report_dags_rows_and_logs(images: dict[str, str], dags: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    shutil.copytree(dags, folder)
    (folder / "broken.py").write_text(BROKEN_DAG)
    config = ContainerConfig(
        name="boxed",
        airflow_image=images[TARGET_VERSION],
        postgres_image=images["postgres"],
        dags_folder=folder,
        airflow_version=TARGET_VERSION,
        python_version="3.11",
    )
    with ContainerEnvironment(config) as environment:
        info = environment.info()
        assert (info.kind, info.airflow_version) == ("container", TARGET_VERSION)

        report = environment.dag_report()
        assert set(report.import_errors) == {"broken.py"}
        assert "nonexistent_module" in report.file("broken.py").error_summary
        assert {"demo_etl", "demo_mapped"} <= set(report.dags)

        environment.parse_dags()
        assert "dag" in environment.tables()
        assert {row["dag_id"] for row in environment.rows("dag")} >= {"demo_etl", "demo_mapped"}
        assert environment.schema_revision()

        assert environment.run_dag("demo_etl", date(2024, 3, 1))
        runs = [row for row in environment.rows("dag_run") if row["dag_id"] == "demo_etl"]
        assert [run["state"] for run in runs] == ["success"]
        # 3.x `dags test` writes no per-attempt files; what a task writes in the container's log folder is listed
        attempt = "dag_id=demo_etl/run_id=manual__1/task_id=load/attempt=1.log"
        written = environment.exec(
            [
                "sh",
                "-c",
                f"mkdir -p $(dirname /opt/airflow/logs/{attempt}) && "
                f"echo 'loaded 3 rows' > /opt/airflow/logs/{attempt}",
            ],
            60,
        )
        assert written.returncode == 0, written.stderr
        logs = list(environment.task_logs())
        assert [(log.dag_id, log.task_id, log.try_number) for log in logs] == [("demo_etl", "load", 1)]
        assert environment.read_task_log(logs[0]) == b"loaded 3 rows\n"
        assert (folder / "broken.py").read_text() == BROKEN_DAG  # mounted read-only, never written
        # the secrets reach Airflow's processes, not the containers' environments `docker inspect` shows
        from sqlalchemy.engine import make_url

        password = make_url(environment.sql_alchemy_conn).password
        fernet = environment.exec(["sh", "-c", 'printf %s "$AIRFLOW__CORE__FERNET_KEY"'], 30).stdout
        assert password and len(fernet) == 44
        containers = [
            item.split()[1]
            for item in engine_objects(container_engine.engine_env(), os.getpid())
            if item.startswith("container ")
        ]
        inspected = subprocess.run(
            ["podman", "inspect", "--format", "{{json .Config.Env}}", *containers],
            capture_output=True,
            text=True,
            env=container_engine.engine_env(),
            check=True,
        ).stdout
        assert len(containers) == 2 and "AIRFLOW__CORE__DAGS_FOLDER" in inspected, inspected[:300]
        assert password not in inspected and fernet not in inspected, "a secret is in a container's environment"
        pid_objects = engine_objects(container_engine.engine_env(), os.getpid())
        assert len([item for item in pid_objects if item.startswith("container")]) == 2, pid_objects
        ids = container_ids(os.getpid())
        # every exec above is over: podman's monitor of each session is gone with it, not 5 minutes later
        assert exec_sessions_left(ids) == []
    assert engine_objects(container_engine.engine_env(), os.getpid()) == []
    assert monitors_left(ids) == []


@pytest.mark.slow
def test_image_with_another_airflow_is_refused_in_one_line(images: dict[str, str]) -> None:
    config = ContainerConfig(
        name="mismatch",
        airflow_image=images[SOURCE_VERSION],
        postgres_image=images["postgres"],
        airflow_version=TARGET_VERSION,
    )
    with pytest.raises(EnvironmentStartError) as raised:
        ContainerEnvironment(config).start()
    message = str(raised.value)
    assert "\n" not in message
    assert f"has Airflow {SOURCE_VERSION}, the configuration says {TARGET_VERSION}" in message
    assert engine_objects(container_engine.engine_env(), os.getpid()) == []


@pytest.mark.slow
def test_image_the_engine_cannot_pull_is_named_with_the_fix(images: dict[str, str]) -> None:
    config = ContainerConfig(
        name="nopull", airflow_image="registry.invalid/airflow:9.9.9", postgres_image=images["postgres"]
    )
    with pytest.raises(EnvironmentStartError) as raised:
        ContainerEnvironment(config).start()
    message = str(raised.value)
    assert "\n" not in message
    assert "image registry.invalid/airflow:9.9.9 (airflow_image) is not on the engine and cannot be pulled" in message
    assert "docker build -t registry.invalid/airflow:9.9.9" in message and "docker load" in message


@pytest.mark.slow
def test_a_container_the_engine_refuses_to_start_is_one_line(images: dict[str, str]) -> None:
    # an "Airflow image" without Python: the engine refuses to start its entrypoint
    config = ContainerConfig(name="refused", airflow_image=images["postgres"], postgres_image=images["postgres"])
    environment = ContainerEnvironment(config)
    try:
        with pytest.raises(EnvironmentStartError) as raised:
            environment.start()
    finally:
        environment.close()
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(
        f"environment 'refused': the container engine refused starting Airflow ({images['postgres']}): "
    ), message
    assert "podman info" in message
    assert engine_objects(container_engine.engine_env(), os.getpid()) == []


def test_no_engine_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    config = ContainerConfig(name="nowhere", airflow_image="apache/airflow:3.3.1")
    with pytest.raises(EnvironmentStartError) as raised:
        ContainerEnvironment(config).start()
    assert "\n" not in str(raised.value)
    assert f"the container engine at unix://{tmp_path}/nothing.sock does not answer" in str(raised.value)


@pytest.mark.slow
def test_container_source_migrates_to_an_ephemeral_target_faithfully(
    images: dict[str, str], dags: Path, cache_dir: Path, tmp_path: Path
) -> None:
    key = f"migration-source-{os.getpid()}"
    source_config = ContainerConfig(
        name="source",
        airflow_image=images[SOURCE_VERSION],
        postgres_image=images["postgres"],
        dags_folder=dags,
        airflow_version=SOURCE_VERSION,
        keep=True,  # filled here, verified by the suites' own process, which attaches to it
        key=key,
    )
    # the 2.x schedule semantics kept on 3.x, as a faithful migration configures them
    target_config = EphemeralConfig(
        name="target", airflow_version=TARGET_VERSION, dags_folder=dags, airflow_config=TARGET_AIRFLOW_CONFIG
    )
    try:
        with EphemeralEnvironment(target_config, cache_dir) as target:
            with ContainerEnvironment(source_config) as source:
                seed_source(source, SECRETS)
                source.parse_dags()
                for dag_id in ("demo_etl", "demo_mapped"):
                    ran = source.run_dag(dag_id, date(2024, 3, 1), date(2024, 3, 2))
                    assert ran, (source.workdir / "runs" / f"{dag_id}.log").read_text()[-3000:]
                target.parse_dags()
                source_logs = {log.name: log for log in source.task_logs()}
                assert len(source_logs) >= 4  # 2.x backfills write one file per task attempt, in the mounted folder
                copy_task_logs(source, target)
                export = tmp_path / "export"
                export_metadata(source, export, include_secrets=True)
                import_metadata(export, target)
            # closed, and kept: the suites' pytest attaches to the filled containers instead of starting new ones
            config = tmp_path / "mwaa-verify.toml"
            config.write_text(
                textwrap.dedent(f"""\
                    [verify]
                    intended_config_differences = {json.dumps(sorted(TARGET_AIRFLOW_CONFIG))}

                    [environments.source]
                    kind = "container"
                    attach = true
                    key = "{key}"
                    airflow_image = "{images[SOURCE_VERSION]}"
                    airflow_version = "{SOURCE_VERSION}"
                    """)
                + "\n"
                + local_config_toml(target)
            )
            suites = ("metadata_parity", "dag_import", "log_copy")
            outcome = run_verification("source", "target", tmp_path / "reports", config, cache_dir, suites)
            output = (outcome.run_dir / "pytest-output.txt").read_text()  # every run keeps its own output
            assert outcome.exit_code == 0, output[-3000:]
            assert outcome.summary.environments["source"]["kind"] == "container"
            assert len(container_ids(os.getpid())) == 2  # the suites attached: no container of theirs, ours kept
            passed = {(r.suite, r.subject) for r in outcome.summary.results if r.status == "passed"}
            assert {"dag_run", "task_instance", "xcom", "variable", "connection"} <= {s for _, s in passed}, passed

            # a defect planted in the target after the import: the same suites on the same containers find it
            import sqlalchemy

            engine = sqlalchemy.create_engine(target.sql_alchemy_conn, poolclass=sqlalchemy.pool.NullPool)
            with engine.begin() as connection:
                connection.execute(sqlalchemy.text("delete from variable where key = 'warehouse_schema'"))
            engine.dispose()
            outcome = run_verification(
                "source", "target", tmp_path / "reports", config, cache_dir, ("metadata_parity",)
            )
            failed = [r for r in outcome.summary.results if r.status in {"failed", "broken"}]
            assert outcome.exit_code != 0 and [r.subject for r in failed] == ["variable"], [r.key for r in failed]
            assert SECRETS["password"] not in outcome.output and SECRETS["api_key"] not in outcome.output
    except BaseException:
        with contextlib.suppress(Exception):  # the body's failure (or interruption) is the one to show
            removed_kept(key)
        raise
    removed = removed_kept(key)
    assert len([name for name in removed if name.startswith("mwaa-verify-source-")]) == 2, removed
    assert engine_objects(container_engine.engine_env(), os.getpid()) == []


def removed_kept(key: str) -> list[str]:
    """Remove the containers kept under `key`; their names."""
    client = docker_client("test cleanup")
    try:
        return remove_kept(client, key)
    finally:
        client.close()


SIGTERM_SCRIPT = """
import sys, time
from pathlib import Path
from mwaa_verify.config import ContainerConfig
from mwaa_verify.environments.container import ContainerEnvironment
config = ContainerConfig(name="killed", airflow_image=sys.argv[1], postgres_image=sys.argv[2])
with ContainerEnvironment(config):
    Path(sys.argv[3]).write_text("up")
    time.sleep(600)
"""


def environment_in_a_process(images: dict[str, str], tmp_path: Path) -> subprocess.Popen[str]:
    """A container environment opened by another Python process (SIGTERM_SCRIPT), returned once it is up."""
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_SCRIPT, images[TARGET_VERSION], images["postgres"], str(ready)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    try:
        while not ready.exists():
            assert process.poll() is None, f"the environment did not start: {process.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "the environment did not start within 600 s"
            time.sleep(0.5)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_leaves_no_container_network_volume_or_folder(
    images: dict[str, str], tmp_path: Path, signum: signal.Signals
) -> None:
    process = environment_in_a_process(images, tmp_path)
    try:
        running = engine_objects(container_engine.engine_env(), process.pid)
        assert len([item for item in running if item.startswith("container")]) == 2, running
        ids = container_ids(process.pid)
        process.send_signal(signum)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert engine_objects(container_engine.engine_env(), process.pid) == []
    assert monitors_left(ids) == []
    left = list(Path(tempfile.gettempdir()).glob(f"{ownership.PREFIX}{process.pid}-*"))
    assert left == [], f"work folder left: {left}"


def test_configuration_reads_every_container_key(tmp_path: Path) -> None:
    from mwaa_verify.config import load_config

    (tmp_path / "dags").mkdir()
    (tmp_path / "mwaa-verify.toml").write_text(
        textwrap.dedent("""\
            [environments.boxed]
            kind = "container"
            airflow_image = "apache/airflow:3.3.1"
            postgres_image = "postgres:16"
            dags_folder = "dags"
            airflow_version = "3.3.1"
            python_version = "3.12"
            requirements = ["apache-airflow-providers-amazon"]
            airflow_config = { "core.dagbag_import_timeout" = "60" }
            """)
    )
    environment = load_config(tmp_path / "mwaa-verify.toml").environments["boxed"]
    assert environment == ContainerConfig(
        name="boxed",
        airflow_image="apache/airflow:3.3.1",
        postgres_image="postgres:16",
        dags_folder=tmp_path / "dags",
        airflow_version="3.3.1",
        python_version="3.12",
        requirements=("apache-airflow-providers-amazon",),
        airflow_config={"core.dagbag_import_timeout": "60"},
    )
    assert json.dumps(environment.requirements)


@pytest.mark.slow
def test_requirements_that_need_other_versions_than_the_image_has_are_refused(images: dict[str, str]) -> None:
    config = ContainerConfig(
        name="pinned",
        airflow_image=images[TARGET_VERSION],
        postgres_image=images["postgres"],
        requirements=(f"apache-airflow=={SOURCE_VERSION}",),
    )
    with pytest.raises(EnvironmentStartError) as raised:
        ContainerEnvironment(config).start()
    message = str(raised.value)
    assert "\n" not in message
    assert "the requirements do not install in" in message and "its installed packages as constraints" in message
    assert "ResolutionImpossible" in message  # pip's resolver refused the pin, not a network error
    assert engine_objects(container_engine.engine_env(), os.getpid()) == []


@pytest.mark.slow
def test_a_later_run_removes_what_a_killed_run_left(images: dict[str, str], tmp_path: Path) -> None:
    import docker

    process = environment_in_a_process(images, tmp_path)
    process.kill()  # SIGKILL: nothing of the process's own cleanup runs
    process.wait()
    left = engine_objects(container_engine.engine_env(), process.pid)
    assert len([item for item in left if not item.startswith("volume")]) == 3, left  # 2 containers, 1 network
    ids = container_ids(process.pid)

    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"])
    try:
        remove_leftovers(client)
    finally:
        client.close()

    # what this sweep names may be fewer: another mwaa-verify run on this engine (a second test session) may sweep
    # them first; either way a dead owner's containers, network and exec monitors are gone
    assert engine_objects(container_engine.engine_env(), process.pid) == []
    assert monitors_left(ids) == []


@pytest.mark.slow
def test_the_containers_own_log_reader_shows_a_task_run_in_it_and_its_files_go_on_close(
    images: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    shutil.copy(DEMO_DAGS / "demo_etl.py", folder / "demo_etl.py")
    config = ContainerConfig(
        name="reader",
        airflow_image=images[SOURCE_VERSION],
        postgres_image=images["postgres"],
        dags_folder=folder,
        airflow_version=SOURCE_VERSION,
    )
    with ContainerEnvironment(config) as environment:
        workdir = environment.workdir
        assert workdir is not None and ownership.owner_of(workdir) == os.getpid()  # the ownership sweep knows it
        environment.parse_dags()
        assert environment.run_dag("demo_etl", date(2024, 3, 1))  # 2.x backfill: one log file per attempt
        logs = sorted(environment.task_logs(), key=lambda log: log.name)
        assert {log.task_id for log in logs} >= {"load"}, [log.name for log in logs]
        keys = [TaskLogKey(log.dag_id, log.run_id, log.task_id, log.map_index, log.try_number) for log in logs]

        views = environment.task_log_views(keys)

        for log, view in zip(logs, views, strict=True):
            assert "error" not in view, view
            assert view["handler"] == "FileTaskHandler" and view["name"] == log.name
            assert view["lines"], log.name
        load = next(view for log, view in zip(logs, views, strict=True) if log.task_id == "load")
        assert any("loading rows into the warehouse" in line for line in load["lines"]), load["lines"]
        assert environment.task_log_names(keys) == {key: log.name for key, log in zip(keys, logs, strict=True)}
    assert not workdir.exists(), sorted(str(path) for path in workdir.rglob("*"))


@pytest.mark.slow
def test_parsing_a_dag_that_writes_at_import_leaves_the_containers_database_unchanged(
    images: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    shutil.copy(DAG_CORPUS / "writes_at_import.py", folder / "writes_at_import.py")
    config = ContainerConfig(
        name="readonly",
        airflow_image=images[SOURCE_VERSION],  # 2.x: no ORM guard of its own, so only the read-only URL protects
        postgres_image=images["postgres"],
        dags_folder=folder,
        airflow_version=SOURCE_VERSION,
    )
    with ContainerEnvironment(config) as environment:
        before = list(environment.rows("variable"))

        report = environment.dag_report()

        assert "writes_at_import" in report.dags and not report.import_errors
        assert list(environment.rows("variable")) == before == []
        # the control: run as plain Python with the container's own connection, the same file does write
        environment.run(["/opt/airflow/dags/writes_at_import.py"], 300, "importing writes_at_import.py unprotected")
        assert {row["key"] for row in environment.rows("variable")} == {
            "written_at_import_through_the_orm",
            "written_at_import_through_sqlalchemy",
        }


KEEP_SCRIPT = """
import sys
from mwaa_verify.config import ContainerConfig
from mwaa_verify.environments.container import ContainerEnvironment
config = ContainerConfig(name="kept", airflow_image=sys.argv[1], postgres_image=sys.argv[2], keep=True, key=sys.argv[3])
with ContainerEnvironment(config) as environment:
    environment.exec(["true"], 30)
"""


@pytest.mark.slow
def test_kept_containers_outlive_their_owner_serve_attach_and_go_only_when_removed(
    images: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = f"kept-{os.getpid()}"
    ran = subprocess.run(
        [sys.executable, "-c", KEEP_SCRIPT, images[TARGET_VERSION], images["postgres"], key],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    owner = int(
        subprocess.run(
            ["podman", "ps", "-q", "--filter", f"label=io.github.mwaa-verify.key={key}", "--format",
             '{{index .Labels "' + LABEL_OWNER_PID + '"}}'],
            capture_output=True, text=True, env=container_engine.engine_env(), check=True,
        ).stdout.split()[0]
    )  # fmt: skip
    try:
        assert len(container_ids(owner)) == 2  # its owner is gone, the containers run on
        assert exec_sessions_left(container_ids(owner)) == []
        client = docker_client("test")
        try:
            remove_leftovers(client)  # the sweep of dead owners' leftovers leaves kept ones
        finally:
            client.close()
        assert len(container_ids(owner)) == 2

        config = tmp_path / "mwaa-verify.toml"
        config.write_text(
            f'[environments.kept]\nkind = "container"\nairflow_image = "{images[TARGET_VERSION]}"\nkey = "{key}"\n'
            f'[environments.other]\nkind = "container"\nairflow_image = "{images[TARGET_VERSION]}"\n'
            f'key = "nothing-{key}"\n'
        )
        assert cli.main(["dags", "kept", "--attach", "--mwaa-config", str(config)]) == 0
        assert cli.main(["dags", "other", "--attach", "--mwaa-config", str(config)]) == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("mwaa-verify: error: environment 'other': attach is set, but no running containers")
        assert "--keep" in error
        assert exec_sessions_left(container_ids(owner)) == []  # the attached run ended its exec sessions
        assert len(container_ids(owner)) == 2  # and left the containers running

        assert cli.main(["containers", key]) == 0
        assert key in capsys.readouterr().out
    finally:
        ids = container_ids(owner)
        removed = cli.main(["containers", "--remove", key])
    assert removed == 0 and container_ids(owner) == [] and engine_objects(container_engine.engine_env(), owner) == []
    assert monitors_left(ids) == []


@pytest.mark.slow
def test_demo_kind_container_runs_the_whole_demo_on_the_engine(
    images: dict[str, str], cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = cli.main(
        [
            "demo", "--kind", "container", "--source-version", SOURCE_VERSION, "--target-version", TARGET_VERSION,
            "--source-image", images[SOURCE_VERSION], "--target-image", images[TARGET_VERSION],
            "--postgres-image", images["postgres"], "--workdir", str(tmp_path / "demo"),
            "--reports", str(tmp_path / "reports"),
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert exit_code == 0, out[-4000:]
    assert "NOT EXPECTED" not in out
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert {role: values["kind"] for role, values in summary["environments"].items()} == {
        "source": "container",
        "target": "container",
    }
    assert "legacy_" in out  # the legacy DAGs break on 3.x, as the demo exists to show
    assert engine_objects(container_engine.engine_env(), os.getpid()) == []


@pytest.mark.slow
def test_demo_kind_container_without_its_image_is_one_line(
    images: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = cli.main(
        [
            "demo", "--kind", "container", "--source-image", "registry.invalid/airflow:2.10.5",
            "--target-image", images[TARGET_VERSION], "--postgres-image", images["postgres"],
            "--workdir", str(tmp_path / "demo"), "--reports", str(tmp_path / "reports"),
        ]
    )  # fmt: skip
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if not line.startswith("[mwaa-verify]")]  # progress lines aside
    assert exit_code == 2 and len(errors) == 1 and "Traceback" not in stderr, stderr
    assert "image registry.invalid/airflow:2.10.5 (--source-image) is not on the engine" in errors[0]
    assert "docker load" in errors[0] and "pass --source-image IMAGE the engine has" in errors[0]
    assert engine_objects(container_engine.engine_env(), os.getpid()) == []


def test_demo_kind_container_without_an_engine_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    exit_code = cli.main(["demo", "--kind", "container", "--workdir", str(tmp_path / "demo")])
    error = capsys.readouterr().err.strip()
    assert exit_code == 2 and "\n" not in error, error
    assert f"the container engine at unix://{tmp_path}/nothing.sock does not answer" in error


def test_keep_attach_and_key_are_read_and_checked(tmp_path: Path) -> None:
    from mwaa_verify.config import load_config
    from mwaa_verify.errors import ConfigError

    path = tmp_path / "mwaa-verify.toml"
    path.write_text('[environments.boxed]\nkind = "container"\nairflow_image = "a:1"\nkeep = true\nkey = "rehearsal"\n')
    environment = load_config(path).environments["boxed"]
    assert isinstance(environment, ContainerConfig)
    assert (environment.keep, environment.attach, environment.attach_key) == (True, False, "rehearsal")
    for line, expected in (('keep = "yes"', "keep must be true or false"), ('key = "a b"', "may hold only letters")):
        path.write_text(f'[environments.boxed]\nkind = "container"\nairflow_image = "a:1"\n{line}\n')
        with pytest.raises(ConfigError, match=expected) as raised:
            load_config(path)
        assert "\n" not in str(raised.value)


def test_attach_on_an_environment_that_is_not_a_container_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mwaa-verify.toml"
    path.write_text('[environments.managed]\nkind = "mwaa"\nenvironment_name = "prod"\n')
    assert cli.main(["dags", "managed", "--attach", "--mwaa-config", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "mwaa-verify: error: --attach applies to container environments; 'managed' is of kind 'mwaa': drop --attach"
    )
