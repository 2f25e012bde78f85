"""Shared, session-scoped real environments: an Airflow 2.10 and an Airflow 3.x, each on its own PostgreSQL.

They are expensive (a virtualenv install the first time, a cluster and `db migrate` every time), so every
test module shares them. At the end of the session nothing they started may still be running.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from airflow_web import rest_api
from aws_double import AirflowRestApi, AwsDouble, aws_for_tests
from mwaa_world import DoubleMwaa, double_mwaa, history_dags, seed_demo_history

from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION
from mwaa_verify.config import EphemeralConfig, default_cache_dir
from mwaa_verify.demo import DEMO_DAGS
from mwaa_verify.environments.ephemeral import EphemeralEnvironment

pytest_plugins = ["pytester"]


def postgres_servers_under(prefix: str) -> list[str]:
    """Command lines of running postgres servers whose data directory path contains `prefix`: postmasters only.

    A backend the postmaster has just forked carries the postmaster's command line until it sets its own title; on a
    busy machine that window is wide enough to be seen, so a process whose parent runs the same command is skipped.
    """
    commands = {}
    parents = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            parents[proc.name] = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        command = " ".join(part.decode(errors="replace") for part in argv if part)
        if argv and Path(argv[0].decode(errors="replace")).name == "postgres" and prefix in command:
            commands[proc.name] = command
    return [command for pid, command in commands.items() if commands.get(parents.get(pid, "")) != command]


def path_without_postgres() -> str:
    """PATH minus every directory that holds a PostgreSQL server (as on a machine without one)."""
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "initdb").exists()]
    return os.pathsep.join(kept)


# the machine's temporary directory, for what all sessions on it share (a lock around apt-get)
MACHINE_TMP_ENV_VAR = "MWAA_VERIFY_TESTS_MACHINE_TMP"


def pytest_configure(config: pytest.Config) -> None:
    """Everything this session creates lives under one temporary directory of its own, so the end-of-session
    check sees this session's servers only, not those of another run on the same machine. Under pytest-xdist
    each worker has a directory of its own inside the session's: its checks see only what its tests started."""
    if not hasattr(config, "workerinput"):
        # xdist hands out groups in collection order (by default it puts the groups with most tests first)
        config.option.loadscopereorder = False
        os.environ.setdefault(MACHINE_TMP_ENV_VAR, tempfile.gettempdir())
        session_tmp = Path(tempfile.mkdtemp(prefix="mwaa-verify-tests-"))
        config.add_cleanup(lambda: shutil.rmtree(session_tmp, ignore_errors=True))
    else:
        session_tmp = Path(os.environ["TMPDIR"]) / config.workerinput["workerid"]
        session_tmp.mkdir(exist_ok=True)
        # what xdist tells a worker's code: pytest sessions the tests start must not believe they are workers
        for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
            os.environ.pop(name, None)
    session_tmp.chmod(0o711)  # PostgreSQL may run as the postgres user and must reach its files
    os.environ["TMPDIR"] = str(session_tmp)
    tempfile.tempdir = None  # re-read TMPDIR


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running() -> Iterator[None]:
    session_tmp = tempfile.gettempdir()
    yield
    leftovers = postgres_servers_under(session_tmp)
    assert not leftovers, f"PostgreSQL servers still running after the tests: {leftovers}"


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return default_cache_dir()


# the demo DAGs that run on Airflow 2 and 3 alike, so a faithful migration of them passes every check
READY_DAGS = ("demo_etl.py", "demo_mapped.py", "demo_retry.py", "demo_failing.py")


@pytest.fixture(scope="session")
def ready_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DAGs folder of the 3.x-ready demo DAGs (environments copy it; nobody writes to it)."""
    folder = tmp_path_factory.mktemp("ready_dags")
    for name in READY_DAGS:
        shutil.copy(DEMO_DAGS / name, folder / name)
    return folder


@pytest.fixture(scope="session")
def airflow2(cache_dir: Path) -> Iterator[EphemeralEnvironment]:
    """Airflow 2.10 with the demo DAGs and two backfilled runs of demo_etl (6 task instances, 6 logs)."""
    config = EphemeralConfig(name="af2", airflow_version=DEMO_SOURCE_VERSION, dags_folder=DEMO_DAGS)
    with EphemeralEnvironment(config, cache_dir) as environment:
        assert environment.run_dag("demo_etl", date(2024, 3, 1), date(2024, 3, 2)), run_output(environment)
        yield environment


@pytest.fixture(scope="session")
def airflow3(cache_dir: Path) -> Iterator[EphemeralEnvironment]:
    """Airflow 3.x with the demo DAGs and one `dags test` run of demo_etl."""
    config = EphemeralConfig(name="af3", airflow_version=DEMO_TARGET_VERSION, dags_folder=DEMO_DAGS)
    with EphemeralEnvironment(config, cache_dir) as environment:
        assert environment.run_dag("demo_etl", date(2024, 3, 1)), run_output(environment)
        yield environment


@pytest.fixture(scope="session")
def airflow2_rest(airflow2: EphemeralEnvironment) -> Iterator[AirflowRestApi]:
    """airflow2's webserver, serving /api/v1."""
    with rest_api(airflow2) as api:
        yield api


@pytest.fixture(scope="session")
def airflow3_rest(airflow3: EphemeralEnvironment) -> Iterator[AirflowRestApi]:
    """airflow3's api-server, serving /api/v2."""
    with rest_api(airflow3) as api:
        yield api


def run_output(environment: EphemeralEnvironment) -> str:
    assert environment.workdir is not None
    return (environment.workdir / "runs" / "demo_etl.log").read_text()[-4000:]


# session fixtures too costly to build once per pytest-xdist worker: the modules using them share one worker
ONE_WORKER_FIXTURES = {"mwaa_aws": "mwaa-double", "mwaa_old": "mwaa-double", "mwaa_new": "mwaa-double"}
# the longest modules, started first under pytest-xdist so that no worker is left with one of them at the end
LONGEST_FIRST = ("mwaa-double", "test_container.py", "test_snapshot.py", "test_mwaa_dr.py", "test_migration.py")


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fast tests first, so a typo fails in seconds, not after the Airflow environments are built.

    Under pytest-xdist (`-n 2 --dist loadgroup`, the README's test command) a module's tests stay on one worker,
    so its module fixtures (environments with history) are built once, and the modules sharing the MWAA double's
    session fixtures stay together; the longest groups go first."""
    groups = {item.path: item.path.name for item in items}
    for item in items:
        shared = [ONE_WORKER_FIXTURES[name] for name in item.fixturenames if name in ONE_WORKER_FIXTURES]
        if shared:
            groups[item.path] = shared[0]
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.path]))
    # the order xdist schedules in is the workers' collection order
    if hasattr(config, "workerinput") or getattr(config.option, "numprocesses", None):
        items.sort(key=_xdist_order)
    else:
        items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


def _xdist_order(item: pytest.Item) -> tuple[int, int]:
    group = item.get_closest_marker("xdist_group").args[0]
    longest = LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)
    return longest, item.get_closest_marker("slow") is None


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsDouble]:
    """AWS on 127.0.0.1 for one test module: moto, and the MWAA double."""
    with aws_for_tests() as double:
        yield double


@pytest.fixture
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no mwaa-verify.toml above it and no config from the environment."""
    monkeypatch.delenv("MWAA_VERIFY_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def junit_outcomes(report: Path) -> dict[str, str | None]:
    """Each test of a JUnit XML report: None when it passed, "SKIPPED", or its failure text."""
    outcomes: dict[str, str | None] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            outcomes[case.get("name", "")] = failure.get("message", "") + (failure.text or "")
        else:
            outcomes[case.get("name", "")] = "SKIPPED" if skipped is not None else None
    return outcomes


@pytest.fixture(scope="session")
def mwaa_aws() -> Iterator[AwsDouble]:
    """AWS on 127.0.0.1 for the whole session, its moto in a process of its own (the module-scoped `aws`
    doubles and `mock_aws` reset the moto of this process): the account of mwaa_old and mwaa_new."""
    with aws_for_tests(isolated=True) as double:
        yield double


@pytest.fixture(scope="session")
def mwaa_old(mwaa_aws: AwsDouble, cache_dir: Path) -> Iterator[DoubleMwaa]:
    """Double MWAA environment `mwaa-old`: Airflow 2.10 with the demo DAGs in its bucket and their history
    (runs, a retry, mapped tasks, xcom, variables, a connection, a pool), scheduler running."""
    with double_mwaa(mwaa_aws, "mwaa-old", DEMO_SOURCE_VERSION, cache_dir, history_dags(), seed_demo_history) as env:
        yield env


@pytest.fixture(scope="session")
def mwaa_new(mwaa_aws: AwsDouble, cache_dir: Path) -> Iterator[DoubleMwaa]:
    """Double MWAA environment `mwaa-new`: Airflow 3.3, migrated, no DAGs and no history, scheduler running."""
    with double_mwaa(mwaa_aws, "mwaa-new", DEMO_TARGET_VERSION, cache_dir) as env:
        yield env
