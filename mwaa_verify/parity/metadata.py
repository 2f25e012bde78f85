"""Airflow metadata parity: one table of two environments, compared on natural keys in canonical form.

Secrets are decrypted with each environment's own key and replaced by keyed digests before the engine sees
them, so no output of a comparison can contain one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mwaa_verify.airflow import column_map
from mwaa_verify.airflow.secrets import SECRET_COLUMNS, FernetKeys, Redactor, decrypted
from mwaa_verify.environments.base import Environment
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.parity.engine import Comparison, compare


@dataclass(frozen=True)
class NotApplicable:
    """The table cannot be compared on this pair of versions, and why."""

    reason: str


def compare_table(
    table: str,
    source: Environment,
    target: Environment,
    redactor: Redactor,
    since: datetime | None = None,
    max_examples: int = 20,
) -> Comparison | NotApplicable:
    spec = column_map.SPECS[table]
    if table not in source.tables():
        return NotApplicable(f"{table} does not exist on the source ({source.name}); nothing to migrate")
    if table not in target.tables():
        why = (
            f"a {target.kind} does not hold it"
            if target.kind == "snapshot"
            else spec.removed_in_3 or "the target's Airflow version has no such table"
        )
        return NotApplicable(f"{table} does not exist on the target ({target.name}): {why}")
    return compare(
        _kept(source.rows(table, since), target.kept_rows(table)),
        _kept(target.rows(table, since), source.kept_rows(table)),
        spec.natural_key,
        normaliser(table, source, redactor),
        normaliser(table, target, redactor),
        max_examples,
    )


def _kept(rows: Iterable[Mapping[str, Any]], keep: Callable[[Mapping[str, Any]], bool] | None) -> Iterable:
    """The rows the other side's format would have kept (a backup that leaves some out by design)."""
    return rows if keep is None else (row for row in rows if keep(row))


def redactor_for(source: Environment, target: Environment) -> Redactor:
    """A redactor whose digests compare with those a snapshot holds (its key), else one with a fresh key."""
    keys = {key for key in (source.secret_digest_key(), target.secret_digest_key()) if key is not None}
    if len(keys) > 1:
        raise MwaaVerifyError(
            f"{source.name!r} and {target.name!r} are both snapshots holding secrets as digests made with different "
            f"keys: their secrets cannot be compared; compare each with the live environment instead"
        )
    return Redactor(keys.pop() if keys else None)


def normaliser(table: str, environment: Environment, redactor: Redactor) -> Callable[[Mapping[str, Any]], dict]:
    """Canonical, comparable form of an environment's rows: local columns dropped, secrets digested."""
    keys: FernetKeys | None = environment.fernet_keys() if table in SECRET_COLUMNS else None

    def normalise(row: Mapping[str, Any]) -> dict[str, Any]:
        if keys is not None:
            row = decrypted(table, row, keys)
        canonical = column_map.canonical_row(table, row)
        for column in SECRET_COLUMNS.get(table, {}):
            if column in canonical:
                canonical[column] = redactor.digest(canonical[column])
        return {column: value for column, value in canonical.items() if not column_map.is_local(table, column)}

    return normalise


def missing_dag_ids(source: Environment, target: Environment) -> list[str]:
    """Source DAGs the target's dag table lacks (derived tables are checked by presence only)."""
    target_dags = {row["dag_id"] for row in target.rows("dag")}
    source_dags = _kept(source.rows("dag"), target.kept_rows("dag"))
    return sorted(row["dag_id"] for row in source_dags if row["dag_id"] not in target_dags)
