"""pytest hooks only: the --source/--target/--mwaa-config/--since options, markers, and environment fixtures.

Bad input (an unknown environment, a malformed config, a suite run without the environment it needs) stops
the run with one usage message that names the problem and the fix. Importing this module stays cheap:
it is loaded into every pytest session of a Python that has mwaa-verify installed.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mwaa_verify.config import Config, load_config
from mwaa_verify.environments.base import DagReport, Environment, TaskLog
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.iam.requirements import RequirementGroup

ENVIRONMENT_OPTIONS = {
    "source_env": "source",
    "target_env": "target",
    "source_dag_report": "source",
    "target_dag_report": "target",
}
_CONFIG_KEY = pytest.StashKey[Config]()
_OPEN_KEY = pytest.StashKey[dict[str, Environment]]()
_REPORT_KEY = pytest.StashKey[dict[str, DagReport]]()
_WINDOW_KEY = pytest.StashKey[datetime | None]()
_LOGS_KEY = pytest.StashKey[dict[str, dict[str, dict[str, TaskLog]]]]()
_IAM_KEY = pytest.StashKey[dict[str, RequirementGroup]]()


def _positive_days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since takes a whole number of days, got {text!r}") from None
    if days <= 0:
        raise argparse.ArgumentTypeError(f"--since takes a positive number of days, got {days}")
    return days


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mwaa-verify", "mwaa-verify: verify an Airflow / MWAA migration")
    group.addoption("--source", metavar="NAME", help="environment migrated from (a name in mwaa-verify.toml)")
    group.addoption("--target", metavar="NAME", help="environment migrated to (a name in mwaa-verify.toml)")
    group.addoption(
        "--mwaa-config",
        metavar="PATH",
        help="configuration file (default: mwaa-verify.toml or [tool.mwaa_verify] in pyproject.toml, "
        "searched upwards from the current directory)",
    )
    group.addoption("--since", metavar="DAYS", type=_positive_days, help="verify only the last DAYS days of history")
    group.addoption(
        "--logs-failed-only",
        action="store_true",
        help="check only the task logs of task instances that failed (what the AWS sample copies by default)",
    )
    group.addoption(
        "--iam-simulate",
        action="store_true",
        help="cross-check every IAM decision with IAM SimulatePrincipalPolicy (needs AWS credentials)",
    )
    group.addoption(
        "--export",
        metavar="LOCATION",
        dest="mwaa_export",
        help="a metadata export (directory or s3://bucket/prefix) to check against the source",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_source: the test inspects the --source environment")
    config.addinivalue_line("markers", "needs_target: the test inspects the --target environment")
    names = {option: config.getoption(option) for option in ENVIRONMENT_OPTIONS.values()}
    if not any(names.values()) and not config.getoption("mwaa_config"):
        return
    # SIGTERM and SIGHUP end the session like Ctrl-C does: fixtures and environments are closed, servers stopped
    from mwaa_verify import ownership

    ownership.install_signal_handlers()
    try:
        loaded = loaded_config(config)
        for name in names.values():
            if name:
                loaded.environment(name)
    except MwaaVerifyError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse, before anything runs, a suite that needs an environment nobody named."""
    for fixture, option in ENVIRONMENT_OPTIONS.items():
        if config.getoption(option):
            continue
        needing = [item for item in items if fixture in getattr(item, "fixturenames", ())]
        if needing:
            raise pytest.UsageError(
                f"{len(needing)} collected test(s) need --{option} NAME (first: {needing[0].nodeid}); "
                f"{_known_environments(config)}"
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A check that cannot read what it needs from an environment fails with the reason in one line: the
    message names the environment and the fix, a traceback into mwaa-verify would only hide it."""
    try:
        return (yield)
    except MwaaVerifyError as exc:
        if not any(name in getattr(item, "fixturenames", ()) for name in ENVIRONMENT_OPTIONS):
            raise
        pytest.fail(f"cannot read what this check needs: {exc}", pytrace=False)


def loaded_config(config: pytest.Config) -> Config:
    """The configuration --mwaa-config names (or the nearest one found), read once per session."""
    if _CONFIG_KEY not in config.stash:
        config.stash[_CONFIG_KEY] = load_config(config.getoption("mwaa_config"), start=config.invocation_params.dir)
    return config.stash[_CONFIG_KEY]


def window_start(config: pytest.Config) -> datetime | None:
    """The start of the --since window, fixed once per session so every check uses the same instant."""
    if _WINDOW_KEY not in config.stash:
        days = config.getoption("since")
        config.stash[_WINDOW_KEY] = datetime.now(UTC) - timedelta(days=days) if days else None
    return config.stash[_WINDOW_KEY]


def _known_environments(config: pytest.Config) -> str:
    try:
        loaded = loaded_config(config)
    except MwaaVerifyError as exc:
        return str(exc)
    if loaded.path is None:
        return "no mwaa-verify.toml was found: define environments there (see README.md) and name them"
    return f"environments defined in {loaded.path}: {', '.join(sorted(loaded.environments)) or '(none)'}"


@pytest.fixture(scope="session")
def mwaa_config(pytestconfig: pytest.Config) -> Config:
    return loaded_config(pytestconfig)


@pytest.fixture(scope="session")
def since(pytestconfig: pytest.Config) -> datetime | None:
    """The start of the verification window, or None for all history."""
    return window_start(pytestconfig)


@pytest.fixture(scope="session")
def export_location(pytestconfig: pytest.Config) -> str:
    location = pytestconfig.getoption("mwaa_export")
    if not location:
        pytest.skip("no export to check: pass --export LOCATION (the directory or s3:// prefix of the export)")
    return location


@pytest.fixture(autouse=True)
def _mwaa_verify_allure_labels(request: pytest.FixtureRequest) -> None:
    """Labels every suite test for Allure (epic, feature, story, severity, parameters) when it is recording."""
    from mwaa_verify.report import allure_results

    module = getattr(request.node, "module", None)
    suite = module.__name__.rsplit(".", 1)[-1] if module is not None else None
    if suite in allure_results.SUITES and allure_results.enabled(request.config):
        allure_results.label_test(request.node)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Both environments, as they were verified, next to the Allure results."""
    from mwaa_verify.report import allure_results

    config = session.config
    if not allure_results.enabled(config):
        return
    described = {}
    for option in ("source", "target"):
        name = config.getoption(option)
        environment = config.stash.get(_OPEN_KEY, {}).get(name) if name else None
        if environment is None:
            continue
        values = {"name": environment.name, "kind": environment.kind}
        try:
            info = environment.info()
            values.update(airflow=info.airflow_version, python=info.python_version)
        except MwaaVerifyError:
            pass
        described[option] = values
    allure_results.write_run_files(Path(config.option.allure_report_dir), described)


def opened_environment(config: pytest.Config, option: str) -> Environment:
    """The environment --<option> names, opened once per session (also when collection needs it first) and
    closed when pytest ends."""
    from mwaa_verify.environments import open_environment

    name = config.getoption(option)
    opened = config.stash.setdefault(_OPEN_KEY, {})
    if name not in opened:
        loaded = loaded_config(config)
        environment = open_environment(loaded.environment(name), loaded)
        config.add_cleanup(environment.close)
        environment.start()
        opened[name] = environment
    return opened[name]


def dag_report(config: pytest.Config, option: str) -> DagReport:
    reports = config.stash.setdefault(_REPORT_KEY, {})
    if option not in reports:
        reports[option] = opened_environment(config, option).dag_report()
    return reports[option]


def task_log_index(config: pytest.Config, option: str) -> dict[str, dict[str, TaskLog]]:
    """--<option>'s task logs in the --since window, by DAG id and then by log name; listed once."""
    indexes = config.stash.setdefault(_LOGS_KEY, {})
    if option not in indexes:
        index: dict[str, dict[str, TaskLog]] = {}
        for log in opened_environment(config, option).task_logs(window_start(config)):
            index.setdefault(log.dag_id, {})[log.name] = log
        indexes[option] = index
    return indexes[option]


def iam_requirements(config: pytest.Config) -> dict[str, RequirementGroup]:
    """The permission groups --target's execution role must satisfy, by test id; derived once."""
    from mwaa_verify.iam.requirements import required_groups

    if _IAM_KEY not in config.stash:
        target = opened_environment(config, "target").mwaa_description()
        try:
            report = dag_report(config, "target")
            operators: set[str] | str = {op for dag in report.dags.values() for op in dag.operators.values()}
        except MwaaVerifyError as exc:
            operators = f"cannot read the target's DAGs to find the AWS operators they use: {exc}"
        source = opened_environment(config, "source").mwaa_description() if config.getoption("source") else None
        loaded = loaded_config(config)
        export = config.getoption("mwaa_export") or ""
        bucket = loaded.migration_bucket or (export if export.startswith("s3://") else None)
        groups = required_groups(
            target, operators, bucket, source["Name"] if source else None, loaded.required_permissions
        )
        config.stash[_IAM_KEY] = {group.id: group for group in groups}
    return config.stash[_IAM_KEY]


def _config_sections(config: pytest.Config) -> list[str]:
    options = [opened_environment(config, option).info().config_options for option in ("source", "target")]
    return sorted({name.split(".", 1)[0] for found in options for name in found})


# argument -> (the environment options it needs, how to list its values)
_GENERATED = {
    "target_dag_file": (("target",), lambda config: sorted(item.path for item in dag_report(config, "target").files)),
    "source_dag_id": (("source",), lambda config: sorted(dag_report(config, "source").dags)),
    "source_log_dag_id": (("source",), lambda config: sorted(task_log_index(config, "source"))),
    "config_section": (("source", "target"), _config_sections),
    "iam_requirement": (("target",), lambda config: sorted(iam_requirements(config))),
}

_NOTHING_TO_CHECK = {
    "iam_requirement": "not applicable: the target is not an MWAA environment, its DAGs use no AWS operator and "
    "mwaa-verify.toml declares no [verify] required_permissions",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per DAG file, DAG, DAG with logs, or config section: known only once the environments are read."""
    for argument, (options, listing) in _GENERATED.items():
        if argument not in metafunc.fixturenames:
            continue
        for option in options:
            if not metafunc.config.getoption(option):
                raise pytest.UsageError(
                    f"{metafunc.definition.nodeid} needs --{option} NAME; {_known_environments(metafunc.config)}"
                )
        try:
            values = listing(metafunc.config)
        except MwaaVerifyError as exc:
            raise pytest.UsageError(f"cannot read {' and '.join(options)} for {argument}: {exc}") from None
        if not values and argument in _NOTHING_TO_CHECK:
            skipped = pytest.mark.skip(reason=_NOTHING_TO_CHECK[argument])
            metafunc.parametrize(argument, [pytest.param(None, marks=skipped, id="none")])
        else:
            metafunc.parametrize(argument, values, ids=values)


def _environment_fixture(option: str):
    @pytest.fixture(scope="session", name=f"{option}_env")
    def fixture(pytestconfig: pytest.Config) -> Environment:
        try:
            return opened_environment(pytestconfig, option)
        except MwaaVerifyError as exc:
            pytest.fail(f"cannot open environment {pytestconfig.getoption(option)!r}: {exc}", pytrace=False)

    fixture.__doc__ = f"The environment --{option} names, open for the whole session."
    return fixture


def _report_fixture(option: str):
    @pytest.fixture(scope="session", name=f"{option}_dag_report")
    def fixture(pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> DagReport:
        request.getfixturevalue(f"{option}_env")  # a clear failure if the environment cannot be opened
        try:
            return dag_report(pytestconfig, option)
        except MwaaVerifyError as exc:
            pytest.fail(f"cannot parse the DAGs of {pytestconfig.getoption(option)!r}: {exc}", pytrace=False)

    fixture.__doc__ = f"How --{option}'s dag-processor parses its DAGs folder."
    return fixture


@pytest.fixture(scope="session")
def iam_requirement_groups(pytestconfig: pytest.Config, target_env: Environment) -> dict[str, RequirementGroup]:
    """The permission groups the target's execution role must satisfy, by id."""
    return iam_requirements(pytestconfig)


@pytest.fixture(scope="session")
def source_task_logs(pytestconfig: pytest.Config, source_env: Environment) -> dict[str, dict[str, TaskLog]]:
    return task_log_index(pytestconfig, "source")


@pytest.fixture(scope="session")
def target_task_logs(pytestconfig: pytest.Config, target_env: Environment) -> dict[str, dict[str, TaskLog]]:
    return task_log_index(pytestconfig, "target")


source_env = _environment_fixture("source")
target_env = _environment_fixture("target")
source_dag_report = _report_fixture("source")
target_dag_report = _report_fixture("target")
