"""The migration commands refuse bad input in one line, before any slow work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mwaa_verify.cli import main

CONFIG = '[environments.rehearsal]\nkind = "ephemeral"\nairflow_version = "3.3.1"\n'


@pytest.fixture
def config_dir(no_config: Path) -> Path:
    (no_config / "mwaa-verify.toml").write_text(CONFIG)
    return no_config


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["-q", *args])
    return code, capsys.readouterr().err


def test_import_of_a_directory_that_is_no_export(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["import", str(config_dir), "rehearsal"], capsys)

    assert code == 2
    assert err == f"mwaa-verify: error: {config_dir} holds no manifest.json; point at a directory written by " \
                  "`mwaa-verify export`\n"  # fmt: skip


def test_export_to_s3_without_credentials_names_the_fix(
    config_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_dir / "absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config_dir / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")

    code, err = run(["export", "rehearsal", "s3://migration/exports"], capsys)

    assert code == 2
    assert "Unable to locate credentials; configure credentials (AWS_PROFILE" in err
    assert "Traceback" not in err


def test_export_of_an_unknown_environment_lists_the_known(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["export", "prod", str(config_dir / "out")], capsys)

    assert code == 2
    assert "unknown environment 'prod'" in err and "defines: rehearsal" in err
    assert not (config_dir / "out").exists()


def test_since_must_be_positive(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["copy-logs", "rehearsal", "rehearsal", "--since", "0"], capsys)

    assert code == 2 and "--since takes a positive number of days, got 0" in err


def test_run_with_an_unknown_environment_lists_the_known(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["run", "--source", "rehearsal", "--target", "prod"], capsys)

    assert code == 2 and "unknown environment 'prod'" in err and "defines: rehearsal" in err


def test_report_without_results_says_how_to_get_them(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["report", "--results", str(config_dir / "none")], capsys)

    assert code == 2 and "does not exist: there is nothing to report on; run the verification first" in err


def test_the_wheel_carries_the_suites_and_probes(tmp_path: Path) -> None:
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(root)], check=True
    )
    (wheel,) = tmp_path.glob("mwaa_verify-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())

    for suite in ("dag_import", "metadata_parity", "log_copy", "environment_config"):
        assert f"mwaa_verify/suites/test_{suite}.py" in names
    assert {"mwaa_verify/airflow/probes/dag_probe.py", "mwaa_verify/demo_dags/demo_etl.py"} <= names
