"""DAG import: every DAG file imports on the target's Airflow as its dag-processor parses it, every source DAG
keeps its shape there, and nothing in the files is known to break on Airflow 3.

One test per DAG file of the target and one per DAG of the source, so the report reads file by file.
"""

from __future__ import annotations

import warnings

import pytest

from mwaa_verify.airflow.dag_shape import shape_changes
from mwaa_verify.airflow.requirements_check import constraint_problems, operators_in_plugins
from mwaa_verify.airflow.static_checks import Finding, dag_folder_findings
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.environments.base import DagReport, Environment

SLOWEST_LISTED = 10


class Airflow3Finding(UserWarning):
    """Works on this Airflow 3 release through a compatibility shim, and will not on a later one."""


@pytest.fixture(scope="session")
def target_findings(target_env: Environment, target_dag_report: DagReport) -> dict[str, list[Finding]]:
    if not AirflowVersion.parse(target_dag_report.airflow_version).is_airflow3:
        pytest.skip(f"not applicable: the target runs Airflow {target_dag_report.airflow_version}, not 3.x")
    folder = target_env.dags_path()
    if folder is None:
        pytest.skip(f"not applicable: the DAG files of {target_env.name!r} are not readable from here")
    return dag_folder_findings(folder)


def test_dag_file_imports_on_the_target(target_dag_file: str, target_dag_report: DagReport) -> None:
    parsed = target_dag_report.file(target_dag_file)
    version = target_dag_report.airflow_version

    assert parsed.import_error is None, (
        f"{target_dag_file} does not import on Airflow {version}: {parsed.error_summary}\n"
        f"(parsed as its dag-processor parses it; Airflow's traceback:)\n{parsed.import_error.strip()}"
    )
    assert parsed.parse_seconds is None or parsed.parse_seconds <= target_dag_report.dagbag_import_timeout, (
        f"{target_dag_file} took {parsed.parse_seconds:.1f} s to parse, more than the target's "
        f"dagbag_import_timeout of {target_dag_report.dagbag_import_timeout:g} s: its DAGs would be dropped"
    )


def test_dag_file_has_no_airflow3_breaking_findings(
    target_dag_file: str, target_findings: dict[str, list[Finding]]
) -> None:
    findings = target_findings.get(target_dag_file, [])
    for finding in findings:
        if not finding.breaking:
            warnings.warn(str(finding), Airflow3Finding, stacklevel=1)
    breaking = [finding for finding in findings if finding.breaking]

    assert not breaking, f"{len(breaking)} finding(s) that break on Airflow 3: " + "; ".join(map(str, breaking))


def test_dag_keeps_its_shape_on_the_target(
    source_dag_id: str, source_dag_report: DagReport, target_dag_report: DagReport
) -> None:
    source = source_dag_report.dags[source_dag_id]
    target = target_dag_report.dags.get(source_dag_id)
    if target is None:
        candidates = [item for item in target_dag_report.files if item.path == source.fileloc and item.import_error]
        reason = f": its file {source.fileloc} fails with {candidates[0].error_summary}" if candidates else ""
        pytest.fail(f"DAG {source_dag_id} is not on the target{reason}", pytrace=False)

    problems = shape_changes(source, target)

    assert not problems, f"DAG {source_dag_id} changed on the target: " + "; ".join(problems)


def test_parse_time_within_the_targets_budget(target_dag_report: DagReport) -> None:
    timed = [item for item in target_dag_report.files if item.parse_seconds is not None]
    if not timed:
        pytest.skip(
            "not applicable: the target reports no parse times (MWAA's REST API); a file over the budget fails "
            "to import there, and test_dag_file_imports_on_the_target shows it"
        )
    slowest = sorted(timed, key=lambda item: item.parse_seconds, reverse=True)[:SLOWEST_LISTED]
    budget = target_dag_report.dagbag_import_timeout
    listing = "\n".join(f"  {item.parse_seconds:7.2f} s  {item.path}" for item in slowest)

    over = [item.path for item in slowest if item.parse_seconds > budget]

    assert not over, f"{len(over)} file(s) parse slower than dagbag_import_timeout={budget:g} s; slowest:\n{listing}"


def test_requirements_use_the_targets_constraints(target_env: Environment, target_dag_report: DagReport) -> None:
    requirements = target_env.requirements_file()
    if requirements is None:
        pytest.skip("not applicable: the target has no requirements.txt")

    problems = constraint_problems(requirements, target_dag_report.airflow_version, target_dag_report.python_version)

    assert not problems, "\n".join(problems)


def test_plugins_hold_no_operators(target_env: Environment) -> None:
    plugins = target_env.plugins_path()
    if plugins is None or not plugins.is_dir():
        pytest.skip("not applicable: the target has no plugins folder")

    found = operators_in_plugins(plugins)

    assert not found, (
        "operators, sensors and hooks belong in the DAGs folder, not in plugins (MWAA migration guide); move:\n"
        + "\n".join(f"  {item}" for item in found)
    )
