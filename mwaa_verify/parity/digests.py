"""Parity at the speed of the database: compare digests first, read rows only where they differ.

Each side's database hashes every row's canonical text (parity never sees equal rows), both sides at once, and
the comparison narrows down as reladiff does: one aggregate per side (equal tables end there), then one per bucket
of key hashes, then each key's row hash inside the buckets that differ. Only the rows of the keys whose hashes
differ are read, as the row path reads them, and compared by the same engine (engine.compare), so counts,
examples and field diffs are the row path's. Values that only Python can canonicalise (pickles, encrypted
secrets) are hashed here from a narrow stream of them.

Like the engine, this module knows rows and keys, not Airflow: parity/metadata.py says which columns are
compared and which need Python.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

from mwaa_verify.environments.metadata_db import BucketFilter, KeyFilter, MetadataDatabase, RowFilter
from mwaa_verify.parity.engine import Comparison, Row, compare

SHARD_BUCKETS = 1 << 16  # shards are drawn from these: up to 65,536 workers on one table
# Buckets of the second look, when the tables differ: few enough for one fast hash aggregate in the database,
# enough that a handful of differences touches a small share of the rows (~250 to 500 rows a bucket).
MIN_BUCKETS, MAX_BUCKETS, ROWS_PER_BUCKET = 1 << 12, SHARD_BUCKETS, 500
# Past this many rows in differing buckets, one full ordered pass is cheaper than narrowing down to the keys
# (and holding their hashes would cost memory): an empty target, a wrong mapping, most rows changed.
LEAF_LIMIT = 200_000
# Up to this many keys, their rows are read at once rather than streamed: the server scans with its parallel
# workers, and memory stays small.
FEW_ROWS = 20_000
_MASK = (1 << 64) - 1

Digests = dict[int, tuple[int, int, int]]  # bucket -> (rows, digest of SQL row hashes, sum of Python hashes)


@dataclass(frozen=True)
class Shard:
    """One of `count` disjoint parts of a table's keys (by a hash of the key), which separate processes can
    compare on their own; engine.merged() makes one Comparison of theirs."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not (1 <= self.count <= SHARD_BUCKETS and 0 <= self.index < self.count):
            raise ValueError(f"shard {self.index} of {self.count}: need 0 <= index < count <= {SHARD_BUCKETS}")

    def filters(self) -> tuple[RowFilter, ...]:
        return () if self.count == 1 else (BucketFilter(SHARD_BUCKETS, index=self.index, shards=self.count),)


WHOLE_TABLE = Shard()


@dataclass(frozen=True)
class DatabaseSide:
    """One environment's table as the digest path reads it."""

    database: MetadataDatabase
    normalise: Callable[[Row], dict[str, Any]]  # the row path's canonical form, for the rows that differ
    sql_columns: tuple[str, ...]  # this side's column names, in canonical order, hashed by the database
    python_inputs: tuple[str, ...]  # this side's columns the normaliser needs for `python_columns`


@dataclass(frozen=True)
class _Table:
    """What every step of one comparison reads: the table, its window and shard, the columns Python hashes."""

    name: str
    since: datetime | None
    where: tuple[RowFilter, ...]
    python_columns: tuple[str, ...]


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

    Like reladiff, narrowing down: one aggregate per side (equal tables end there); then one per bucket of
    keys; then, in the buckets that differ, each key's row hash; and only the rows of the keys whose hashes
    differ are read and compared by the engine. `python_columns` (canonical names) are hashed from the
    normaliser's output; `compared_columns` is what the row path reports as compared when any row matches."""
    scope = _Table(table, since, shard.filters(), tuple(python_columns))
    try:
        return _narrowed_down(scope, source, target, key_columns, compared_columns, max_examples)
    except DBAPIError:
        # a value the canonical SQL text cannot take (JSON holding \u0000 refuses the cast to jsonb): the row
        # path reads such rows as they are; an error of the database itself recurs there and is raised
        return _compare_rows(scope, source, target, key_columns, max_examples, scope.where, few=False)


def _narrowed_down(
    scope: _Table,
    source: DatabaseSide,
    target: DatabaseSide,
    key_columns: Sequence[str],
    compared_columns: set[str],
    max_examples: int,
) -> Comparison:
    sides = (source, target)
    # both sides at once: the databases do the work
    with ThreadPoolExecutor(4) as pool, _cancelled_when_interrupted(sides):
        python = [pool.submit(_python_sums, scope, side) for side in sides]
        whole = [pool.submit(_sql_digests, scope, side, 1) for side in sides]
        sums = [future.result() for future in python]
        totals = [_combined(w.result(), _folded(s, 1)) for w, s in zip(whole, sums, strict=True)]
        if totals[0] == totals[1]:
            return _all_matched(key_columns, sum(entry[0] for entry in totals[0].values()), compared_columns)
        buckets = _bucket_count(max(entry[0] for total in totals for entry in total.values()))
        found = [pool.submit(_sql_digests, scope, side, buckets) for side in sides]
        left, right = (_combined(f.result(), _folded(s, buckets)) for f, s in zip(found, sums, strict=True))
        differing = frozenset(bucket for bucket in left.keys() | right.keys() if left.get(bucket) != right.get(bucket))
        touched = sum(left.get(bucket, (0,))[0] + right.get(bucket, (0,))[0] for bucket in differing)
        if not differing or touched > LEAF_LIMIT:
            return _compare_rows(scope, source, target, key_columns, max_examples, scope.where, few=False)
        in_buckets = replace(scope, where=(*scope.where, BucketFilter(buckets, listed=differing)))
        keyed = [pool.submit(_key_hashes, in_buckets, side) for side in sides]
        left_keys, right_keys = (future.result() for future in keyed)
    changed = frozenset(
        key for key in left_keys.keys() | right_keys.keys() if left_keys.get(key) != right_keys.get(key)
    )
    if not changed:  # the buckets disagree, the keys do not: hashes cancelled out somewhere; trust only rows
        return _compare_rows(scope, source, target, key_columns, max_examples, scope.where, few=False)
    keys = (*scope.where, KeyFilter(changed))
    result = _compare_rows(scope, source, target, key_columns, max_examples, keys, few=len(changed) <= FEW_ROWS)
    equal_rows = sum(entry[0] for bucket, entry in left.items() if bucket not in differing)
    equal_rows += sum(1 for key, value in left_keys.items() if key not in changed)
    matched = _all_matched(key_columns, equal_rows, compared_columns)
    result.source_rows += matched.matched
    result.target_rows += matched.matched
    result.matched += matched.matched
    result.compared_columns |= matched.compared_columns
    return result


@contextlib.contextmanager
def _cancelled_when_interrupted(sides: Sequence[DatabaseSide]) -> Iterator[None]:
    """On Ctrl-C, SIGTERM or an error, the statements both sides still run are cancelled on their servers, so
    the pool's threads end at once and the caller's cleanup (stopping servers, removing files) starts."""
    try:
        yield
    except BaseException:
        for side in sides:
            side.database.cancel_running()
        raise


def _bucket_count(rows: int) -> int:
    """A power of two near rows / ROWS_PER_BUCKET, within [MIN_BUCKETS, MAX_BUCKETS]."""
    return min(MAX_BUCKETS, max(MIN_BUCKETS, 1 << max(0, (rows // ROWS_PER_BUCKET)).bit_length()))


def _all_matched(key_columns: Sequence[str], rows: int, compared_columns: set[str]) -> Comparison:
    return Comparison(
        tuple(key_columns), source_rows=rows, target_rows=rows, matched=rows,
        compared_columns=set(compared_columns) if rows else set(),
    )  # fmt: skip


def _compare_rows(
    scope: _Table,
    source: DatabaseSide,
    target: DatabaseSide,
    key_columns: Sequence[str],
    max_examples: int,
    where: Sequence[RowFilter],
    few: bool,
) -> Comparison:
    # each side's query runs while the other's rows are compared
    with ThreadPoolExecutor(2) as pool, _cancelled_when_interrupted((source, target)):
        streams = [
            _read_ahead(pool, side.database.rows(scope.name, scope.since, where, few)) for side in (source, target)
        ]
        try:
            return compare(*streams, key_columns, source.normalise, target.normalise, max_examples)
        finally:
            for stream in streams:
                stream.close()  # stops its reader, also when the comparison failed half way


_CHUNK = 2000
_CHUNKS_AHEAD = 4  # memory stays bounded: at most this many chunks of a side wait to be compared
_END = object()


def _read_ahead(pool: ThreadPoolExecutor, rows: Iterator[Row]) -> Generator[Row, None, None]:
    """The rows, read by a thread of `pool` a few chunks ahead of the consumer."""
    chunks: queue.Queue[Any] = queue.Queue(_CHUNKS_AHEAD)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in iter(lambda: list(itertools.islice(rows, _CHUNK)), []):
                if not offer(chunk):
                    return
            offer(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(exc)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()

    pool.submit(produce)
    try:
        while (chunk := chunks.get()) is not _END:
            if isinstance(chunk, BaseException):
                raise chunk
            yield from chunk
    finally:
        stop.set()


def _sql_digests(scope: _Table, side: DatabaseSide, count: int) -> dict[int, tuple[int, int]]:
    return side.database.bucket_digests(scope.name, side.sql_columns, count, scope.since, scope.where)


def _combined(sql: Mapping[int, tuple[int, int]], python: Mapping[int, int]) -> Digests:
    return {bucket: (count, total & _MASK, python.get(bucket, 0)) for bucket, (count, total) in sql.items()}


def _python_sums(scope: _Table, side: DatabaseSide) -> dict[int, int]:
    """Per bucket of SHARD_BUCKETS, the sum of the hashes of the values only Python canonicalises (none: {})."""
    sums: dict[int, int] = {}
    for key_hash, value in _python_hashes(scope, side):
        bucket = key_hash & (SHARD_BUCKETS - 1)
        sums[bucket] = (sums.get(bucket, 0) + value) & _MASK
    return sums


def _folded(sums: Mapping[int, int], count: int) -> dict[int, int]:
    """Per-bucket sums regrouped into `count` buckets (a bucket of fewer is the low bits of one of more)."""
    folded: dict[int, int] = {}
    for bucket, value in sums.items():
        folded[bucket & (count - 1)] = (folded.get(bucket & (count - 1), 0) + value) & _MASK
    return folded


def _python_hashes(scope: _Table, side: DatabaseSide) -> Iterator[tuple[int, int]]:
    if not scope.python_columns:
        return
    for key_hash, row in side.database.keyed_values(scope.name, side.python_inputs, scope.since, scope.where):
        yield key_hash, _python_hash(key_hash, side.normalise(row), scope.python_columns)


def _key_hashes(scope: _Table, side: DatabaseSide) -> dict[int, tuple[int, int]]:
    """Key hash -> (row hash in SQL, hash of the Python-only values) for the rows in `scope`."""
    python = dict(_python_hashes(scope, side))
    sql = side.database.key_hashes(scope.name, side.sql_columns, scope.since, scope.where)
    return {key: (row, python.get(key, 0)) for key, row in sql.items()}


def _python_hash(key_hash: int, canonical: Mapping[str, Any], columns: Sequence[str]) -> int:
    """Equal for values Python holds equal in practice (a different repr only costs a fetch, never a miss)."""
    text = repr((key_hash, [canonical.get(column) for column in columns]))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
