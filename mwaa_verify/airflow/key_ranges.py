"""Splitting the parity of a large table into key ranges that separate processes check independently.

A range is one of `count` buckets of the run a row belongs to: the CRC-32 of its `dag_id` and `run_id`, which
both Airflow lines store unchanged in every run-scoped table, so a row and its migrated copy always fall in
the same range on both sides. Filtering a key-ordered stream keeps it in key order, so each range is compared
by the same streaming merge as the whole table, and the ranges' counts add up to the table's.

Until the engine can push a range into SQL, each range reads its table and keeps its share before any row
is normalised or compared: the reading is repeated, the comparing is shared.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mwaa_verify.airflow.column_map import MIGRATED_TABLES
from mwaa_verify.environments.base import Environment

# tables keyed by run, big in a long-lived deployment: those worth splitting
SPLIT_TABLES = frozenset(
    spec.name for spec in MIGRATED_TABLES if spec.kind == "keyed" and {"dag_id", "run_id"} <= set(spec.natural_key)
)


@dataclass(frozen=True)
class KeyRange:
    """Share `index` (0-based) of `count`; `count == 1` is the whole table."""

    index: int = 0
    count: int = 1

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"

    @property
    def whole(self) -> bool:
        return self.count == 1

    def holds(self, row: Mapping[str, Any]) -> bool:
        if self.whole:
            return True
        run = f"{row.get('dag_id')}\0{row.get('run_id')}".encode()
        return zlib.crc32(run) % self.count == self.index


def key_ranges(table: str, count: int) -> list[KeyRange]:
    """The ranges a table is checked in when `count` processes share the work: one for a small table."""
    count = count if table in SPLIT_TABLES else 1
    return [KeyRange(index, count) for index in range(count)]


class RowsInRange:
    """An environment whose rows of every table are those in one key range; everything else is its own."""

    def __init__(self, environment: Environment, key_range: KeyRange) -> None:
        self._environment = environment
        self._range = key_range

    def rows(self, table: str, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        return (row for row in self._environment.rows(table, since) if self._range.holds(row))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._environment, name)
