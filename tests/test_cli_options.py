"""The command line reads as user documentation: global options anywhere, help on every option, and `envs`
without a configuration fails in one line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mwaa_verify.cli import _parser, main


def test_global_options_are_accepted_after_the_command(no_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = no_config / "elsewhere.toml"
    other.write_text('[environments.rehearsal]\nkind = "ephemeral"\nairflow_version = "3.3.1"\n')

    code = main(["envs", "--mwaa-config", str(other), "-q"])

    assert code == 0
    assert capsys.readouterr().out.splitlines()[:1] == [f"{other}:"]
    arguments = _parser().parse_args(["-q", "dags", "--mwaa-config", "x.toml", "rehearsal"])
    assert (arguments.mwaa_config, arguments.quiet, arguments.environment) == ("x.toml", True, "rehearsal")
    arguments = _parser().parse_args(["--mwaa-config", "before.toml", "dags", "rehearsal"])
    assert (arguments.mwaa_config, arguments.quiet) == ("before.toml", False)


@pytest.mark.parametrize("command", ["dags", "demo", "report", "run", "envs"])
def test_every_option_has_help(command: str) -> None:
    subcommands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = subcommands.choices[command]

    undocumented = [action.dest for action in parser._actions if not action.help]

    assert undocumented == []


def test_envs_without_a_configuration_fails_in_one_line(no_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["envs"])

    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.splitlines() == [
        "mwaa-verify: error: no mwaa-verify.toml found here or above (nor [tool.mwaa_verify] in pyproject.toml); "
        "create one (see README.md: Environments) or pass --mwaa-config PATH"
    ]


def test_the_top_help_says_what_the_tool_does() -> None:
    assert _parser().description.startswith("Verify that an Apache Airflow / Amazon MWAA migration is a faithful copy")


def test_report_on_a_directory_without_results_fails_in_one_line(
    no_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (no_config / "allure-results").mkdir()

    code = main(["-q", "report", "--results", "allure-results"])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "mwaa-verify: error: allure-results holds no test results: there is nothing to report on; run the "
        "verification first (`mwaa-verify run --source NAME --target NAME`, or `pytest suites --alluredir "
        "allure-results`)"
    ]
