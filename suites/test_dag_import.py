"""DAG import: every DAG file imports on the target's Airflow as its dag-processor parses it, every source DAG
keeps its shape there, and nothing in the files is known to break on Airflow 3.

One test per DAG file of the target and one per DAG of the source, so the report reads file by file. What passes
but deserves a look (shims Airflow will remove, trigger timetables on DAGs that read no data-interval value) is a
warning: an `mwaa_warning` Allure label the sign-off summary lists, and a pytest warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import allure
import pytest

from mwaa_verify.airflow.dag_shape import interval_change, shape_changes
from mwaa_verify.airflow.requirements_check import constraint_problems, operators_in_plugins
from mwaa_verify.airflow.static_checks import ContextRead, Finding, dag_folder_findings, data_interval_reads
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.environments.base import DagReport, Environment, error_headline

SLOWEST_LISTED = 10


TOOL_FAILURE = (
    "mwaa-verify's DAG probe failed on this file (a failure of the tool, not of your DAG, which was not judged); "
    "report it to mwaa-verify's maintainers with the traceback below, or use an Airflow version it supports"
)


class Airflow3Finding(UserWarning):
    """Works on this Airflow 3 release through a compatibility shim, and will not on a later one."""


class IntervalWarning(UserWarning):
    """A schedule became a trigger timetable on a DAG that reads no data-interval value."""


def warn_for_sign_off(line: str, category: type[Warning]) -> None:
    """A warning the sign-off summary lists (Allure label `mwaa_warning`), also shown by pytest."""
    allure.dynamic.label("mwaa_warning", line)
    warnings.warn(line, category, stacklevel=2)


@pytest.fixture(scope="session")
def dag_file_reads(target_env: Environment, source_env: Environment) -> dict[str, list[ContextRead]] | None:
    """Data-interval reads per DAG file, from the files the target runs (else the source's); None where no
    copy of the files is readable from here."""
    for environment in (target_env, source_env):
        folder = environment.dags_path()
        if folder is not None and Path(folder).is_dir():
            return data_interval_reads(Path(folder))
    return None


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
    if parsed.tool_error:
        allure.attach(parsed.tool_error, "mwaa-verify's traceback", allure.attachment_type.TEXT)
        pytest.fail(f"{target_dag_file} on Airflow {version}: {TOOL_FAILURE}\n{parsed.tool_error.strip()}")
    if parsed.import_error:
        allure.attach(parsed.import_error, "Airflow's traceback", allure.attachment_type.TEXT)

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
            warn_for_sign_off(str(finding), Airflow3Finding)
    breaking = [finding for finding in findings if finding.breaking]

    assert not breaking, f"{len(breaking)} finding(s) that break on Airflow 3: " + "; ".join(map(str, breaking))


def test_source_dag_files_were_all_read(source_dag_report: DagReport) -> None:
    """A source file the probe failed on has DAGs nobody compared: the sign-off must say so."""
    failed = source_dag_report.tool_errors

    assert not failed, f"the DAGs of {len(failed)} source file(s) were not compared ({TOOL_FAILURE}): " + "; ".join(
        f"{path}: {error_headline(text)}" for path, text in sorted(failed.items())
    )


def test_dag_keeps_its_shape_on_the_target(
    source_dag_id: str,
    source_dag_report: DagReport,
    target_dag_report: DagReport,
    dag_file_reads: dict[str, list[ContextRead]] | None,
) -> None:
    source = source_dag_report.dags[source_dag_id]
    target = target_dag_report.dags.get(source_dag_id)
    if target is None:
        candidates = [item for item in target_dag_report.files if item.path == source.fileloc]
        reason = ""
        if candidates and candidates[0].tool_error:
            reason = f": {TOOL_FAILURE} ({candidates[0].path}: {error_headline(candidates[0].tool_error)})"
        elif candidates and candidates[0].import_error:
            reason = f": its file {source.fileloc} fails with {candidates[0].error_summary}"
        pytest.fail(f"DAG {source_dag_id} is not on the target{reason}", pytrace=False)

    problems = shape_changes(source, target)
    change = interval_change(source, target)
    if change is not None:
        if dag_file_reads is None:
            problems.append(
                change.problem(["its DAG file is not readable from here, so it may read data-interval values"])
            )
        elif dag_file_reads.get(target.fileloc) or dag_file_reads.get(source.fileloc):
            problems.append(change.problem(dag_file_reads.get(target.fileloc) or dag_file_reads[source.fileloc]))

    assert not problems, f"DAG {source_dag_id} changed on the target: " + "; ".join(problems)


def test_trigger_timetables_only_where_no_data_interval_is_read(
    source_dag_report: DagReport,
    target_dag_report: DagReport,
    dag_file_reads: dict[str, list[ContextRead]] | None,
) -> None:
    """Cron/timedelta DAGs that read no data-interval value run the same on a trigger timetable: one warning
    lists them (those that do read one fail their own shape test)."""
    harmless: dict[str, list[str]] = {}
    for dag_id, source in sorted(source_dag_report.dags.items()):
        target = target_dag_report.dags.get(dag_id)
        change = interval_change(source, target) if target is not None else None
        if change is None or dag_file_reads is None:
            continue
        if not (dag_file_reads.get(target.fileloc) or dag_file_reads.get(source.fileloc)):
            harmless.setdefault(change.option, []).append(dag_id)
    if harmless:
        settings = " and ".join(f"[scheduler] {option} = True" for option in sorted(harmless))
        dags = ", ".join(dag_id for option in sorted(harmless) for dag_id in harmless[option])
        count = sum(map(len, harmless.values()))
        warn_for_sign_off(
            f"{count} DAG(s) now run on Airflow 3's trigger timetables (logical_date is the run time, not the start "
            f"of the data interval) and read no data-interval value, so they behave the same: {dags}; set "
            f"{settings} on the target to keep Airflow 2's data intervals anyway",
            IntervalWarning,
        )


def test_parse_time_within_the_targets_budget(target_dag_report: DagReport) -> None:
    unknown = target_dag_report.tool_errors
    assert not unknown, f"parse times are unknown for {len(unknown)} file(s) ({TOOL_FAILURE}): " + ", ".join(
        sorted(unknown)
    )
    timed = [item for item in target_dag_report.files if item.parse_seconds is not None]
    if not timed:
        pytest.skip(
            "not applicable: the target reports no parse times (MWAA's REST API); a file over the budget fails "
            "to import there, and test_dag_file_imports_on_the_target shows it"
        )
    budget = target_dag_report.dagbag_import_timeout

    def cost(item) -> float:
        return float("inf") if item.timeout_seconds is not None else item.parse_seconds

    slowest = sorted(timed, key=cost, reverse=True)[:SLOWEST_LISTED]
    listing = "\n".join(f"  {item.parse_time_text:>9}  {item.path}" for item in slowest)

    over = [item.path for item in timed if item.timeout_seconds is not None or item.parse_seconds > budget]

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
