"""Environment configuration: every Airflow option either deployment configures (not the defaults, which
change between versions) has the same value on both, section by section, with options Airflow 3 moved
compared under their new names. Options that are local by nature (paths, connection strings,
keys) are not compared; differences the migration intends are declared in mwaa-verify.toml:

    [verify]
    intended_config_differences = ["core.parallelism"]
"""

from __future__ import annotations

import warnings

import pytest

from mwaa_verify.airflow.config_map import config_differences
from mwaa_verify.config import Config
from mwaa_verify.environments.base import Environment
from mwaa_verify.environments.mwaa_settings import settings_differences
from mwaa_verify.report.allure_results import attach_table


class ConfigNote(UserWarning):
    """An option only one side has: removed or added between versions; worth a look, not a failure."""


def test_configuration_section_matches(
    config_section: str, source_env: Environment, target_env: Environment, mwaa_config: Config
) -> None:
    source, target = source_env.info(), target_env.info()
    failing, notes = config_differences(
        source.config_options,
        target.config_options,
        config_section,
        set(mwaa_config.intended_config_differences),
        set(source.explicit_options | target.explicit_options),
    )
    for note in notes:
        warnings.warn(f"[{config_section}] {note}", ConfigNote, stacklevel=1)

    if failing:
        attach_table(f"[{config_section}] differences", ("option", "difference"), [d.split(": ", 1) for d in failing])
    assert not failing, (
        f"[{config_section}] configuration differs in {len(failing)} option(s) (declare intended ones in "
        f"[verify] intended_config_differences): " + "; ".join(failing)
    )


def test_platform_settings_match(source_env: Environment, target_env: Environment, mwaa_config: Config) -> None:
    """MWAA's own settings: environment class, workers, schedulers, logging levels, network, KMS, tags."""
    source, target = source_env.platform_settings(), target_env.platform_settings()
    if source is None or target is None:
        pytest.skip("not applicable: platform settings are compared between two MWAA environments")

    failing = settings_differences(source, target, set(mwaa_config.intended_config_differences))

    if failing:
        attach_table("MWAA settings differences", ("setting", "difference"), [d.split(": ", 1) for d in failing])
    assert not failing, f"MWAA configuration differs in {len(failing)} setting(s): " + "; ".join(failing)
