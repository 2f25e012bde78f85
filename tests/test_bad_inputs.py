"""Bad input as a careless user gives it: every case ends in ONE line on stderr that names the problem and the
fix, a non-zero exit, no traceback, and nothing started or written first.

The CLI is driven through `main([...])`; the pytest plugin through a real pytest subprocess. Paths that cannot
be written are made with a regular file where a directory is expected and with /proc (this runs as root too,
and root may write anywhere else)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from aws_double import TEST_ENV

from conftest import junit_outcomes
from mwaa_verify.cli import main
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml
from mwaa_verify.environments.postgres import PostgresCluster

SUITES = Path(__file__).resolve().parent.parent / "suites"
EPHEMERAL = '[environments.rehearsal]\nkind = "ephemeral"\nairflow_version = "3.3.1"\n'
MWAA = '[environments.old]\nkind = "mwaa"\nenvironment_name = "prod-2"\nregion = "eu-west-1"\n'
NO_CREDENTIALS = {
    "AWS_CONFIG_FILE": "{tmp}/absent",
    "AWS_SHARED_CREDENTIALS_FILE": "{tmp}/absent",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_DEFAULT_REGION": "eu-west-1",
}
CREDENTIALS_FIX = "configure credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or `aws configure`)"


def local(python: str, url: str = "postgresql+psycopg2://airflow@127.0.0.1:1/airflow", extra: str = "") -> str:
    return (
        f'[environments.self-managed]\nkind = "local"\npython = "{python}"\nsql_alchemy_conn = "{url}"\n'
        f'dags_folder = "{{tmp}}/dags"\n{extra}'
    )


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    expected: tuple[str, ...]  # fragments of the one line: the problem, and the fix
    config: str | None = EPHEMERAL
    env: dict[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()  # what must not appear (secrets) or must not exist afterwards ({tmp}/...)


CLI_CASES = {
    # destinations that cannot be written: a regular file where a directory is expected, and /proc
    "export destination under a file": Case(
        ("export", "rehearsal", "{tmp}/a_file/export"),
        ("export destination {tmp}/a_file/export cannot be created: {tmp}/a_file is a file", "choose a path under"),
    ),
    "export destination is a file": Case(
        ("export", "rehearsal", "{tmp}/a_file"), ("{tmp}/a_file is a file, not a directory", "choose a directory")
    ),
    "export destination cannot be created": Case(
        ("export", "rehearsal", "/proc/mwaa-verify-export"),
        ("export destination /proc/mwaa-verify-export cannot be created", "choose a directory you can write to"),
    ),
    "export destination holds other files": Case(
        ("export", "rehearsal", "{tmp}/dags"), ("{tmp}/dags exists and is not an export", "choose an empty or new")
    ),
    "demo workdir under a file": Case(
        ("demo", "--workdir", "{tmp}/a_file/demo"), ("--workdir {tmp}/a_file/demo cannot be created", "choose a path")
    ),
    "demo workdir cannot be created": Case(
        ("demo", "--workdir", "/proc/mwaa-verify-demo"), ("--workdir /proc/mwaa-verify-demo", "you can write to")
    ),
    "demo reports is a file": Case(
        ("demo", "--workdir", "{tmp}/demo", "--reports", "{tmp}/a_file"),
        ("--reports {tmp}/a_file is a file, not a directory", "choose a directory"),
        absent=("{tmp}/demo",),
    ),
    "run reports is a file": Case(
        ("run", "--source", "rehearsal", "--target", "rehearsal", "--reports", "{tmp}/a_file"),
        ("--reports {tmp}/a_file is a file", "choose a directory"),
    ),
    "report reports is a file": Case(
        ("report", "--results", "{tmp}/results", "--reports", "{tmp}/a_file"), ("--reports {tmp}/a_file is a file",)
    ),
    "cache directory under a file (demo)": Case(
        ("demo", "--workdir", "{tmp}/demo"),
        ("cache directory", "$MWAA_VERIFY_CACHE_DIR) {tmp}/a_file/cache cannot be created", "choose a path under"),
        env={"MWAA_VERIFY_CACHE_DIR": "{tmp}/a_file/cache"},
        absent=("{tmp}/demo",),
    ),
    "cache directory cannot be created (an ephemeral environment)": Case(
        ("dags", "rehearsal"),
        ("cache directory", "/proc/mwaa-verify-cache cannot be created", "choose a directory you can write to"),
        env={"MWAA_VERIFY_CACHE_DIR": "/proc/mwaa-verify-cache"},
    ),
    "cache directory under a file (import)": Case(
        ("import", "{tmp}/export_with_manifest", "rehearsal"),
        ("cache directory", "{tmp}/a_file/cache cannot be"),
        env={"MWAA_VERIFY_CACHE_DIR": "{tmp}/a_file/cache"},
    ),
    "cache directory under a file (run)": Case(
        ("run", "--source", "rehearsal", "--target", "rehearsal", "--reports", "{tmp}/reports"),
        ("cache directory", "{tmp}/a_file/cache cannot be created", "choose a path under a directory"),
        env={"MWAA_VERIFY_CACHE_DIR": "{tmp}/a_file/cache"},
    ),
    "cache_dir in the configuration under a file": Case(
        ("envs",),
        ("cache_dir = {tmp}/a_file/cache cannot be created", "choose a path under a directory"),
        config='cache_dir = "a_file/cache"\n' + EPHEMERAL,
    ),
    # versions: checked with the configuration's own rule before anything is installed
    "demo source version not a version": Case(
        ("demo", "--source-version", "abc"), ("--source-version = 'abc' is not an Airflow version", "write it as X.Y.Z")
    ),
    "demo source version not provisionable": Case(
        ("demo", "--source-version", "2.4.0"), ("--source-version = '2.4.0'", "pick a version from one of those lines")
    ),
    "demo target version not a version": Case(
        ("demo", "--target-version", "3.x"), ("--target-version = '3.x' is not an Airflow version", "X.Y.Z")
    ),
    "demo target older than source": Case(
        ("demo", "--source-version", "3.3.1", "--target-version", "2.10.5"),
        ("--target-version 2.10.5 is older than --source-version 3.3.1", "swap them"),
    ),
    # a `local` environment's python and database URL
    "local python not executable": Case(
        ("dags", "self-managed"),
        ("python = '{tmp}/not_executable': {tmp}/not_executable is not executable", "point it at the Python"),
        config=local("{tmp}/not_executable"),
    ),
    "local python is a directory": Case(
        ("dags", "self-managed"),
        ("{tmp}/dags is a directory, not a file", "point it at the file"),
        config=local("{tmp}/dags"),
    ),
    "local python without Airflow": Case(
        ("dags", "self-managed"),
        ("python {tmp}/python_without_airflow has no Airflow installed", "point 'python' at the interpreter"),
        config=local("{tmp}/python_without_airflow"),
    ),
    "local python whose interpreter is missing": Case(
        ("dags", "self-managed"),
        ("python {tmp}/bad_shebang cannot be run", "point 'python' at the interpreter"),
        config=local("{tmp}/bad_shebang"),
    ),
    "sql_alchemy_conn not a URL (export)": Case(
        ("export", "self-managed", "{tmp}/export"),
        ("sql_alchemy_conn is not a database URL", "postgresql+psycopg2://"),
        config=local(sys.executable, "airflow:s3cret@db/airflow"),
        absent=("s3cret", "{tmp}/export"),
    ),
    "sql_alchemy_conn with a bad port (import)": Case(
        ("import", "{tmp}/export_with_manifest", "self-managed"),
        ("sql_alchemy_conn is not a database URL", "postgresql+psycopg2://"),
        config=local(sys.executable, "postgresql://airflow:s3cret@db:port/airflow"),
        absent=("s3cret",),
    ),
    "sql_alchemy_conn with a misspelt scheme": Case(
        ("copy-logs", "self-managed", "self-managed"),
        ("sql_alchemy_conn is not a database URL",),
        config=local(sys.executable, "postgress://airflow:s3cret@db/airflow"),
        absent=("s3cret",),
    ),
    # report with nothing to report on
    "report on a missing results directory": Case(
        ("report", "--results", "{tmp}/none"), ("{tmp}/none does not exist", "run the verification first")
    ),
    "report on an empty results directory": Case(
        ("report", "--results", "{tmp}/dags"),
        ("{tmp}/dags holds no test results", "run the verification first"),
        absent=("{tmp}/reports",),
    ),
    "report on a file": Case(("report", "--results", "{tmp}/a_file"), ("{tmp}/a_file is not a directory", "run")),
    "report on a corrupt result file": Case(
        ("report", "--results", "{tmp}/corrupt_results"), ("corrupt_results holds no test results", "run")
    ),
    "dags_folder that is a file": Case(
        ("envs",),
        ("dags_folder = 'a_file': {tmp}/a_file is a file, not a directory", "point it at the directory"),
        config=EPHEMERAL + 'dags_folder = "a_file"\n',
    ),
    "base_log_folder that is a file": Case(
        ("envs",),
        ("base_log_folder = '{tmp}/a_file'", "is a file, not a directory"),
        config=local(sys.executable, extra='base_log_folder = "{tmp}/a_file"\n'),
    ),
    # S3 locations: without credentials, and with a bucket name S3 would refuse
    "export to S3 without credentials": Case(
        ("export", "rehearsal", "s3://migration-bucket/exports"),
        ("Unable to locate credentials", CREDENTIALS_FIX),
        env=NO_CREDENTIALS,
    ),
    "run with an S3 export without credentials": Case(
        ("run", "--source", "rehearsal", "--target", "rehearsal", "--export", "s3://migration-bucket/x"),
        ("Unable to locate credentials", CREDENTIALS_FIX),
        env=NO_CREDENTIALS,
        absent=("{tmp}/reports",),
    ),
    "import from a bad bucket name": Case(
        ("import", "s3://Migration_Bucket/x", "rehearsal"),
        ("'Migration_Bucket' is not a valid S3 bucket name", "write it as s3://bucket/prefix"),
    ),
    "run with a missing export directory": Case(
        ("run", "--source", "rehearsal", "--target", "rehearsal", "--export", "{tmp}/none"),
        ("export {tmp}/none does not exist", "point at a directory written by `mwaa-verify export`"),
    ),
    # options and arguments
    "since not a number": Case(("export", "rehearsal", "{tmp}/x", "--since", "abc"), ("whole number", "--help`")),
    "since zero": Case(("copy-logs", "rehearsal", "rehearsal", "--since", "0"), ("positive number of days, got 0",)),
    "since beyond the calendar": Case(
        ("run", "--source", "rehearsal", "--target", "rehearsal", "--since", "99999999"),
        ("--since takes at most 36500 days", "leave it out for all history"),
    ),
    "unknown command": Case(("exprot",), ("invalid choice: 'exprot'", "see `mwaa-verify --help`")),
    "missing required option": Case(("run", "--source", "rehearsal"), ("required: --target", "mwaa-verify run --help")),
    "unknown environment": Case(("dags", "rehersal"), ("unknown environment 'rehersal'", "did you mean 'rehearsal'")),
    "clone with an invalid new name": Case(
        ("clone", "old", "--name", "prod 3!", "--airflow-version", "3.3.1"),
        ("Name 'prod 3!' is not valid", "match"),
        config=MWAA,
        env=NO_CREDENTIALS,
    ),
    "clone with a version that is no version": Case(
        ("clone", "old", "--name", "prod-3", "--airflow-version", "latest"),
        ("'latest'", "write the Airflow version"),
        config=MWAA,
        env=NO_CREDENTIALS,
    ),
    "clone with a role that is no ARN": Case(
        ("clone", "old", "--name", "prod-3", "--airflow-version", "3.3.1", "--execution-role-arn", "my-role"),
        ("ExecutionRoleArn 'my-role' is not valid for MWAA", "must match"),
        config=MWAA,
        env=NO_CREDENTIALS,
    ),
    # the configuration file itself
    "configuration is a directory": Case(
        ("--mwaa-config", "{tmp}/dags", "envs"), ("{tmp}/dags is a directory", "pass the file itself"), config=None
    ),
    "configuration is not text": Case(
        ("--mwaa-config", "{tmp}/binary.toml", "envs"),
        ("is not UTF-8 text", "point at the configuration file"),
        config=None,
    ),
    "configuration with a wrong type": Case(
        ("envs",),
        ("airflow_version must be a non-empty string, got 3.3",),
        config='[environments.e]\nkind = "ephemeral"\nairflow_version = 3.3\n',
    ),
    "ephemeral workdir that holds the configuration": Case(
        ("envs",),
        ("workdir = '.'", "empties its workdir on every start", "choose a directory of its own"),
        config=EPHEMERAL + 'workdir = "."\n',
    ),
    "python_version that is no version": Case(
        ("envs",),
        ("python_version = 'three' is not a Python version", "write it as '3.11'"),
        config=EPHEMERAL + 'python_version = "three"\n',
    ),
    "migration_bucket that is no bucket name": Case(
        ("envs",),
        ("'Migration Bucket' is not a valid S3 bucket name",),
        config=EPHEMERAL + '[verify]\nmigration_bucket = "Migration Bucket"\n',
    ),
}


def workspace(tmp: Path) -> None:
    """What the cases point at: a DAGs folder, a regular file, pythons that cannot serve, a results directory."""
    (tmp / "dags").mkdir()
    (tmp / "dags" / "etl.py").write_text("# a DAG file\n")
    (tmp / "a_file").write_text("not a directory\n")
    (tmp / "not_executable").write_text("#!/bin/sh\n")
    (tmp / "binary.toml").write_bytes(b"\xff\xfe[environments]\n")
    (tmp / "bad_shebang").write_text("#!/nonexistent/interpreter\n")
    # a real Python that cannot see any installed package, so not Airflow either
    (tmp / "python_without_airflow").write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    for name in ("bad_shebang", "python_without_airflow"):
        (tmp / name).chmod(0o755)
    (tmp / "results").mkdir()
    (tmp / "results" / "0-result.json").write_text(json.dumps({"name": "test_x", "status": "passed"}))
    (tmp / "corrupt_results").mkdir()
    (tmp / "corrupt_results" / "1-result.json").write_text('{"name": "test_x", "status": ')
    (tmp / "export_with_manifest").mkdir()
    (tmp / "export_with_manifest" / "manifest.json").write_text("{}")


def _filled(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


def assert_one_line(code: int, err: str, expected: tuple[str, ...]) -> None:
    assert code != 0
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in {err!r}"


@pytest.mark.parametrize("case", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_cli_refuses_in_one_line(
    case: Case, no_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = no_config
    workspace(tmp)
    if case.config is not None:
        (tmp / "mwaa-verify.toml").write_text(_filled(case.config, tmp))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, _filled(value, tmp))

    code = run_cli([_filled(arg, tmp) for arg in case.argv])

    err = capsys.readouterr().err
    assert_one_line(code, err, tuple(_filled(fragment, tmp) for fragment in case.expected))
    for thing in case.absent:
        assert _filled(thing, tmp) not in err
        if thing.startswith("{tmp}"):
            assert not Path(_filled(thing, tmp)).exists(), f"{thing} was written before the refusal"


def run_cli(argv: list[str]) -> int:
    """The exit code of `mwaa-verify -q ARGV`."""
    return main(["-q", *argv])


# -- a database that is not Airflow's: refused before a file is written or a row changed ------------------


@pytest.fixture(scope="module")
def foreign_databases() -> dict[str, str]:
    """One throwaway PostgreSQL with an empty database and one holding another application's table."""
    with PostgresCluster() as cluster:
        admin = sa.create_engine(cluster.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as connection:
            for name in ("empty", "shop"):
                connection.execute(sa.text(f"CREATE DATABASE {name}"))
        admin.dispose()
        urls = {name: sa.engine.make_url(cluster.url).set(database=name) for name in ("empty", "shop")}
        shop = sa.create_engine(urls["shop"], poolclass=sa.pool.NullPool)
        with shop.begin() as connection:
            connection.execute(sa.text("CREATE TABLE customers (id integer PRIMARY KEY, name text)"))
        shop.dispose()
        yield {name: url.render_as_string(hide_password=False) for name, url in urls.items()}


DATABASE_CASES = {
    "export from an empty database": (
        "empty",
        ("export", "self-managed", "{tmp}/export"),
        ("is not an Airflow metadata database (no alembic_version, dag, dag_run, task_instance table; it is empty)",
         "point its sql_alchemy_conn at the database Airflow's [database] sql_alchemy_conn names"),
    ),
    "export from another application's database": (
        "shop",
        ("export", "self-managed", "{tmp}/export"),
        ("is not an Airflow metadata database", "it has 1 other table(s): customers", "point its sql_alchemy_conn"),
    ),
    "import into another application's database": (
        "shop",
        ("import", "{tmp}/export_with_manifest", "self-managed"),
        ("is not an Airflow metadata database", "run `airflow db migrate` with the target's own Airflow first"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", DATABASE_CASES.values(), ids=DATABASE_CASES.keys())
def test_a_database_that_is_not_airflows_is_refused(
    case: tuple[str, tuple[str, ...], tuple[str, ...]],
    foreign_databases: dict[str, str],
    no_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database, argv, expected = case
    tmp = no_config
    workspace(tmp)
    (tmp / "mwaa-verify.toml").write_text(_filled(local(sys.executable, foreign_databases[database]), tmp))

    code = run_cli([_filled(arg, tmp) for arg in argv])

    assert_one_line(code, capsys.readouterr().err, expected)
    assert not (tmp / "export").exists() and not (tmp / "export.partial").exists()


# -- the pytest plugin: one usage line, before any environment is opened -----------------------------------

RECORDING_PYTHON = '#!/bin/sh\ntouch "{tmp}/python_was_run"\nexit 1\n'

PLUGIN_CASES = {
    "suites without --source": Case(
        (str(SUITES), "--target", "self-managed"),
        ("collected test(s) need --source NAME (first: ", "environments defined in", "self-managed"),
    ),
    "suites without --target": Case(
        (str(SUITES / "test_dag_import.py"), "--source", "self-managed"),
        ("need --target NAME (first: ", "test_dag_import.py::test_dag_file_imports_on_the_target"),
    ),
    "attach without a container environment": Case(
        ("--source", "self-managed", "--attach"), ("--attach opens running containers", "leave --attach out")
    ),
    "since that is not a number": Case(("--since", "yesterday"), ("--since takes a whole number of days",)),
    "since zero": Case(("--since", "0"), ("--since takes a positive number of days, got 0",)),
    "since beyond the calendar": Case(("--since", "99999999"), ("at most 36500 days", "leave it out")),
    "export on S3 without credentials": Case(
        (str(SUITES / "test_metadata_parity.py"), "--source", "self-managed", "--target", "self-managed",
         "--export", "s3://migration-bucket/exports"),
        ("--export s3://migration-bucket/exports: AWS refused or could not be reached: Unable to locate credentials",
         CREDENTIALS_FIX),
        env=NO_CREDENTIALS,
    ),
    "export on S3 with a bad bucket name": Case(
        ("--source", "self-managed", "--export", "s3://Migration_Bucket/x"),
        ("'Migration_Bucket' is not a valid S3 bucket name",),
    ),
    "export directory that does not exist": Case(
        ("--source", "self-managed", "--export", "{tmp}/none"), ("export {tmp}/none does not exist", "point at"),
    ),
    "configuration that is a directory": Case(
        ("--source", "self-managed", "--mwaa-config", "{tmp}/dags"), ("is a directory", "pass the file itself")
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", PLUGIN_CASES.values(), ids=PLUGIN_CASES.keys())
def test_pytest_plugin_refuses_in_one_line(case: Case, pytester: pytest.Pytester) -> None:
    tmp = pytester.path
    workspace(tmp)
    (tmp / "recording_python").write_text(_filled(RECORDING_PYTHON, tmp))
    (tmp / "recording_python").chmod(0o755)
    (tmp / "mwaa-verify.toml").write_text(_filled(local("{tmp}/recording_python"), tmp))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        pytester._monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        pytester._monkeypatch.setenv(name, _filled(value, tmp))

    result = pytester.runpytest_subprocess(*(_filled(arg, tmp) for arg in case.argv), "-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = "\n".join(line for line in result.stderr.lines if line.strip()) + "\n"
    assert_one_line(result.ret, err, ("ERROR: ", *(_filled(fragment, tmp) for fragment in case.expected)))
    assert "Traceback" not in result.stdout.str()
    assert not (tmp / "python_was_run").exists(), "an environment was opened before the refusal"


def test_suites_on_an_environment_that_cannot_be_read_refuse_in_one_line(pytester: pytest.Pytester) -> None:
    """A target whose python has no Airflow: its DAGs cannot be listed, so collection stops with the reason."""
    tmp = pytester.path
    workspace(tmp)
    (tmp / "mwaa-verify.toml").write_text(_filled(local("{tmp}/python_without_airflow"), tmp))

    result = pytester.runpytest_subprocess(str(SUITES / "test_dag_import.py"), "--source", "self-managed",
                                           "--target", "self-managed", "-p", "no:cacheprovider")  # fmt: skip

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = "\n".join(line for line in result.stderr.lines if line.strip()) + "\n"
    assert_one_line(result.ret, err, ("cannot read target for target_dag_file", "has no Airflow installed",
                                      "point 'python' at the interpreter"))  # fmt: skip
    assert "Traceback" not in result.stdout.str()


def test_run_passes_the_suites_refusal_on_in_one_line(no_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`mwaa-verify run` whose suites refuse (here: no Airflow behind the environment) says why, writes no
    sign-off summary, and exits non-zero, instead of "NOT READY: 0 check(s) failed"."""
    tmp = no_config
    workspace(tmp)
    (tmp / "mwaa-verify.toml").write_text(_filled(local("{tmp}/python_without_airflow"), tmp))

    code = run_cli(["run", "--source", "self-managed", "--target", "self-managed", "--reports", str(tmp / "out")])

    assert_one_line(code, capsys.readouterr().err, ("has no Airflow installed", "point 'python' at the interpreter"))
    assert not (tmp / "out" / "summary.md").exists()


# -- --iam-simulate where there is no IAM role to simulate ----------------------------------------------------


@pytest.mark.slow
def test_iam_simulate_on_a_policy_file_still_checks_and_says_simulation_does_not_apply(
    pytester: pytest.Pytester, airflow3: EphemeralEnvironment
) -> None:
    policy = pytester.path / "policy.json"
    policy.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    declared = '[verify]\nrequired_permissions = [{ action = "s3:GetObject", resource = "arn:aws:s3:::lake/raw/*" }]\n'
    (pytester.path / "mwaa-verify.toml").write_text(
        declared + local_config_toml(airflow3) + f'policy_file = "{policy}"\n'
    )
    report, results = pytester.path / "junit.xml", pytester.path / "allure-results"

    result = pytester.runpytest_subprocess(
        str(SUITES / "test_iam_policy.py"), "-k", "test_execution_role_allows", "--target", airflow3.name,
        "--iam-simulate", f"--junitxml={report}", f"--alluredir={results}", "-p", "no:cacheprovider",
    )  # fmt: skip

    # the local evaluator's check ran and passed: never skipped because the simulation cannot run
    assert junit_outcomes(report) == {"test_execution_role_allows[declared]": None}
    note = (
        f"--iam-simulate is not applicable to {airflow3.name!r}: its role is a policy file, not an IAM role IAM "
        f"could simulate; this check passed on the local evaluator alone"
    )
    assert note in result.stdout.str()
    labels = [
        label["value"]
        for path in results.glob("*-result.json")
        for label in json.loads(path.read_text())["labels"]
        if label["name"] == "mwaa_warning"
    ]
    assert labels == [note]


def test_tests_deselected_with_k_need_no_environment(pytester: pytest.Pytester) -> None:
    """Only the tests that would run count: `-k` leaving out every test that needs --source is not refused."""
    tmp = pytester.path
    workspace(tmp)
    (tmp / "mwaa-verify.toml").write_text(_filled(local("{tmp}/python_without_airflow"), tmp))

    result = pytester.runpytest_subprocess(str(SUITES / "test_dag_import.py"), "--target", "self-managed",
                                           "-k", "requirements", "-p", "no:cacheprovider")  # fmt: skip

    # the target is opened now (and its missing Airflow named), not refused for a --source nothing selected needs
    assert "need --source" not in result.stderr.str()
    assert "has no Airflow installed" in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("command", ["export", "import"])
def test_a_bucket_that_does_not_exist_is_named(
    command: str, no_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    (no_config / "mwaa-verify.toml").write_text(EPHEMERAL)
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    argv = ["export", "rehearsal", "s3://no-such-bucket/x"] if command == "export" else [
        "import", "s3://no-such-bucket/x", "rehearsal"]  # fmt: skip

    with mock_aws():
        code = run_cli(argv)

    assert_one_line(code, capsys.readouterr().err, ("bucket 'no-such-bucket' does not exist", "create the bucket"))


def test_the_installed_command_refuses_in_one_line_too(no_config: Path) -> None:
    """The same path as `mwaa-verify demo --source-version abc` typed in a shell: a process of its own."""
    import subprocess

    completed = subprocess.run(
        [sys.executable, "-m", "mwaa_verify.cli", "demo", "--source-version", "abc"],
        capture_output=True, text=True, cwd=no_config, env={**os.environ, "PYTHONPATH": str(SUITES.parent)},
    )  # fmt: skip

    assert completed.returncode == 2
    assert completed.stderr == (
        "mwaa-verify: error: --source-version = 'abc' is not an Airflow version; write it as X.Y.Z, e.g. '2.10.5'\n"
    )
