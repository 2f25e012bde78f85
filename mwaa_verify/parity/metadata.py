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
from mwaa_verify.environments.metadata_db import MetadataDatabase
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.parity.digests import WHOLE_TABLE, DatabaseSide, Shard, compare_by_digest
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
    shard: Shard = WHOLE_TABLE,
) -> Comparison | NotApplicable:
    """One table of two environments compared; with `shard`, only that part of its keys (merge the parts with
    engine.merged). Both in PostgreSQL: by digest (parity/digests.py); otherwise by the rows of both sides."""
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
    plan = digest_plan(table, source, target, redactor)
    if plan is not None:
        return compare_by_digest(table, *plan, since=since, max_examples=max_examples, shard=shard)
    if shard.index != 0:
        return Comparison(spec.natural_key)  # the row path reads whole tables: shard 0 compares all of it
    return compare_rows(table, source, target, redactor, since, max_examples)


def compare_rows(
    table: str,
    source: Environment,
    target: Environment,
    redactor: Redactor,
    since: datetime | None = None,
    max_examples: int = 20,
) -> Comparison:
    """The row path: every row of both sides through Python, in key order. Any kind of environment."""
    return compare(
        _kept(source.rows(table, since), target.kept_rows(table)),
        _kept(target.rows(table, since), source.kept_rows(table)),
        column_map.SPECS[table].natural_key,
        normaliser(table, source, redactor),
        normaliser(table, target, redactor),
        max_examples,
    )


DigestPlan = tuple[DatabaseSide, DatabaseSide, tuple[str, ...], tuple[str, ...], set[str]]


def digest_plan(table: str, source: Environment, target: Environment, redactor: Redactor) -> DigestPlan | None:
    """How to compare a table by digest, or None where only the row path can: a side without a PostgreSQL
    database, a format that leaves rows out."""
    databases = (source.metadata_database(), target.metadata_database())
    if databases[0] is None or databases[1] is None:
        return None
    if source.kept_rows(table) is not None or target.kept_rows(table) is not None:
        return None
    return database_plan(
        table, databases[0], databases[1], normaliser(table, source, redactor), normaliser(table, target, redactor)
    )


def database_plan(
    table: str,
    source: MetadataDatabase,
    target: MetadataDatabase,
    normalise_source: Callable[[Mapping[str, Any]], dict],
    normalise_target: Callable[[Mapping[str, Any]], dict],
) -> DigestPlan | None:
    """The digest comparison of one table of two databases, or None where only the row path gives the row
    path's result: a database that cannot hash rows, an append-only table (keys repeat, and how the row path
    pairs equal keys defines its result), a key column typed differently on the two sides."""
    spec = column_map.SPECS[table]
    if spec.kind != "keyed" or not (source.digests_rows and target.digests_rows):
        return None
    raw = [database.column_families(table) for database in (source, target)]
    families = [_canonical_families(table, columns) for columns in raw]
    common = sorted(families[0].keys() & families[1].keys())
    if not set(spec.natural_key) <= set(common):
        return None
    python_only = set(column_map.DECODED_COLUMNS.get(table, ())) | set(SECRET_COLUMNS.get(table, {}))
    python_only |= {name for name in common if families[0][name][1] != families[1][name][1]}
    if python_only & set(spec.natural_key):
        return None
    python_columns = tuple(name for name in common if name in python_only)
    sides = tuple(
        DatabaseSide(
            database,
            normalise,
            sql_columns=tuple(family[name][0] for name in common if name not in python_only),
            python_inputs=tuple(family[name][0] for name in python_columns) + _flag_columns(table, columns),
        )
        for database, normalise, family, columns in zip(
            (source, target), (normalise_source, normalise_target), families, raw, strict=True
        )
    )
    return sides[0], sides[1], spec.natural_key, python_columns, set(common)


def _canonical_families(table: str, families: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """canonical name -> (this side's column, its type family), for the columns the row path compares."""
    flags = set(SECRET_COLUMNS.get(table, {}).values())
    found = {}
    for column, family in families.items():
        name = column_map.canonical_name(table, column)
        if column not in flags and not column_map.is_local(table, name):
            found[name] = (column, family)
    return found


def _flag_columns(table: str, columns: Mapping[str, str]) -> tuple[str, ...]:
    """The columns saying whether a secret is stored encrypted: the normaliser needs them to decrypt."""
    return tuple(flag for flag in SECRET_COLUMNS.get(table, {}).values() if flag in columns)


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
    return canonical_form(table, environment.fernet_keys() if table in SECRET_COLUMNS else None, redactor)


def canonical_form(table: str, keys: FernetKeys | None, redactor: Redactor) -> Callable[[Mapping[str, Any]], dict]:
    """Canonical, comparable form of rows whose secrets `keys` decrypt (None: the table holds none)."""

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
