"""Hostile request bodies: JSON that Python's parser would take but RFC 8259 does not (NaN,
Infinity, duplicate keys, lone surrogates), types that merely look right, bodies too deep, too
large, not UTF-8, not JSON at all, or too many events. Each gets a 4xx JSON answer that names
the problem, and nothing is stored."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum.database import utcnow
from forum.extensions import db
from referrals import tokens
from referrals.models import MemberProfile, SpendEvent
from tests.conftest import make_user

AT = (utcnow() - timedelta(minutes=5)).isoformat()
EVENT = (
    '{"event_id": "hostile-1", "occurred_at": "' + AT + '", "kind": "payment", '
    '"payer": {"external_id": "C-1"}, "payee": {"external_id": "F-1"}, '
    '"amount_cents": AMOUNT, "currency": "USD"}'
)
FACTS = '{"client": true, "freelancer": false, "top_rated": false, "categories": CATEGORIES}'


@pytest.fixture
def token(app) -> str:  # noqa: ANN001
    return tokens.create_token(db.session, "hostile", sorted(tokens.SCOPES), utcnow())[1]


@pytest.fixture
def linked(app) -> None:  # noqa: ANN001
    """A member the marketplace has linked, so that member bodies reach the database."""
    user = make_user("linked")
    user.external_id = "M-linked"
    db.session.flush()


def _send(client, token: str, path: str, data: bytes | str, content_type: str | None):  # noqa: ANN001, ANN202
    headers = {"Authorization": f"Bearer {token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    method = client.put if path.startswith("/api/v1/members/") else client.post
    return method(path, data=data, headers=headers)


def _nothing_stored() -> bool:
    events = db.session.scalar(sa.select(sa.func.count()).select_from(SpendEvent))
    profiles = db.session.scalar(sa.select(sa.func.count()).select_from(MemberProfile))
    return events == 0 and profiles == 0


def _problem(response) -> str:  # noqa: ANN001
    """Return everything the error says, as one lowercase text."""
    assert response.is_json, response.get_data(as_text=True)
    body = response.json
    assert body["code"] == response.status_code
    assert "Traceback" not in response.get_data(as_text=True)
    return json.dumps(body).lower()


def _event(amount: str) -> str:
    return EVENT.replace("AMOUNT", amount)


def _facts(categories: str) -> str:
    return FACTS.replace("CATEGORIES", categories)


def _nested(depth: int, opening: str = "[", closing: str = "]") -> str:
    return opening * depth + closing * depth


EVENTS = "/api/v1/spend-events"
MEMBER = "/api/v1/members/M-linked"
JSON = "application/json"

# (path, body, content type, status, words the answer must contain)
CASES = {
    "NaN": (EVENTS, _event("NaN"), JSON, 400, ["nan"]),
    "Infinity": (EVENTS, _event("Infinity"), JSON, 400, ["infinity"]),
    "-Infinity": (EVENTS, _event("-Infinity"), JSON, 400, ["infinity"]),
    "overflowing float": (EVENTS, _event("1e400"), JSON, 400, ["finite"]),
    "NaN for a boolean": (MEMBER, _facts("[]").replace("true", "NaN", 1), JSON, 400, ["nan"]),
    "NaN in a list": (MEMBER, _facts("[NaN]"), JSON, 400, ["nan"]),
    "duplicate key": (
        EVENTS,
        _event('1, "amount_cents": 100000'),
        JSON,
        400,
        ["duplicate", "amount_cents"],
    ),
    "duplicate nested key": (
        EVENTS,
        _event("100").replace('{"external_id": "C-1"}', '{"id": 1, "id": 2}'),
        JSON,
        400,
        ["duplicate", '\\"id\\"'],
    ),
    "duplicate key in a batch": (
        EVENTS,
        "["
        + _event("100").replace('"kind": "payment"', '"kind": "refund", "kind": "payment"')
        + "]",
        JSON,
        400,
        ["duplicate", "kind"],
    ),
    "duplicate member fact": (
        MEMBER,
        FACTS.replace('"client": true', '"client": true, "client": false').replace(
            "CATEGORIES", "[]"
        ),
        JSON,
        400,
        ["duplicate", "client"],
    ),
    "boolean for an integer": (EVENTS, _event("true"), JSON, 422, ["amount_cents"]),
    "false for an integer": (EVENTS, _event("false"), JSON, 422, ["amount_cents"]),
    "boolean for a member id": (
        EVENTS,
        _event("100").replace('{"external_id": "C-1"}', '{"id": true}'),
        JSON,
        422,
        ["payer", "id"],
    ),
    "string for an integer": (EVENTS, _event('"100"'), JSON, 422, ["amount_cents"]),
    "float for an integer": (EVENTS, _event("100.0"), JSON, 422, ["amount_cents"]),
    "null for an integer": (EVENTS, _event("null"), JSON, 422, ["amount_cents"]),
    "integer for a boolean": (MEMBER, _facts("[]").replace("true", "1", 1), JSON, 422, ["client"]),
    "huge integer": (EVENTS, _event("9" * 5000), JSON, 400, ["digits"]),
    "array 10,000 deep": (EVENTS, _nested(10_000), JSON, 400, ["nested"]),
    "object 10,000 deep": (EVENTS, '{"a":' * 10_000 + "1" + "}" * 10_000, JSON, 400, ["nested"]),
    "deep inside an event": (EVENTS, _event(_nested(200)), JSON, 400, ["nested"]),
    "deep member facts": (MEMBER, _facts(_nested(10_000)), JSON, 400, ["nested"]),
    "deep but parseable member facts": (MEMBER, _facts(_nested(500)), JSON, 400, ["nested"]),
    "invalid UTF-8": (EVENTS, b'{"event_id": "\xff\xfe"}', JSON, 400, ["utf-8"]),
    "invalid UTF-8 for a member": (
        MEMBER,
        _facts('["\xc3\x28"]').encode("latin-1"),
        JSON,
        400,
        ["utf-8"],
    ),
    "lone surrogate": (MEMBER, _facts('["\\ud800"]'), JSON, 400, ["surrogate"]),
    "NUL in a string": (MEMBER, _facts('["a\\u0000b"]'), JSON, 422, ["categories"]),
    "control character in a string": (MEMBER, _facts('["a\\u0007b"]'), JSON, 422, ["categories"]),
    "trailing garbage": (EVENTS, _event("100") + " x", JSON, 400, ["json"]),
    "two documents": (EVENTS, _event("100") + _event("100"), JSON, 400, ["json"]),
    "single quotes": (EVENTS, _event("100").replace('"', "'"), JSON, 400, ["json"]),
    "comment": (EVENTS, "// hi\n" + _event("100"), JSON, 400, ["json"]),
    "empty body": (EVENTS, "", JSON, 400, ["empty"]),
    "whitespace body": (EVENTS, "  \n ", JSON, 400, ["empty"]),
    "empty member body": (MEMBER, "", JSON, 400, ["empty"]),
    "null body": (EVENTS, "null", JSON, 422, ["object"]),
    "scalar body": (EVENTS, "42", JSON, 422, ["object"]),
    "string body": (EVENTS, '"event"', JSON, 422, ["object"]),
    "array member body": (MEMBER, "[]", JSON, 422, ["object"]),
    "text/plain": (EVENTS, _event("100"), "text/plain", 415, ["application/json"]),
    "form-encoded": (EVENTS, "event_id=1", "application/x-www-form-urlencoded", 415, ["json"]),
    "no content type": (EVENTS, _event("100"), None, 415, ["application/json"]),
    "text/plain member": (MEMBER, _facts("[]"), "text/plain", 415, ["application/json"]),
    "no content type member": (MEMBER, _facts("[]"), None, 415, ["application/json"]),
    "empty batch": (EVENTS, "[]", JSON, 422, ["1 to 1000"]),
    "batch of 1,001": (
        EVENTS,
        "[" + ",".join([_event("100")] * 1001) + "]",
        JSON,
        422,
        ["1 to 1000"],
    ),
    "batch of scalars": (EVENTS, "[1, 2]", JSON, 422, ['"0"', '"1"']),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_bodies_get_4xx_json_naming_the_problem(client, token, linked, case) -> None:  # noqa: ANN001
    path, body, content_type, status, words = CASES[case]
    response = _send(client, token, path, body, content_type)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    problem = _problem(response)
    for word in words:
        assert word.lower() in problem, (word, problem[:500])
    assert _nothing_stored()


def test_a_body_over_the_size_limit_gets_413_json_and_is_not_read(app, client, token) -> None:  # noqa: ANN001
    limit = app.config["MAX_CONTENT_LENGTH"]
    batch = "[" + ",".join([_event("100")] * (limit // len(_event("100")) + 2)) + "]"
    assert len(batch) > limit
    for path in (EVENTS, MEMBER, "/api/v1/rewards/1/fulfil"):
        response = _send(client, token, path, batch, JSON)
        assert response.status_code == 413
        assert "too large" in _problem(response)
    assert _nothing_stored()


def test_a_valid_body_still_works_after_all_that(client, token, linked) -> None:  # noqa: ANN001
    # The strict reading refuses only what it should: the same shapes, well formed, pass.
    event = _send(client, token, EVENTS, _event("100"), JSON)
    assert event.status_code == 200, event.json
    facts = _send(
        client, token, MEMBER, _facts('["Design", "Écriture ✍"]'), "application/json; charset=utf-8"
    )
    assert facts.status_code == 200, facts.json
    assert facts.json["categories"] == ["Design", "Écriture ✍"]
