"""`mwaa-verify run`: the bundled suites against two environments. Each run writes JUnit XML, Allure results,
the sign-off summary and (with Node.js) the Allure HTML report into a directory of its own,
reports/runs/<run id>/, compares itself with the previous run (drift) and copies its summaries to the top of
the reports directory.

The suites run in a child pytest so that a user's own pytest configuration and plugins stay out of it, and
work the same from a checkout and from an installed wheel.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mwaa_verify import ownership, progress
from mwaa_verify.errors import ConfigError
from mwaa_verify.report import history
from mwaa_verify.report.allure_html import generate_html
from mwaa_verify.report.runs import (
    COMMAND_ENV,
    RUN_ID_ENV,
    new_run_id,
    prune_runs,
    publish,
    reports_lock,
    run_directory,
)
from mwaa_verify.report.summary import Summary, read_results, write_summary

# how long the suites' pytest may take to stop its environments after SIGTERM
SUITES_GRACE_SECONDS = 120
SUITE_NAMES = ("dag_import", "metadata_parity", "log_copy", "environment_config", "iam_policy")


@dataclass(frozen=True)
class VerificationRun:
    exit_code: int
    output: str
    run_id: str
    run_dir: Path
    junit: Path
    allure_results: Path
    summary: Summary
    summary_md: Path
    summary_html: Path
    summary_json: Path
    allure_html: Path | None


USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR, without importing pytest into the CLI


def _usage_error_line(output: str) -> str:
    """The plugin's one-line refusal ("ERROR: ..."), without pytest's prefix."""
    lines = [line.strip() for line in output.splitlines() if line.strip()] or ["pytest refused to run the suites"]
    refusal = next((line for line in lines if line.startswith("ERROR: ")), lines[-1])
    return refusal.removeprefix("ERROR: ")


def _command_line(source: str, target: str, suites: tuple[str, ...]) -> str:
    """The command a user typed, for the summary; called from Python instead, what was asked for."""
    if Path(sys.argv[0]).name in {"mwaa-verify", "cli.py"}:
        return shlex.join(["mwaa-verify", *sys.argv[1:]])
    return f"run_verification({source!r}, {target!r}, suites={list(suites)!r}) from {Path(sys.argv[0]).name}"


def suites_dir() -> Path:
    return Path(str(resources.files("mwaa_verify") / "suites"))


def run_verification(
    source: str,
    target: str,
    reports: Path,
    config_path: Path | None,
    cache_dir: Path,
    suites: tuple[str, ...] = SUITE_NAMES,
    extra_args: tuple[str, ...] = (),
    command: str | None = None,
    described_as: Mapping[str, Mapping[str, str]] | None = None,
) -> VerificationRun:
    """One run with results of its own under reports/runs/<run id>/; the latest run's summaries are copied to
    the top of `reports`. `described_as` overrides how an environment is described (the demo's ephemeral
    environments, opened by the suites as local ones)."""
    unknown = sorted(set(suites) - set(SUITE_NAMES))
    if unknown:
        raise ConfigError(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITE_NAMES)}")
    reports = reports.resolve()
    run_id = new_run_id()
    command = command or _command_line(source, target, suites)
    with reports_lock(reports, run_id, command):
        run_dir = run_directory(reports, run_id)
        results, junit = run_dir / "allure-results", run_dir / "junit.xml"
        run_dir.mkdir(parents=True)
        pytest_command = [
            sys.executable, "-m", "pytest", *(str(suites_dir() / f"test_{name}.py") for name in suites),
            "--source", source, "--target", target, f"--junitxml={junit}", f"--alluredir={results}",
            "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(suites_dir()),
            "-q", "-rfE", "--tb=short", *(["--mwaa-config", str(config_path)] if config_path else []), *extra_args,
        ]  # fmt: skip
        with progress.step(f"verifying {source} -> {target}: {', '.join(suites)} (run {run_id})"):
            # its own process group: on Ctrl-C or SIGTERM it gets SIGTERM and stops its environments before we
            # go on (SIGKILL only if it has not after a while; then what it left is swept)
            scratch = ownership.make_owned_dir("suites")
            try:
                completed = ownership.run(
                    pytest_command, scratch, None, cwd=Path.cwd(), grace=SUITES_GRACE_SECONDS,
                    env={**os.environ, RUN_ID_ENV: run_id, COMMAND_ENV: command, "COLUMNS": "250"},
                )  # fmt: skip
            finally:
                ownership.remove_owned_dir(scratch)
        output = run_dir / "pytest-output.txt"
        output.write_text(completed.stdout + completed.stderr, encoding="utf-8")
        if completed.returncode == USAGE_ERROR or not results.is_dir():  # pytest refused before running anything
            shutil.rmtree(run_dir, ignore_errors=True)
            raise ConfigError(_usage_error_line(completed.stderr or completed.stdout))
        summary = read_results(results, run_id)
        for role, values in (described_as or {}).items():
            if role in summary.environments:
                summary.environments[role].update(values)
        summary.drift = history.drift(history.previous_record(reports, summary), summary)
        allure_html = generate_html(
            results, run_dir / "allure-report", cache_dir, f"{source} -> {target}", history.history_dir(reports)
        )
        links = {
            "Allure report (one file, opens from disk)": allure_html,
            "Allure results and attachments": results,
            "JUnit XML": junit,
            "pytest output": output,
        }
        summary_md, summary_html, summary_json = write_summary(summary, run_dir, links)
        history.append(reports, summary)
        staged = run_dir / ".top"  # the same summaries, their links relative to the top of reports/
        write_summary(summary, staged, links, link_base=reports)
        publish([staged / "summary.md", staged / "summary.html", staged / "summary.json", junit], reports)
        shutil.rmtree(staged, ignore_errors=True)
        prune_runs(reports)
    return VerificationRun(
        completed.returncode, completed.stdout, run_id, run_dir, junit, results, summary, summary_md, summary_html,
        summary_json, allure_html,
    )  # fmt: skip
