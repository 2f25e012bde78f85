"""`mwaa-verify run`: the bundled suites against two environments, with JUnit XML, Allure results, the
sign-off summary and (with Node.js) the Allure HTML report under one reports directory.

The suites run in a child pytest so that a user's own pytest configuration and plugins stay out of it, and
work the same from a checkout and from an installed wheel.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mwaa_verify import ownership, progress
from mwaa_verify.errors import ConfigError
from mwaa_verify.report.allure_html import generate_html
from mwaa_verify.report.summary import read_results, write_summary

# how long the suites' pytest may take to stop its environments after SIGTERM
SUITES_GRACE_SECONDS = 120
SUITE_NAMES = ("dag_import", "metadata_parity", "log_copy", "environment_config", "iam_policy")


@dataclass(frozen=True)
class VerificationRun:
    exit_code: int
    output: str
    junit: Path
    allure_results: Path
    summary_md: Path
    summary_html: Path
    allure_html: Path | None


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
) -> VerificationRun:
    unknown = sorted(set(suites) - set(SUITE_NAMES))
    if unknown:
        raise ConfigError(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITE_NAMES)}")
    reports = reports.resolve()
    results, junit = reports / "allure-results", reports / "junit.xml"
    command = [
        sys.executable, "-m", "pytest", *(str(suites_dir() / f"test_{name}.py") for name in suites),
        "--source", source, "--target", target, f"--junitxml={junit}", f"--alluredir={results}",
        "--clean-alluredir", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(suites_dir()),
        "-q", "-rfE", "--tb=short", *(["--mwaa-config", str(config_path)] if config_path else []), *extra_args,
    ]  # fmt: skip
    with progress.step(f"verifying {source} -> {target}: {', '.join(suites)}"):
        # its own process group: on Ctrl-C or SIGTERM it gets SIGTERM and stops its environments before we
        # go on (SIGKILL only if it has not after a while; then what it left is swept)
        scratch = ownership.make_owned_dir("suites")
        try:
            completed = ownership.run(
                command, scratch, None, env={**os.environ, "COLUMNS": "250"}, cwd=Path.cwd(), grace=SUITES_GRACE_SECONDS
            )
        finally:
            ownership.remove_owned_dir(scratch)
    (reports / "pytest-output.txt").write_text(completed.stdout + completed.stderr, encoding="utf-8")
    if not results.is_dir():  # pytest refused before running anything: a usage error
        raise ConfigError((completed.stderr or completed.stdout).strip().splitlines()[-1])
    summary_md, summary_html = write_summary(read_results(results), reports)
    allure_html = generate_html(results, reports / "allure-report", cache_dir, f"{source} -> {target}")
    return VerificationRun(
        completed.returncode, completed.stdout, junit, results, summary_md, summary_html, allure_html
    )
