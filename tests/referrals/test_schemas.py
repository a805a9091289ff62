"""The fast road for spend events (schemas.fast_event, fast_result) against the schemas they
stand in for: whatever the fast road accepts, the schema accepts and loads to the same event;
what it refuses goes to the schema, so the errors stay the schema's. Also the strict JSON
reader's shortcuts against its full walk."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import marshmallow as ma
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forum import jsonbodies
from referrals import spend
from referrals.schemas import SpendEventResultSchema, SpendEventSchema, fast_event, fast_result

GOOD = {
    "event_id": "pay-1",
    "occurred_at": "2026-01-02T03:04:05+00:00",
    "kind": "payment",
    "payer": {"id": 7},
    "payee": {"external_id": "F-9"},
    "amount_cents": 12_345,
    "currency": "USD",
}

# Values that are valid for some field, invalid for others, or merely look right.
ODD_VALUES = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    spend.MAX_AMOUNT_CENTS,
    spend.MAX_AMOUNT_CENTS + 1,
    1.0,
    1.5,
    "",
    " ",
    "1",
    "USD",
    "usd",
    "CAD",
    "payment",
    "refund",
    "Payment",
    "pay 1",
    "x" * 100,
    "x" * 101,
    "abc\n",
    "é",
    "2026-01-02T03:04:05",
    "2026-01-02T03:04:05Z",
    "2026-01-02T03:04:05.123456+05:30",
    "2026-01-02",
    "20260102T030405+0000",
    "2026-13-02T03:04:05+00:00",
    "F-9",
    "-F",
    [],
    {},
    {"id": 7},
    {"id": "7"},
    {"id": 0},
    {"id": True},
    {"external_id": "C-1"},
    {"external_id": ""},
    {"external_id": 5},
    {"id": 7, "external_id": "C-1"},
    {"id": 7, "extra": 1},
    {"other": 1},
]


def _schema_load(item: object) -> spend.EventIn | None:
    try:
        return SpendEventSchema().load(item)
    except ma.ValidationError:
        return None


def _agrees(item: object) -> None:
    fast = fast_event(item)
    if fast is not None:
        assert fast == _schema_load(item)


def test_a_plain_event_takes_the_fast_road_to_the_same_event() -> None:
    fast = fast_event(GOOD)
    assert fast is not None and fast == _schema_load(GOOD)
    assert fast.occurred_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("field", sorted(GOOD))
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_every_field_and_odd_value_agrees_with_the_schema(field: str, value: object) -> None:
    item = copy.deepcopy(GOOD)
    item[field] = value
    _agrees(item)


def test_missing_and_unknown_fields_go_to_the_schema() -> None:
    for field in GOOD:
        item = {k: v for k, v in GOOD.items() if k != field}
        assert fast_event(item) is None and _schema_load(item) is None
    assert fast_event({**GOOD, "note": "x"}) is None
    assert fast_event([GOOD]) is None and fast_event("x") is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {k: st.one_of(st.just(v), st.sampled_from(ODD_VALUES), _json) for k, v in GOOD.items()}
    )
)
def test_mixed_events_agree_with_the_schema(item: dict) -> None:
    _agrees(item)


def test_results_are_what_the_schema_dumps() -> None:
    at = datetime(2026, 5, 6, 7, 8, 9, 123, tzinfo=UTC)
    for outcome in (
        spend.Outcome("e-1", "payment", True, at),
        spend.Outcome("e-2", "refund", False, at, replayed=True),
    ):
        assert fast_result(outcome) == SpendEventResultSchema().dump(outcome)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 32 + "]" * 32,
        "[" * 33 + "]" * 33,
        '{"a":' * 31 + "1" + "}" * 31,
        '{"a":' * 32 + "1" + "}" * 32,
        '[{"a": [[{"b": []}]]}]',
    ],
)
def test_the_depth_check_without_surrogates_is_the_full_one(text: str) -> None:
    try:
        jsonbodies.loads(text.encode())
        shortcut = None
    except jsonbodies.InvalidJSON as error:
        shortcut = str(error)
    deep = "nested too deeply" in (shortcut or "")
    assert deep == (text.count("[") + text.count("{") > jsonbodies.MAX_DEPTH)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('"\\ud800"', "surrogate"),
        ('{"\\uDFFF": 1}', "surrogate"),
        ('["\\ud83d\\ude00"]', None),  # a pair is one character, not a lone surrogate
        ('"\\\\ud800"', None),  # an escaped backslash, then letters
        ('{"a": 1, "a": 2}', 'Duplicate key "a"'),
        ('{"a": 1, "b": {"c": 1, "c": 2}}', 'Duplicate key "c"'),
    ],
)
def test_surrogates_and_duplicate_keys_are_still_refused(text: str, problem: str | None) -> None:
    try:
        jsonbodies.loads(text.encode())
        found = None
    except jsonbodies.InvalidJSON as error:
        found = str(error)
    assert (found is None) == (problem is None)
    if problem is not None:
        assert problem in found
