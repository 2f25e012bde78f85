"""Compare two row streams that arrive sorted by the same key, in one pass and constant memory.

The engine knows rows, not Airflow: callers give it the key columns and a normalising function per side.
Only counts and the first `max_examples` differences of each kind are kept, however large the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from deepdiff import DeepDiff

Row = Mapping[str, Any]
Key = tuple[Any, ...]

DEFAULT_MAX_EXAMPLES = 20


class ParityError(ValueError):
    """The inputs cannot be compared (a stream out of key order, a key column missing)."""


@dataclass(frozen=True)
class FieldChange:
    field: str
    source: Any
    target: Any
    detail: str | None = None  # deepdiff's account of a change inside a nested value


@dataclass(frozen=True)
class RowDiff:
    key: Key
    changes: tuple[FieldChange, ...]


@dataclass
class Comparison:
    """The outcome for one table: every count, and examples of each kind of difference."""

    key_columns: tuple[str, ...]
    source_rows: int = 0
    target_rows: int = 0
    matched: int = 0
    missing: int = 0  # in the source, not in the target
    extra: int = 0  # in the target, not in the source
    changed: int = 0
    missing_keys: list[Key] = field(default_factory=list)
    extra_keys: list[Key] = field(default_factory=list)
    changed_rows: list[RowDiff] = field(default_factory=list)
    compared_columns: set[str] = field(default_factory=set)

    def is_faithful(self, extras_allowed: bool = False) -> bool:
        return not self.missing and not self.changed and (extras_allowed or not self.extra)


def compare(
    source: Iterable[Row],
    target: Iterable[Row],
    key_columns: Sequence[str],
    normalise_source: Callable[[Row], dict[str, Any]] = dict,
    normalise_target: Callable[[Row], dict[str, Any]] = dict,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
) -> Comparison:
    """Merge two key-ordered streams. Fields present on only one side (a column one version lacks) are not
    compared; `compared_columns` says which were."""
    result = Comparison(tuple(key_columns))
    left = _keyed(source, key_columns, normalise_source, "source")
    right = _keyed(target, key_columns, normalise_target, "target")
    left_item, right_item = next(left, None), next(right, None)
    while left_item is not None or right_item is not None:
        if right_item is None or (left_item is not None and _order(left_item[0]) < _order(right_item[0])):
            assert left_item is not None
            result.source_rows += 1
            result.missing += 1
            _remember(result.missing_keys, left_item[0], max_examples)
            left_item = next(left, None)
        elif left_item is None or _order(right_item[0]) < _order(left_item[0]):
            result.target_rows += 1
            result.extra += 1
            _remember(result.extra_keys, right_item[0], max_examples)
            right_item = next(right, None)
        else:
            result.source_rows += 1
            result.target_rows += 1
            changes = _changes(left_item[1], right_item[1], result.compared_columns)
            if changes:
                result.changed += 1
                _remember(result.changed_rows, RowDiff(left_item[0], changes), max_examples)
            else:
                result.matched += 1
            left_item, right_item = next(left, None), next(right, None)
    return result


def _keyed(
    rows: Iterable[Row], key_columns: Sequence[str], normalise: Callable[[Row], dict[str, Any]], side: str
) -> Iterator[tuple[Key, dict[str, Any]]]:
    previous: Key | None = None
    for row in rows:
        normalised = normalise(row)
        try:
            key = tuple(normalised[column] for column in key_columns)
        except KeyError as exc:
            raise ParityError(f"{side} rows have no key column {exc.args[0]!r}") from None
        if previous is not None and _order(key) < _order(previous):
            raise ParityError(
                f"{side} rows are not in key order ({previous!r} came before {key!r}); both sides must be "
                f"sorted by {', '.join(key_columns)} with the same collation"
            )
        previous = key
        yield key, normalised


def _order(key: Key) -> tuple[tuple[bool, Any], ...]:
    """Sort order of a key as the databases produce it: values ascending, NULLs last."""
    return tuple((value is None, "" if value is None else value) for value in key)


def _changes(source: dict[str, Any], target: dict[str, Any], compared: set[str]) -> tuple[FieldChange, ...]:
    common = [column for column in source if column in target]
    compared.update(common)
    changes = []
    for column in common:
        before, after = source[column], target[column]
        if before == after and type(before) is type(after):
            continue
        if isinstance(before, int | float) and isinstance(after, int | float) and before == after:
            continue
        detail = None
        if isinstance(before, dict | list) and isinstance(after, dict | list):
            detail = DeepDiff(before, after, verbose_level=2).pretty()
        changes.append(FieldChange(column, before, after, detail))
    return tuple(changes)


def _remember(examples: list[Any], item: Any, limit: int) -> None:
    if len(examples) < limit:
        examples.append(item)


def merged(parts: Sequence[Comparison], max_examples: int = DEFAULT_MAX_EXAMPLES) -> Comparison:
    """One Comparison of several over disjoint parts of a table's keys (digests.Shard): counts add up, and the
    examples are again the first `max_examples` of each kind in key order, as one pass would have kept them."""
    if not parts:
        raise ParityError("nothing to merge: no comparison was given")
    result = Comparison(parts[0].key_columns)
    for part in parts:
        if part.key_columns != result.key_columns:
            raise ParityError(f"cannot merge comparisons keyed on {part.key_columns} and {result.key_columns}")
        for count in ("source_rows", "target_rows", "matched", "missing", "extra", "changed"):
            setattr(result, count, getattr(result, count) + getattr(part, count))
        result.compared_columns |= part.compared_columns
    result.missing_keys = _first(max_examples, (key for part in parts for key in part.missing_keys), _order)
    result.extra_keys = _first(max_examples, (key for part in parts for key in part.extra_keys), _order)
    result.changed_rows = _first(
        max_examples, (row for part in parts for row in part.changed_rows), lambda row: _order(row.key)
    )
    return result


def _first(limit: int, items: Iterable[Any], order: Callable[[Any], Any]) -> list[Any]:
    return sorted(items, key=order)[:limit]
