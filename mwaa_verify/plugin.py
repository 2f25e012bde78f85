"""pytest hooks only: the --source/--target/--mwaa-config/--since options, markers, and environment fixtures.

Bad input (an unknown environment, a malformed config, a suite run without the environment it needs) stops
the run with one usage message that names the problem and the fix. Importing this module stays cheap:
it is loaded into every pytest session of a Python that has mwaa-verify installed.
"""

from __future__ import annotations

import argparse
import inspect
import os
import shlex
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mwaa_verify.config import Config, load_config, since_days
from mwaa_verify.directories import os_error_line
from mwaa_verify.environments.base import DagReport, Environment, TaskLog
from mwaa_verify.errors import ConfigError, EnvironmentStartError, MwaaVerifyError, aws_problem
from mwaa_verify.iam.requirements import RequirementGroup

if TYPE_CHECKING:
    from mwaa_verify.iam.account import RoleSurroundings

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
# generated arguments whose values could not be listed, with why: a usage error for the tests that remain
# selected once collection is over, never a collection traceback
_UNREADABLE_KEY = pytest.StashKey[dict[str, str]]()
_RUN_KEY = pytest.StashKey[tuple[str, datetime]]()


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
    group.addoption("--since", metavar="DAYS", help="verify only the last DAYS days of history")
    group.addoption(
        "--logs-failed-only",
        action="store_true",
        help="check only the task logs of task instances that failed (what the AWS sample copies by default)",
    )
    group.addoption(
        "--logs-archive",
        metavar="LOCATION",
        help="where `copy-logs --archive` wrote the logs CloudWatch could not take at their time (s3://... or a "
        "folder): the log suite links them",
    )
    group.addoption(
        "--iam-simulate",
        action="store_true",
        help="cross-check every IAM decision with IAM SimulatePrincipalPolicy (needs AWS credentials)",
    )
    group.addoption(
        "--attach",
        action="store_true",
        dest="mwaa_attach",
        help="container environments: use their running containers (kept with --keep, or a live run's) "
        "instead of starting new ones",
    )
    group.addoption(
        "--export",
        metavar="LOCATION",
        dest="mwaa_export",
        help="a metadata export (directory or s3://bucket/prefix) to check against the source",
    )


@pytest.hookimpl(tryfirst=True)  # before allure-pytest's: a worker must not clean the shared --alluredir
def pytest_configure(config: pytest.Config) -> None:
    from mwaa_verify import workers

    if workers.is_worker(config) and getattr(config.option, "clean_alluredir", False):
        config.option.clean_alluredir = False  # the controller cleaned it before any worker started
    config.addinivalue_line("markers", "needs_source: the test inspects the --source environment")
    config.addinivalue_line("markers", "needs_target: the test inspects the --target environment")
    if config.getoption("since") is not None:
        # checked here rather than as the option's type: pytest prints a type error as a multi-line usage block
        try:
            config.option.since = since_days(str(config.getoption("since")))
        except argparse.ArgumentTypeError as exc:
            raise pytest.UsageError(str(exc)) from None
    run_id(config)  # fixed at the start, so the run's time stamp is when it began
    names = {option: config.getoption(option) for option in ENVIRONMENT_OPTIONS.values()}
    export = config.getoption("mwaa_export")
    if not any(names.values()) and not config.getoption("mwaa_config") and not export:
        return
    # SIGTERM and SIGHUP end the session like Ctrl-C does: fixtures and environments are closed, servers stopped
    from mwaa_verify import ownership

    ownership.install_signal_handlers()
    try:
        loaded = loaded_config(config)
        for name in names.values():
            if name:
                loaded.environment(name)
        if config.getoption("mwaa_attach") and not any(
            name and loaded.environment(name).kind == "container" for name in names.values()
        ):
            raise ConfigError(
                "--attach opens running containers, but neither --source nor --target names an environment of kind "
                "container; leave --attach out, or name the container environment to attach to"
            )
        if export:
            _check_export(export)
        if workers.is_controller(config):
            for name in names.values():
                if name:
                    workers.check_shareable(name, loaded.environment(name), config)
            workers.controller_setup(config, lambda option: opened_environment(config, option))
    except MwaaVerifyError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist, in the controller: what each worker needs to share this session (run id, environments)."""
    from mwaa_verify import workers

    node.workerinput[workers.WORKERINPUT_KEY] = workers.workerinput(
        node.config, run_id(node.config), window_start(node.config)
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """xdist, in the controller: the tests a worker collected, which the summary must find results for."""
    from mwaa_verify import workers

    workers.expect(node.config, ids)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without xdist: the tests this session will run, which the summary must find results for."""
    from mwaa_verify import workers

    if not workers.is_worker(session.config):
        workers.expect(session.config, [item.nodeid for item in session.items])


def _check_export(location: str) -> None:
    """--export is readable before any environment starts: a missing directory, bad bucket or missing
    credentials is one usage line, not a botocore traceback in every test that reads the export."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mwaa_verify.migrate.location import Location

    try:
        Location(location).check_reachable(for_writing=False)
    except (BotoCoreError, ClientError) as exc:
        raise MwaaVerifyError(f"--export {location}: AWS refused or could not be reached: {aws_problem(exc)}") from None


@pytest.hookimpl(trylast=True)  # after -k, -m and --deselect: only the tests that would run count
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse, before anything runs, a suite that needs an environment nobody named or that cannot be read."""
    for option in ("source", "target"):
        if config.getoption(option):
            continue
        needing = [item for item in items if option in _needs(set(getattr(item, "fixturenames", ())))]
        if needing:
            raise pytest.UsageError(
                f"{len(needing)} collected test(s) need --{option} NAME (first: {needing[0].nodeid}); "
                f"{_known_environments(config)}"
            )
    unreadable = config.stash.get(_UNREADABLE_KEY, {})
    for item in items:
        for argument, why in unreadable.items():
            if argument in getattr(item, "fixturenames", ()):
                raise pytest.UsageError(why)


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
        from mwaa_verify import workers

        fixed, start = workers.controller_window_start(config)
        if not fixed:  # this process is the controller (or runs alone)
            days = config.getoption("since")
            start = datetime.now(UTC) - timedelta(days=days) if days else None
        config.stash[_WINDOW_KEY] = start
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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Labels every test for Allure when it is recording: this session's run id (so a summary never mixes two
    runs' results), and for the suites epic, feature, story, severity and parameters. A hook rather than a
    fixture, so a test skipped by a mark is labelled too."""
    from mwaa_verify.report import allure_results

    if not allure_results.enabled(item.config):
        return
    allure_results.label_run(run_id(item.config), item.nodeid)
    module = getattr(item, "module", None)
    if module is not None and module.__name__.rsplit(".", 1)[-1] in allure_results.SUITES:
        allure_results.label_test(item)


def run_id(config: pytest.Config) -> str:
    """This session's run id: the one `mwaa-verify run` chose, else the xdist controller's (every worker's
    results belong to one run), or a new one for a pytest run of its own."""
    from mwaa_verify import workers
    from mwaa_verify.report.runs import RUN_ID_ENV, new_run_id

    if _RUN_KEY not in config.stash:
        chosen = os.environ.get(RUN_ID_ENV) or workers.controller_run_id(config) or new_run_id()
        config.stash[_RUN_KEY] = (chosen, datetime.now(UTC))
    return config.stash[_RUN_KEY][0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Both environments, as configured and as verified, next to the Allure results, with this run's id, and
    the tests the session collected. Under xdist the controller writes them (workers say how they found the
    environments); without it, the session itself."""
    from mwaa_verify import workers
    from mwaa_verify.report import allure_results
    from mwaa_verify.report.runs import COMMAND_ENV

    config = session.config
    if not allure_results.enabled(config):
        return
    if workers.is_worker(config):  # the controller describes the environments it started itself
        workers.publish_description(config, _described(config, skip=workers.attached_options(config)))
        return
    described = _described(config)
    if workers.is_controller(config):
        described = workers.merged_descriptions(config, described)
    results_dir = Path(config.option.allure_report_dir)
    identifier = run_id(config)
    command = os.environ.get(COMMAND_ENV) or shlex.join(["pytest", *config.invocation_params.args])
    tests = sorted(workers.expected(config))
    allure_results.write_run_files(results_dir, described)
    allure_results.write_run_record(
        results_dir,
        {
            "run_id": identifier,
            "started": config.stash[_RUN_KEY][1].isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command,
            "environments": described,
            "suites": allure_results.suite_features({Path(nodeid.split("::", 1)[0]).stem for nodeid in tests}),
            "tests": tests,
        },
    )


def _described(config: pytest.Config, skip: Iterable[str] = ()) -> dict[str, dict[str, str]]:
    """Each named environment as configured, and as found where this process opened it."""
    described = {}
    for option in ("source", "target"):
        name = config.getoption(option)
        if not name or option in skip:
            continue
        values = {"name": name}
        try:
            configured = loaded_config(config).environment(name)
            values["kind"] = configured.kind
            if getattr(configured, "airflow_version", None):
                values["configured_airflow"] = configured.airflow_version
        except MwaaVerifyError:
            pass
        environment = config.stash.get(_OPEN_KEY, {}).get(name)
        if environment is not None:
            values.setdefault("kind", environment.kind)
            try:
                info = environment.info()
                values.update(airflow=info.airflow_version, python=info.python_version)
                if info.database:
                    values["database"] = info.database
            except MwaaVerifyError:
                pass
        described[option] = values
    return described


def opened_environment(config: pytest.Config, option: str) -> Environment:
    """The environment --<option> names, opened once per session (also when collection needs it first) and
    closed when pytest ends. An xdist worker attaches to the one its controller started, if it did."""
    from mwaa_verify import workers
    from mwaa_verify.environments import open_environment, with_container_mode

    name = config.getoption(option)
    opened = config.stash.setdefault(_OPEN_KEY, {})
    if name not in opened:
        loaded = loaded_config(config)
        configured = with_container_mode(loaded.environment(name), attach=config.getoption("mwaa_attach"), strict=False)
        environment = workers.attached_environment(config, option) or open_environment(configured, loaded)
        config.add_cleanup(environment.close)
        try:
            environment.start()
        except OSError as exc:  # a path no configuration check foresaw: one line in the test, not a traceback
            raise EnvironmentStartError(f"environment {name!r} could not be started: {os_error_line(exc)}") from None
        opened[name] = environment
    return opened[name]


def dag_report(config: pytest.Config, option: str) -> DagReport:
    """--<option>'s DAG report, parsed once per session (under xdist, once for all workers)."""
    from mwaa_verify import workers

    reports = config.stash.setdefault(_REPORT_KEY, {})
    if option not in reports:
        reports[option] = workers.shared_dag_report(
            config, option, lambda: opened_environment(config, option).dag_report()
        )
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
    from mwaa_verify.iam.account import account_blocks_public_access
    from mwaa_verify.iam.requirements import required_groups

    if _IAM_KEY not in config.stash:
        target_env = opened_environment(config, "target")
        target = target_env.mwaa_description()
        try:
            report = dag_report(config, "target")
            operators: set[str] | str = {op for dag in report.dags.values() for op in dag.operators.values()}
        except MwaaVerifyError as exc:
            operators = f"cannot read the target's DAGs to find the AWS operators they use: {exc}"
        loaded = loaded_config(config)
        # the old environment's task logs are read by whoever copies them: only an in-environment copy needs
        # the target's role to read them (`mwaa-verify copy-logs` checks its caller before it copies)
        copier_is_target = loaded.logs_copied_by == "environment" and config.getoption("source")
        source = opened_environment(config, "source").mwaa_description() if copier_is_target else None
        export = config.getoption("mwaa_export") or ""
        bucket = loaded.migration_bucket or (export if export.startswith("s3://") else None)
        groups = required_groups(
            target,
            operators,
            bucket,
            source,
            loaded.required_permissions,
            blocks_public_access=account_blocks_public_access(target_env),
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


# what else needs an environment option, beyond ENVIRONMENT_OPTIONS and the generated arguments
_INDIRECT_NEEDS = {"iam_requirement_groups": ("target",), "source_task_logs": ("source",),
                   "target_task_logs": ("target",)}  # fmt: skip


def _needs(names: set[str]) -> list[str]:
    """The environment options that tests taking these arguments need."""
    needs = {ENVIRONMENT_OPTIONS[name] for name in names & ENVIRONMENT_OPTIONS.keys()}
    for name in names:
        needs.update(_GENERATED[name][0] if name in _GENERATED else _INDIRECT_NEEDS.get(name, ()))
    return [option for option in ("source", "target") if option in needs]


def _refusal_is_certain(metafunc: pytest.Metafunc) -> bool:
    """True when a test of this module needs an environment nobody named and nothing deselects tests: the
    session will be refused after collection, so no environment is opened to list values first."""
    config = metafunc.config
    if config.getoption("keyword") or config.getoption("markexpr") or config.getoption("deselect", None):
        return False
    if any("::" in arg for arg in config.args):
        return False
    tests = [set(metafunc.fixturenames)]
    for name, function in vars(metafunc.module).items() if metafunc.module else ():
        if name.startswith("test") and inspect.isfunction(function):
            tests.append(set(inspect.signature(function).parameters))
    return any(not config.getoption(option) for names in tests for option in _needs(names))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per DAG file, DAG, DAG with logs, or config section: known only once the environments are read.

    Tests whose values cannot be listed (an environment nobody named, one that cannot be read) get none here;
    pytest_collection_modifyitems then refuses them in one usage line rather than a collection traceback.
    """
    arguments = [argument for argument in _GENERATED if argument in metafunc.fixturenames]
    if not arguments:
        return
    config = metafunc.config
    unreadable = config.stash.setdefault(_UNREADABLE_KEY, {})
    certain = _refusal_is_certain(metafunc)
    for argument in arguments:
        options, listing = _GENERATED[argument]
        if certain or argument in unreadable or not all(config.getoption(option) for option in options):
            metafunc.parametrize(argument, [])
            continue
        try:
            values = listing(config)
        except MwaaVerifyError as exc:
            unreadable[argument] = f"cannot read {' and '.join(options)} for {argument}: {exc}"
            metafunc.parametrize(argument, [])
            continue
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
def iam_surroundings(target_env: Environment) -> RoleSurroundings | None:
    """What besides the target's execution role decides its requests (SCPs, bucket and key policies), as far
    as the caller may read them; None when the target has no role."""
    from mwaa_verify.iam.account import read_surroundings

    try:
        role = target_env.execution_role()
        return read_surroundings(target_env, role) if role is not None else None
    except MwaaVerifyError as exc:
        pytest.fail(f"cannot read the execution role of {target_env.name!r}: {exc}", pytrace=False)


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
