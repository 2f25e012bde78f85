"""Every Airflow version MWAA runs parses the corpus as its own dag-processor would, with exactly the expected
result per file, and no DAG file can write to the metadata database while it is parsed.

By default (CI) one 2.x and the oldest and newest 3.x run; MWAA_VERIFY_MATRIX=full runs every MWAA version.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dag_corpus_expectations import CORPUS, CORPUS_IMPORT_TIMEOUT, expectations

from mwaa_verify.airflow.static_checks import DATA_INTERVAL_KEYS, REMOVED_CONTEXT_KEYS
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.config import EphemeralConfig
from mwaa_verify.environments.base import DagReport
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.virtualenv import ensure_virtualenv

pytestmark = pytest.mark.slow

MWAA_VERSIONS = ("2.9.2", "2.10.1", "2.10.3", "2.10.5", "2.11.0", "2.11.2", "3.0.6", "3.2.1", "3.3.1")
CI_VERSIONS = ("2.10.5", "3.0.6", "3.3.1")  # one 2.x, the oldest and the newest 3.x
VERSIONS = MWAA_VERSIONS if os.environ.get("MWAA_VERIFY_MATRIX") == "full" else CI_VERSIONS
WRITES = {"written_at_import_through_the_orm", "written_at_import_through_sqlalchemy"}


@pytest.fixture(scope="module", params=VERSIONS)
def corpus_env(request: pytest.FixtureRequest, cache_dir: Path) -> Iterator[EphemeralEnvironment]:
    version = request.param
    config = EphemeralConfig(
        name=f"matrix-{version.replace('.', '-')}",
        airflow_version=version,
        dags_folder=CORPUS,
        airflow_config={"core.dagbag_import_timeout": CORPUS_IMPORT_TIMEOUT},
    )
    with EphemeralEnvironment(config, cache_dir) as environment:
        yield environment


@pytest.fixture(scope="module")
def corpus_report(corpus_env: EphemeralEnvironment) -> DagReport:
    """The corpus parsed once per version (the probe's DAG report, as the suites get it)."""
    return corpus_env.dag_report()


def test_every_corpus_file_parses_as_expected(corpus_report: DagReport) -> None:
    report = corpus_report
    version = report.airflow_version
    expected = expectations(version, "import")

    assert report.tool_errors == {}, f"the probe itself failed on Airflow {version}"
    assert sorted(item.path for item in report.files) == sorted(expected)
    for item in report.files:
        failures = expected[item.path]
        if failures:
            assert item.import_error, f"{item.path} should fail on {version} with {failures[0].text!r}"
            assert failures[0].text in item.error_summary, (item.path, version, item.error_summary)
            assert "\n" not in item.error_summary
        else:
            assert item.import_error is None, f"{item.path} should import on {version}: {item.error_summary}"
            assert item.dag_ids == (item.path.removesuffix(".py"),)
            assert 0 < item.parse_seconds < float(CORPUS_IMPORT_TIMEOUT)
    timed_out = report.file("parse_timeout.py")
    assert timed_out.parse_time_text == f"> {CORPUS_IMPORT_TIMEOUT} s"


def test_parsing_leaves_the_source_database_unchanged(
    corpus_env: EphemeralEnvironment, corpus_report: DagReport
) -> None:
    assert corpus_report.file("writes_at_import.py").dag_ids == ("writes_at_import",)  # its top level ran

    keys = {row["key"] for row in corpus_env.rows("variable")}

    assert not keys & WRITES
    # the control: imported as plain Python with the environment's own connection, the same file does write,
    # so the check above saw the protection and not a DAG file that never writes
    corpus_env.run([str(CORPUS / "writes_at_import.py")], 300, "importing writes_at_import.py unprotected")
    assert {row["key"] for row in corpus_env.rows("variable")} >= WRITES


def test_removed_context_keys_are_exactly_those_airflow_3_dropped(
    corpus_env: EphemeralEnvironment, cache_dir: Path
) -> None:
    version = AirflowVersion.parse(corpus_env.info().airflow_version)
    if not version.is_airflow3:
        # on 2.x every key the tool reports as removed must still be one: else it flags what works today
        known_here = _printed(corpus_env.python, "from airflow.utils.context import KNOWN_CONTEXT_KEYS as keys")
        assert set(REMOVED_CONTEXT_KEYS) <= known_here, set(REMOVED_CONTEXT_KEYS) - known_here
        return
    airflow2 = ensure_virtualenv(cache_dir, AirflowVersion.parse("2.10.5"))
    known_2 = _printed(airflow2, "from airflow.utils.context import KNOWN_CONTEXT_KEYS as keys")
    known_3 = _printed(
        corpus_env.python, "from airflow.sdk.definitions.context import Context; keys = Context.__annotations__"
    )

    assert known_2 - known_3 == set(REMOVED_CONTEXT_KEYS)
    assert DATA_INTERVAL_KEYS - set(REMOVED_CONTEXT_KEYS) <= known_3


def _printed(python: Path, statement: str) -> set[str]:
    """The names `statement` binds to `keys`, computed by that interpreter's Airflow."""
    code = f"import json\n{statement}\nprint('KEYS=' + json.dumps(sorted(keys)))"
    with tempfile.TemporaryDirectory(prefix="mwaa-verify-keys-") as home:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        completed = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=300, check=True,
            env={**env, "AIRFLOW_HOME": home},
        )  # fmt: skip
    (line,) = [line for line in completed.stdout.splitlines() if line.startswith("KEYS=")]
    return set(json.loads(line.removeprefix("KEYS=")))
