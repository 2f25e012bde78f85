"""Metadata parity: every table the migration moves holds the same rows on the target as on the source.

One test per table, matched on natural keys in a version-neutral form (2.x and 3.x schemas both), so the
report reads table by table. Tables the target's version does not have are not applicable, with the reason.
Under pytest-xdist a large table is checked in as many shards as there are workers, each its own test that
reads only its share of the keys (selected in SQL by a hash of the natural key); the summary adds the shards
up into the table's one row.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from mwaa_verify import workers
from mwaa_verify.airflow.column_map import MIGRATED_TABLES, SPECS
from mwaa_verify.airflow.secrets import Redactor
from mwaa_verify.environments.base import Environment
from mwaa_verify.migrate.location import Location, fetched_for_reading
from mwaa_verify.migrate.manifest import Manifest
from mwaa_verify.parity.digests import WHOLE_TABLE, Shard
from mwaa_verify.parity.explain import counts_note, difference_rows, explain
from mwaa_verify.parity.metadata import NotApplicable, compare_table, missing_dag_ids, redactor_for
from mwaa_verify.report.allure_results import attach_table, label_row_counts


@pytest.fixture(scope="session")
def redactor(source_env: Environment, target_env: Environment) -> Redactor:
    return redactor_for(source_env, target_env)


# tables keyed by run, big in a long-lived deployment: those worth sharing between workers
SHARDED_TABLES = frozenset(
    spec.name for spec in MIGRATED_TABLES if spec.kind == "keyed" and {"dag_id", "run_id"} <= set(spec.natural_key)
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each table, and a large one in shards when workers share the session (every worker collects the same
    shards: their number is the number of workers)."""
    if "shard" not in metafunc.fixturenames:
        return
    count = workers.worker_count(metafunc.config)
    cases = [(spec.name, shard) for spec in MIGRATED_TABLES for shard in shards(spec.name, count)]
    ids = [table if shard.count == 1 else f"{table}-{shard.index + 1}of{shard.count}" for table, shard in cases]
    metafunc.parametrize(("table", "shard"), cases, ids=ids)


def shards(table: str, count: int) -> list[Shard]:
    """The shards a table is checked in when `count` processes share the work: the whole of a small table."""
    if count == 1 or table not in SHARDED_TABLES:
        return [WHOLE_TABLE]
    return [Shard(index, count) for index in range(count)]


def test_table_rows_match(
    table: str,
    shard: Shard,
    source_env: Environment,
    target_env: Environment,
    since: datetime | None,
    redactor: Redactor,
) -> None:
    outcome = compare_table(table, source_env, target_env, redactor, since, shard=shard)
    if isinstance(outcome, NotApplicable):
        pytest.skip(f"not applicable: {outcome.reason}")
    extras_allowed = SPECS[table].kind == "append_only"
    label_row_counts(
        outcome.source_rows, outcome.target_rows, outcome.matched, counts_note(table, outcome, extras_allowed, since)
    )

    if not outcome.is_faithful(extras_allowed):
        attach_table(f"{table} differences", ("key", "difference", "source", "target"), difference_rows(outcome))
    assert outcome.is_faithful(extras_allowed), explain(table, outcome, extras_allowed)


def test_every_source_dag_is_on_the_target(source_env: Environment, target_env: Environment) -> None:
    """dag, dag_tag, serialized_dag and dag_code are rebuilt by the target's dag-processor: checked by presence."""
    missing = missing_dag_ids(source_env, target_env)

    assert not missing, (
        f"{len(missing)} DAG(s) of the source are not in the target's dag table (did they fail to import on the "
        f"target, or were their files not copied?): {', '.join(missing)}"
    )


def test_export_manifest_counts_match_the_source(export_location: str, source_env: Environment) -> None:
    with fetched_for_reading(Location(export_location)) as directory:
        manifest = Manifest.read(directory)
        manifest.verify(directory)
    since = datetime.fromisoformat(manifest.since) if manifest.since else None

    counts = {table: sum(1 for _ in source_env.rows(table, since)) for table in manifest.tables}

    differing = {
        table: (entry.rows, counts[table]) for table, entry in manifest.tables.items() if entry.rows != counts[table]
    }
    assert not differing, "export rows vs source rows now: " + ", ".join(
        f"{table}: {exported} exported, {now} on the source" for table, (exported, now) in differing.items()
    )
