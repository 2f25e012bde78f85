"""The streaming comparison on plain rows, and the canonical form that makes 2.x and 3.x rows comparable."""

from __future__ import annotations

import json
import os
import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mwaa_verify.airflow import column_map, pickles
from mwaa_verify.airflow.secrets import Redactor
from mwaa_verify.parity.engine import ParityError, compare, merged
from mwaa_verify.parity.explain import explain


def rows(*items: tuple) -> list[dict]:
    return [{"k": key, "state": state, "conf": conf} for key, state, conf in items]


def test_counts_missing_extra_and_changed_rows_with_field_diffs() -> None:
    source = rows(("a", "success", None), ("b", "success", {"n": 1, "regions": ["eu"]}), ("c", "failed", None))
    target = rows(("b", "failed", {"n": 1, "regions": ["eu", "us"]}), ("c", "failed", None), ("d", "queued", None))

    outcome = compare(source, target, ["k"])

    assert (outcome.source_rows, outcome.target_rows) == (3, 3)
    assert (outcome.matched, outcome.missing, outcome.extra, outcome.changed) == (1, 1, 1, 1)
    assert outcome.missing_keys == [("a",)] and outcome.extra_keys == [("d",)]
    (changed,) = outcome.changed_rows
    assert changed.key == ("b",)
    assert [(c.field, c.source, c.target) for c in changed.changes] == [
        ("state", "success", "failed"),
        ("conf", {"n": 1, "regions": ["eu"]}, {"n": 1, "regions": ["eu", "us"]}),
    ]
    assert changed.changes[1].detail == "Item root['regions'][1] (\"us\") added to iterable."
    text = explain("dag_run", outcome)
    assert text.splitlines()[0] == (
        "dag_run: source 3 rows, target 3 rows: 1 match, 1 missing on the target, 1 changed, 1 only on the target"
    )
    assert "    state: 'success' -> 'failed'" in text


def test_examples_are_capped_but_counts_are_not() -> None:
    source = [{"k": number} for number in range(10_000)]

    outcome = compare(source, [], ["k"], max_examples=5)

    assert outcome.missing == 10_000 and len(outcome.missing_keys) == 5


def test_nulls_sort_last_as_the_databases_return_them() -> None:
    source = [{"k": "a", "v": 1}, {"k": None, "v": 2}]

    outcome = compare(source, list(source), ["k"])

    assert outcome.matched == 2


def test_a_stream_out_of_key_order_is_refused() -> None:
    with pytest.raises(ParityError, match=r"target rows are not in key order"):
        compare([{"k": "a"}, {"k": "b"}], [{"k": "b"}, {"k": "a"}], ["k"])


def test_columns_only_one_side_has_are_not_compared() -> None:
    outcome = compare([{"k": 1, "external_trigger": False}], [{"k": 1, "run_after": "x"}], ["k"])

    assert outcome.matched == 1 and outcome.compared_columns == {"k"}


def test_a_2x_and_a_3x_dag_run_have_the_same_canonical_form() -> None:
    logical = datetime(2024, 3, 1, tzinfo=UTC)
    airflow2 = {
        "id": 7,
        "dag_id": "etl",
        "run_id": "r",
        "execution_date": logical,
        "run_type": "dataset_triggered",
        "conf": pickle.dumps({"n": 3}),
        "external_trigger": True,
        "log_template_id": 1,
    }
    in_paris = logical.astimezone(timezone(timedelta(hours=2)))
    airflow3 = {
        "id": 1,
        "dag_id": "etl",
        "run_id": "r",
        "logical_date": in_paris,
        "run_type": "asset_triggered",
        "conf": {"n": 3},
        "run_after": logical,
        "log_template_id": 2,
    }

    def comparable(row: dict) -> dict:
        canonical = column_map.canonical_row("dag_run", row)
        return {c: v for c, v in canonical.items() if not column_map.is_local("dag_run", c)}

    assert compare([airflow2], [airflow3], ["dag_id", "run_id"], comparable, comparable).matched == 1


def test_xcom_values_decode_and_pickles_are_not_migratable() -> None:
    assert column_map.canonical_value("xcom", "value", json.dumps({"rows": 42}).encode()) == {"rows": 42}
    assert column_map.canonical_value("xcom", "value", pickle.dumps({"rows": 42})) == column_map.NOT_MIGRATABLE


def test_pickles_that_name_code_are_refused_not_run() -> None:
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickles.NotMigratable, match=r"pickled posix\.system object"):
        pickles.load_plain(pickle.dumps(Exploit()))
    assert pickles.load_plain(pickle.dumps({"when": datetime(2024, 1, 1)})) == {"when": datetime(2024, 1, 1)}


def test_redacted_digests_compare_but_reveal_nothing() -> None:
    redactor = Redactor()

    digest = redactor.digest("hunter2")

    assert digest == redactor.digest("hunter2") != redactor.digest("hunter3")
    assert "hunter2" not in digest and digest != Redactor().digest("hunter2")


def test_parts_of_a_table_merge_into_what_one_pass_finds() -> None:
    source = [{"k": n, "v": n % 7} for n in range(100) if n % 11]
    target = [{"k": n, "v": n % 7 if n % 13 else -1} for n in range(100) if n % 17]
    parts = [
        compare([r for r in source if r["k"] % 3 == i], [r for r in target if r["k"] % 3 == i], ["k"], max_examples=4)
        for i in range(3)
    ]

    assert merged(parts, max_examples=4) == compare(source, target, ["k"], max_examples=4)
