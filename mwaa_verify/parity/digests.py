"""Parity at the speed of the database: compare bucket digests first, fetch rows only where they differ.

Each side's database hashes every row's canonical text and sums the hashes per bucket of keys (a hash of the
key, modulo BUCKETS), in one scan, both sides at once. Equal buckets are matched without a row crossing into
Python; the rows of the few buckets that differ are read as the row path reads them and compared by the same
engine (engine.compare), so counts, examples and field diffs are those of the row path. Values that only
Python can canonicalise (pickles, encrypted secrets) are hashed here from a narrow stream of them.

Like the engine, this module knows rows and keys, not Airflow: parity/metadata.py says which columns are
compared and which need Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mwaa_verify.environments.metadata_db import BucketFilter, MetadataDatabase
from mwaa_verify.parity.engine import Comparison, Row, compare

BUCKETS = 1 << 16  # a power of two; ~15 rows a bucket at 1M rows, so a difference fetches few rows
# Past this share of rows in differing buckets, one full ordered pass is cheaper than fetching by bucket.
FETCH_LIMIT = 0.10
_MASK = (1 << 64) - 1

Digests = dict[int, tuple[int, int, int]]  # bucket -> (rows, sum of SQL row hashes, sum of Python hashes)


@dataclass(frozen=True)
class Shard:
    """One of `count` disjoint parts of a table's keys (by bucket), which separate processes can compare on
    their own; engine.merged() makes one Comparison of theirs."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not (1 <= self.count <= BUCKETS and 0 <= self.index < self.count):
            raise ValueError(f"shard {self.index} of {self.count}: need 0 <= index < count <= {BUCKETS}")

    def buckets(self) -> BucketFilter | None:
        return None if self.count == 1 else BucketFilter(BUCKETS, index=self.index, shards=self.count)


WHOLE_TABLE = Shard()


@dataclass(frozen=True)
class DatabaseSide:
    """One environment's table as the digest path reads it."""

    database: MetadataDatabase
    normalise: Callable[[Row], dict[str, Any]]  # the row path's canonical form, for the rows that differ
    sql_columns: tuple[str, ...]  # this side's column names, in canonical order, hashed by the database
    python_inputs: tuple[str, ...]  # this side's columns the normaliser needs for `python_columns`


def compare_by_digest(
    table: str,
    source: DatabaseSide,
    target: DatabaseSide,
    key_columns: Sequence[str],
    python_columns: Sequence[str],
    compared_columns: set[str],
    since: datetime | None = None,
    max_examples: int = 20,
    shard: Shard = WHOLE_TABLE,
) -> Comparison:
    """The Comparison engine.compare would give on both sides' full row streams (restricted to `shard`).

    `python_columns` (canonical names) are hashed from the normaliser's output; `compared_columns` is what the
    row path reports as compared when any row matches."""
    with ThreadPoolExecutor(2) as pool:
        found = [
            pool.submit(_digests, table, side, key_columns, python_columns, since, shard) for side in (source, target)
        ]
        left, right = (future.result() for future in found)
    differing = {bucket for bucket in left.keys() | right.keys() if left.get(bucket) != right.get(bucket)}
    rows = sum(entry[0] for entry in left.values()) + sum(entry[0] for entry in right.values())
    fetched = sum(left.get(bucket, (0,))[0] + right.get(bucket, (0,))[0] for bucket in differing)
    if fetched > FETCH_LIMIT * rows:  # most rows differ (an empty target, a wrong mapping): one ordered pass
        return _compare_rows(table, source, target, key_columns, since, max_examples, shard.buckets())
    result = Comparison(tuple(key_columns))
    if differing:
        listed = BucketFilter(BUCKETS, listed=frozenset(differing))
        result = _compare_rows(table, source, target, key_columns, since, max_examples, listed)
    equal = sum(count for bucket, (count, _, _) in left.items() if bucket not in differing)
    result.source_rows += equal
    result.target_rows += equal
    result.matched += equal
    if equal:
        result.compared_columns |= compared_columns
    return result


def _compare_rows(
    table: str,
    source: DatabaseSide,
    target: DatabaseSide,
    key_columns: Sequence[str],
    since: datetime | None,
    max_examples: int,
    buckets: BucketFilter | None,
) -> Comparison:
    return compare(
        source.database.rows(table, since, buckets),
        target.database.rows(table, since, buckets),
        key_columns,
        source.normalise,
        target.normalise,
        max_examples,
    )


def _digests(
    table: str,
    side: DatabaseSide,
    key_columns: Sequence[str],
    python_columns: Sequence[str],
    since: datetime | None,
    shard: Shard,
) -> Digests:
    buckets = shard.buckets()
    sql = side.database.bucket_digests(table, key_columns, side.sql_columns, BUCKETS, since, buckets)
    python: dict[int, int] = {}
    if python_columns:
        values = side.database.keyed_values(table, key_columns, side.python_inputs, BUCKETS, since, buckets)
        for bucket, key_text, row in values:
            canonical = side.normalise(row)
            python[bucket] = (python.get(bucket, 0) + _python_hash(key_text, canonical, python_columns)) & _MASK
    return {bucket: (count, total & _MASK, python.get(bucket, 0)) for bucket, (count, total) in sql.items()}


def _python_hash(key_text: str, canonical: Mapping[str, Any], columns: Sequence[str]) -> int:
    """Equal for values Python holds equal in practice (a different repr only costs a fetch, never a miss)."""
    text = repr((key_text, [canonical.get(column) for column in columns]))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
