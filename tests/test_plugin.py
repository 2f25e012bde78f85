"""The pytest plugin as a user meets it: options, usage errors before anything runs, fixtures."""

from __future__ import annotations

import pytest
from aws_double import TEST_ENV

CONFIG = """
[environments.prod-2]
kind = "mwaa"
environment_name = "prod-airflow-2"

[environments.prod-3]
kind = "mwaa"
environment_name = "prod-airflow-3"
"""

SUITE_NEEDING_SOURCE = """
def test_uses_source(source_env):
    assert source_env is not None
"""


def test_unknown_source_prints_the_known_names(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", **{"mwaa-verify": CONFIG})
    pytester.makepyfile(test_suite=SUITE_NEEDING_SOURCE)

    result = pytester.runpytest_subprocess("--source", "prod-4")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: unknown environment 'prod-4'*defines: prod-2, prod-3"])
    assert "Traceback" not in result.stderr.str()


def test_suite_needing_an_environment_without_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", **{"mwaa-verify": CONFIG})
    pytester.makepyfile(test_suite=SUITE_NEEDING_SOURCE)

    result = pytester.runpytest_subprocess()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: 1 collected test(s) need --source NAME (first: test_suite.py::test_uses_source); "
            "environments defined in *mwaa-verify.toml: prod-2, prod-3"
        ]
    )


def test_malformed_config_is_a_usage_error_naming_the_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", **{"mwaa-verify": '[environments.a]\nkind = "mwaa"\n'})

    result = pytester.runpytest_subprocess("--source", "a")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *mwaa-verify.toml*missing required key 'environment_name'*"])


def test_since_must_be_a_positive_number_of_days(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--since", "yesterday")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--since takes a whole number of days, got 'yesterday'*"])


def test_since_fixture_is_the_start_of_the_window(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from datetime import UTC, datetime, timedelta

        def test_window(since):
            assert abs(datetime.now(UTC) - timedelta(days=3) - since) < timedelta(minutes=1)
        """
    )

    result = pytester.runpytest_subprocess("--since", "3")

    result.assert_outcomes(passed=1)


def test_tests_without_environments_run_without_a_config(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(): pass")

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(passed=1)


def test_unreachable_mwaa_environment_fails_the_test_with_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    closed_port = 'region = "eu-west-1"\nendpoint_url = "http://127.0.0.1:9"\n'
    pytester.makefile(
        ".toml", **{"mwaa-verify": CONFIG.replace('"prod-airflow-2"\n', '"prod-airflow-2"\n' + closed_port)}
    )
    pytester.makepyfile(test_suite=SUITE_NEEDING_SOURCE)

    result = pytester.runpytest_subprocess("--source", "prod-2")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*cannot open environment 'prod-2': environment 'prod-2': cannot describe MWAA environment "
         "'prod-airflow-2': Could not connect to the endpoint URL*"]
    )  # fmt: skip
    assert "Traceback" not in result.stdout.str()
