"""A snapshot of an MWAA environment (AWS on 127.0.0.1: moto and the MWAA double) holds what the suites read from
it: settings, Airflow options (secrets as digests that still compare with the live environment's), the execution
role, the DAG files and the DAG report, and says what MWAA cannot give (its metadata database)."""

from __future__ import annotations

import json
from pathlib import Path

from aws_double import AwsDouble, ScriptedRestApi
from mwaa_policies import documented_policy
from test_mwaa_environment import create_environment, create_role, opened

from mwaa_verify.airflow.config_map import config_differences
from mwaa_verify.config import SnapshotConfig
from mwaa_verify.environments.snapshot import SnapshotEnvironment
from mwaa_verify.migrate.snapshot import take_snapshot

SECRET = "hunter2-snapshot-do-not-print"


def test_an_mwaa_snapshot_serves_what_the_live_environment_does(aws: AwsDouble, tmp_path: Path) -> None:
    options = {"smtp.smtp_password": SECRET, "core.parallelism": "32"}
    create_role(aws, "snap-env-role", documented_policy("snap-env", "snap-env-bucket"))
    create_environment(aws, "snap-env", {"dags/etl.py": b"# etl\n"}, AirflowVersion="2.10.3",
                       AirflowConfigurationOptions=options)  # fmt: skip
    aws.mwaa.rest_backends["snap-env"] = ScriptedRestApi(2)

    with opened(tmp_path, aws, "snap-env") as live:
        manifest = take_snapshot(live, tmp_path / "snap")
        with SnapshotEnvironment(SnapshotConfig("before", str(tmp_path / "snap"))) as frozen:
            assert frozen.platform_settings() == live.platform_settings()
            assert frozen.mwaa_description()["Name"] == "snap-env"
            assert frozen.execution_role() == live.execution_role()
            assert frozen.dag_report() == live.dag_report()
            assert (frozen.dags_path() / "etl.py").read_bytes() == b"# etl\n"
            frozen_options, live_options = frozen.info().config_options, live.info().config_options
            assert frozen_options == live_options and frozen_options["smtp.smtp_password"].startswith("<redacted ")
            assert config_differences(frozen_options, live_options, "smtp", set(), set(live_options)) == ([], [])

    # without a staging location the agent has nowhere to export to: the snapshot says so and how to give one
    assert "metadata" in manifest.missing and "set staging = " in manifest.missing["metadata"]
    written = "".join(path.read_text(errors="replace") for path in (tmp_path / "snap").rglob("*") if path.is_file())
    assert SECRET not in written
    assert json.loads((tmp_path / "snap" / "snapshot.json").read_text())["source_kind"] == "mwaa"
