"""The DAG import suite on a corpus covering every Airflow 3 breaking change in
../shared/research/airflow_upgrade_facts.md §3.7, plus parse timeouts, multi-line errors, data-interval reads and
removed context keys reached every way: every test of every file has exactly the outcome the file's
`# expect-...:` lines name (tests/dag_corpus_expectations.py), with their reason, for a 2.10 source and a 3.x or
a 2.10 target; trigger-timetable DAGs that read no data-interval value are one sign-off warning."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dag_corpus_expectations import CORPUS, CORPUS_IMPORT_TIMEOUT, expectations

from conftest import junit_outcomes
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION
from mwaa_verify.config import EphemeralConfig
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml

pytestmark = pytest.mark.slow

SUITE = Path(__file__).resolve().parent.parent / "suites" / "test_dag_import.py"
SESSION_TESTS = {
    "test_parse_time_within_the_targets_budget",
    "test_source_dag_files_were_all_read",
    "test_trigger_timetables_only_where_no_data_interval_is_read",
    "test_requirements_use_the_targets_constraints",
    "test_plugins_hold_no_operators",
}


def corpus_environment(name: str, version: str, cache_dir: Path) -> EphemeralEnvironment:
    timeout = {"core.dagbag_import_timeout": CORPUS_IMPORT_TIMEOUT}
    return EphemeralEnvironment(
        EphemeralConfig(name=name, airflow_version=version, dags_folder=CORPUS, airflow_config=timeout), cache_dir
    )


@pytest.fixture(scope="module")
def corpus_on_2(cache_dir: Path) -> Iterator[EphemeralEnvironment]:
    with corpus_environment("corpus-2", DEMO_SOURCE_VERSION, cache_dir) as environment:
        yield environment


@pytest.fixture(scope="module")
def corpus_on_3(cache_dir: Path) -> Iterator[EphemeralEnvironment]:
    with corpus_environment("corpus-3", DEMO_TARGET_VERSION, cache_dir) as environment:
        removed = environment.dags_folder / "task_removed.py"
        removed.write_text(removed.read_text().replace(' >> EmptyOperator(task_id="audit")', ""))
        yield environment


def run_suite(
    pytester: pytest.Pytester, source: EphemeralEnvironment, target: EphemeralEnvironment
) -> tuple[dict[str, str | None], list[str]]:
    """Each test's outcome (None when it passed, else its failure text), and the run's sign-off warnings."""
    sections = {local_config_toml(environment) for environment in (source, target)}
    pytester.makefile(".toml", **{"mwaa-verify": "\n".join(sorted(sections))})
    report = pytester.path / "junit.xml"
    allure = pytester.path / "allure-results"
    pytester.runpytest_subprocess(
        str(SUITE), "--source", source.name, "--target", target.name, f"--junitxml={report}",
        f"--alluredir={allure}", "-p", "no:cacheprovider",
    )  # fmt: skip
    warnings = [
        label["value"]
        for result in sorted(allure.glob("*-result.json"))
        for label in json.loads(result.read_text()).get("labels", [])
        if label["name"] == "mwaa_warning"
    ]
    return junit_outcomes(report), warnings


def expected_failures(source_version: str, target_version: str) -> dict[str, list[str]]:
    """Test name -> the texts its failure must contain, for every test of the corpus that must fail."""
    on_source = expectations(source_version)
    on_target = expectations(target_version)
    failing: dict[str, list[str]] = {}
    for file, items in on_target.items():
        dag = file.removesuffix(".py")
        by_kind = {kind: [item.text for item in items if item.kind == kind] for kind in ("import", "findings", "shape")}
        if by_kind["import"]:
            failing[f"test_dag_file_imports_on_the_target[{file}]"] = by_kind["import"]
        if by_kind["findings"]:
            failing[f"test_dag_file_has_no_airflow3_breaking_findings[{file}]"] = by_kind["findings"]
        if not any(item.kind == "import" for item in on_source[file]):  # the source has the DAG: shape is compared
            if by_kind["import"]:
                failing[f"test_dag_keeps_its_shape_on_the_target[{dag}]"] = ["is not on the target", *by_kind["import"]]
            elif by_kind["shape"]:
                failing[f"test_dag_keeps_its_shape_on_the_target[{dag}]"] = by_kind["shape"]
    failing["test_parse_time_within_the_targets_budget"] = [f"> {CORPUS_IMPORT_TIMEOUT} s  parse_timeout.py"]
    return failing


def assert_exact_outcomes(outcomes: dict[str, str | None], failing: dict[str, list[str]], target: str) -> None:
    """Every test has its expected outcome; all mismatches are listed at once."""
    wrong = [f"{name}: expected but not run" for name in sorted(set(failing) - set(outcomes))]
    for name, text in sorted(outcomes.items()):
        if name in failing and (not text or text == "SKIPPED"):
            wrong.append(f"{name}: should fail on {target}, passed")
        elif name in failing:
            wrong += [f"{name}: failed without {reason!r}:\n{text}" for reason in failing[name] if reason not in text]
        elif text is not None and text != "SKIPPED":
            wrong.append(f"{name}: should pass on {target}:\n{text[:600]}")

    assert not wrong, "\n\n".join(wrong)
    per_file = [name for name in outcomes if name.startswith("test_dag_file_imports_on_the_target[")]
    assert len(per_file) == len(expectations(target))


def warned_dags(warnings: list[str]) -> set[str]:
    (interval,) = [line for line in warnings if "trigger timetables" in line]
    listed = interval.split("so they behave the same: ", 1)[1].split("; set ", 1)[0]
    return set(listed.split(", "))


def test_every_corpus_file_has_its_exact_outcome_on_airflow_3(
    corpus_on_2: EphemeralEnvironment, corpus_on_3: EphemeralEnvironment, pytester: pytest.Pytester
) -> None:
    outcomes, warnings = run_suite(pytester, corpus_on_2, corpus_on_3)

    assert_exact_outcomes(outcomes, expected_failures(DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION), DEMO_TARGET_VERSION)
    expected_warnings = expectations(DEMO_TARGET_VERSION, "warning")
    assert warned_dags(warnings) == {file.removesuffix(".py") for file, items in expected_warnings.items() if items}
    assert "[scheduler] create_cron_data_intervals = True" in " ".join(warnings)
    # AIR311/AIR312 findings are warnings for the sign-off too, each naming its file and line
    assert any(line.startswith("clean_sdk.py:") and "AIR311" in line for line in warnings)


def test_the_corpus_on_a_2_10_target_fails_only_where_2_10_does(
    corpus_on_2: EphemeralEnvironment, pytester: pytest.Pytester
) -> None:
    outcomes, warnings = run_suite(pytester, corpus_on_2, corpus_on_2)

    assert_exact_outcomes(outcomes, expected_failures(DEMO_SOURCE_VERSION, DEMO_SOURCE_VERSION), DEMO_SOURCE_VERSION)
    assert warnings == []
