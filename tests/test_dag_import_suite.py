"""The DAG import suite on a corpus covering every Airflow 3 breaking change in
../shared/research/airflow_upgrade_facts.md §3.7: each file is caught on a 3.x target by the test and with
the reason its `# expect-3x:` line names, and the whole corpus passes with a 2.10 target."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import junit_outcomes
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION
from mwaa_verify.config import EphemeralConfig
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "dag_corpus"
SUITE = Path(__file__).resolve().parent.parent / "suites" / "test_dag_import.py"
EXPECT = re.compile(r"^# expect-3x: (import|findings|shape): (.+)$", re.MULTILINE)
TEST_FOR = {
    "import": "test_dag_file_imports_on_the_target[{file}]",
    "findings": "test_dag_file_has_no_airflow3_breaking_findings[{file}]",
    "shape": "test_dag_keeps_its_shape_on_the_target[{dag}]",
}
EXPECTED = {
    path.name: EXPECT.search(path.read_text()).groups() if EXPECT.search(path.read_text()) else None
    for path in sorted(CORPUS.glob("*.py"))
}


@pytest.fixture(scope="module")
def corpus_on_2(cache_dir: Path) -> Iterator[EphemeralEnvironment]:
    config = EphemeralConfig(name="corpus-2", airflow_version=DEMO_SOURCE_VERSION, dags_folder=CORPUS)
    with EphemeralEnvironment(config, cache_dir) as environment:
        yield environment


@pytest.fixture(scope="module")
def corpus_on_3(cache_dir: Path) -> Iterator[EphemeralEnvironment]:
    config = EphemeralConfig(name="corpus-3", airflow_version=DEMO_TARGET_VERSION, dags_folder=CORPUS)
    with EphemeralEnvironment(config, cache_dir) as environment:
        removed = environment.dags_folder / "task_removed.py"
        removed.write_text(removed.read_text().replace(' >> EmptyOperator(task_id="audit")', ""))
        yield environment


def run_suite(pytester: pytest.Pytester, source: EphemeralEnvironment, target: EphemeralEnvironment) -> dict:
    """Each test's outcome: None when it passed, else its failure text."""
    sections = {local_config_toml(environment) for environment in (source, target)}
    pytester.makefile(".toml", **{"mwaa-verify": "\n".join(sorted(sections))})
    report = pytester.path / "junit.xml"
    pytester.runpytest_subprocess(
        str(SUITE), "--source", source.name, "--target", target.name, f"--junitxml={report}", "-p", "no:cacheprovider"
    )
    return junit_outcomes(report)


def test_every_breaking_change_is_caught_on_airflow_3_with_its_reason(
    corpus_on_2: EphemeralEnvironment, corpus_on_3: EphemeralEnvironment, pytester: pytest.Pytester
) -> None:
    outcomes = run_suite(pytester, corpus_on_2, corpus_on_3)

    for file, expectation in EXPECTED.items():
        dag = file.removesuffix(".py")
        mine = {name: text for name, text in outcomes.items() if f"[{file}]" in name or f"[{dag}]" in name}
        if expectation is None:
            assert all(text is None for text in mine.values()), f"clean {file} failed: {mine}"
            continue
        kind, reason = expectation
        test = TEST_FOR[kind].format(file=file, dag=dag)
        assert outcomes.get(test), f"{file}: {test} should fail; outcomes: {mine}"
        assert reason in outcomes[test], f"{file}: {test} failed without {reason!r}:\n{outcomes[test]}"
    assert outcomes["test_parse_time_within_the_targets_budget"] is None


def test_the_whole_corpus_passes_with_a_2_10_target(
    corpus_on_2: EphemeralEnvironment, pytester: pytest.Pytester
) -> None:
    outcomes = run_suite(pytester, corpus_on_2, corpus_on_2)

    failed = {name: text for name, text in outcomes.items() if text and text != "SKIPPED"}
    assert not failed
    assert len([name for name in outcomes if name.startswith("test_dag_file_imports")]) == len(EXPECTED)
