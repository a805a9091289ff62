"""The machine API: tokens and scopes, spend events (single and batch), rewards, member facts,
and JSON errors that name the field — never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum.database import utcnow
from forum.extensions import db
from referrals import links, rewards, tokens
from referrals.models import ReferrerKind, Reward, SpendEvent
from referrals.programs import TierSpec
from tests.conftest import make_user
from tests.referrals.factories import counterparty, make_program, make_referral

ALL_SCOPES = sorted(tokens.SCOPES)
AT = (utcnow() - timedelta(minutes=5)).isoformat()


@pytest.fixture
def token(app) -> str:
    return tokens.create_token(db.session, "marketplace", ALL_SCOPES, utcnow())[1]


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _event(event_id: str = "evt-1", **changes) -> dict:
    body = {
        "event_id": event_id,
        "occurred_at": AT,
        "kind": "payment",
        "payer": {"external_id": "C-100"},
        "payee": {"external_id": "F-200"},
        "amount_cents": 12_345,
        "currency": "USD",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def _stored() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(SpendEvent))


def _post(client, body, secret, **kwargs):  # noqa: ANN001, ANN202
    return client.post("/api/v1/spend-events", json=body, headers=_auth(secret), **kwargs)


# --- tokens and scopes ---------------------------------------------------------------------

ENDPOINTS = [
    ("post", "/api/v1/spend-events", "events:write"),
    ("get", "/api/v1/rewards", "rewards:read"),
    ("post", "/api/v1/rewards/1/fulfil", "rewards:write"),
    ("put", "/api/v1/members/M-1", "members:write"),
]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_needs_a_valid_token(client, method, path, scope) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, _auth("th_not-a-real-token"), _auth("")):
        response = getattr(client, method)(path, headers=headers, json={})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json["code"] == 401 and "Bearer" in response.json["message"]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_needs_its_scope(client, method, path, scope) -> None:
    others = [s for s in ALL_SCOPES if s != scope]
    _, secret = tokens.create_token(db.session, "narrow", others, utcnow())
    response = getattr(client, method)(path, headers=_auth(secret), json={})
    assert response.status_code == 403 and scope in response.json["message"]


def test_tokens_are_stored_hashed_and_can_be_revoked(client) -> None:
    token, secret = tokens.create_token(db.session, "ci", ["rewards:read"], utcnow())
    assert (
        secret.startswith("th_") and secret not in token.token_hash and len(token.token_hash) == 64
    )
    assert client.get("/api/v1/rewards", headers=_auth(secret)).status_code == 200
    tokens.revoke_token(db.session, "ci", utcnow())
    assert client.get("/api/v1/rewards", headers=_auth(secret)).status_code == 401
    tokens.create_token(db.session, "ci", ["rewards:read"], utcnow())  # the name is free again
    with pytest.raises(tokens.TokenError):
        tokens.create_token(db.session, "ci", ["rewards:read"], utcnow())
    with pytest.raises(tokens.TokenError):
        tokens.create_token(db.session, "other", ["everything"], utcnow())


# --- spend events --------------------------------------------------------------------------


def test_an_event_is_recorded_once_and_replays_answer_the_same(client, token) -> None:
    first = _post(client, _event(), token)
    assert first.status_code == 200
    assert first.json["event_id"] == "evt-1" and first.json["attributed"] is False
    again = _post(client, _event(), token)
    assert (again.status_code, again.json) == (200, first.json)
    conflict = _post(client, _event(amount_cents=1), token)
    assert conflict.status_code == 409
    assert conflict.json["errors"] == {
        "json": {"event_id": ["This event id was already used for a different event."]}
    }
    assert _stored() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"event_id": ...}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": "has space"}, "event_id"),
        ({"event_id": 42}, "event_id"),
        ({"occurred_at": ...}, "occurred_at"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at"),  # no offset
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": 1767261600}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:59:59-05:00"}, "occurred_at"),
        ({"kind": "chargeback"}, "kind"),
        ({"payer": ...}, "payer"),
        ({"payer": {}}, "payer"),
        ({"payer": {"id": 1, "external_id": "C-1"}}, "payer"),
        ({"payer": {"id": "1"}}, "payer"),
        ({"payee": {"id": True}}, "payee"),
        ({"payee": {"external_id": "no spaces allowed"}}, "payee"),
        ({"payee": "F-200"}, "payee"),
        ({"amount_cents": ...}, "amount_cents"),
        ({"amount_cents": "12345"}, "amount_cents"),
        ({"amount_cents": 123.0}, "amount_cents"),
        ({"amount_cents": 123.45}, "amount_cents"),
        ({"amount_cents": True}, "amount_cents"),
        ({"amount_cents": 0}, "amount_cents"),
        ({"amount_cents": -100}, "amount_cents"),
        ({"amount_cents": 10**30}, "amount_cents"),
        ({"amount_cents": None}, "amount_cents"),
        ({"currency": "EUR"}, "currency"),
        ({"currency": "usd"}, "currency"),
        ({"currency": ...}, "currency"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_fields_get_422_naming_the_field(client, token, changes, field) -> None:
    response = _post(client, _event(**changes), token)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert _stored() == 0


def test_currency_other_than_usd_says_so(client, token) -> None:
    response = _post(client, _event(currency="EUR"), token)
    assert response.json["errors"]["json"]["currency"] == [
        "Only USD is supported for now, not 'EUR'."
    ]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused(client, token, literal) -> None:
    body = (
        '{"event_id": "x", "occurred_at": "2026-01-01T00:00:00Z", "kind": "payment", '
        '"payer": {"id": 1}, "payee": {"id": 2}, "currency": "USD", "amount_cents": LITERAL}'
    ).replace("LITERAL", literal)
    response = client.post(
        "/api/v1/spend-events",
        data=body,
        headers={**_auth(token), "Content-Type": "application/json"},
    )
    # Not JSON at all (RFC 8259 has no such numbers), however Python's parser reads them.
    assert response.status_code == 400
    assert "finite" in response.json["errors"]["json"][0]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("", "application/json", 400),
        ('"a string"', "application/json", 422),
        ("42", "application/json", 422),
        ("[]", "application/json", 422),
        ('{"event_id": "x"}', "text/plain", 415),
    ],
)
def test_malformed_bodies_get_4xx_json(client, token, data, content_type, status) -> None:
    response = client.post(
        "/api/v1/spend-events", data=data, headers={**_auth(token), "Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.json["code"] == status and "Traceback" not in response.get_data(as_text=True)


def test_events_for_unknown_members_are_accepted_as_unattributed(client, token) -> None:
    response = _post(client, _event(payer={"id": 999_999}), token)
    assert response.status_code == 200 and response.json["attributed"] is False


def test_a_refund_larger_than_what_was_paid_is_refused(client, token) -> None:
    _post(client, _event("pay"), token)
    response = _post(client, _event("refund", kind="refund", amount_cents=12_346), token)
    assert response.status_code == 422
    assert "more than the $123.45" in response.json["errors"]["json"]["amount_cents"][0]
    assert _post(client, _event("refund", kind="refund"), token).status_code == 200


def test_a_batch_is_stored_whole(client, token) -> None:
    batch = [_event(f"b-{n}") for n in range(3)] + [_event("b-r", kind="refund", amount_cents=5)]
    response = _post(client, batch, token)
    assert response.status_code == 200
    assert [r["event_id"] for r in response.json["results"]] == ["b-0", "b-1", "b-2", "b-r"]
    assert _post(client, batch, token).json == response.json  # a retried batch
    assert _stored() == 4


def test_a_batch_with_an_invalid_event_stores_none_of_it(client, token) -> None:
    batch = [
        _event("ok-1"),
        _event("bad", amount_cents="5"),
        _event("ok-2"),
        _event("eur", currency="EUR"),
    ]
    response = _post(client, batch, token)
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"1", "3"}
    assert "amount_cents" in response.json["errors"]["json"]["1"]
    refund_too_big = [_event("ok-1"), _event("too-much", kind="refund", amount_cents=99_999)]
    response = _post(client, refund_too_big, token)
    assert response.status_code == 422 and list(response.json["errors"]["json"]) == ["1"]
    assert _stored() == 0


def test_a_batch_whose_only_problem_is_a_used_id_gets_409(client, token) -> None:
    _post(client, _event("used"), token)
    response = _post(client, [_event("fresh"), _event("used", amount_cents=1)], token)
    assert response.status_code == 409 and list(response.json["errors"]["json"]) == ["1"]
    assert _stored() == 1


def test_batches_hold_at_most_1000_events(client, token) -> None:
    response = _post(client, [_event(f"e{n}") for n in range(1001)], token)
    assert (
        response.status_code == 422 and "1 to 1000" in response.json["errors"]["json"]["_schema"][0]
    )


# --- rewards -------------------------------------------------------------------------------


def _rewarded_referral():  # noqa: ANN202
    referral = make_referral(
        make_program(tiers=(TierSpec(10_000, "credit", 2_000), TierSpec(20_000, "cash", 5_000)))
    )
    other = counterparty(referral)
    referral.referee.external_id = "C-ref"
    other.external_id = "F-other"
    db.session.flush()
    return referral


def test_from_spend_to_fulfilled_reward(client, token) -> None:
    referral = _rewarded_referral()
    body = _event(
        "big", payer={"external_id": "C-ref"}, payee={"external_id": "F-other"}, amount_cents=25_000
    )
    assert _post(client, body, token).json["attributed"] is True
    listed = client.get("/api/v1/rewards?status=pending", headers=_auth(token)).json["rewards"]
    assert sorted(r["kind"] for r in listed) == ["cash", "credit"]
    assert client.get("/api/v1/rewards?status=approved", headers=_auth(token)).json["rewards"] == []
    rewards.approve_due(db.session, utcnow() + timedelta(days=31))
    approved = client.get(
        "/api/v1/rewards?status=approved&kind=credit&kind=fee_discount", headers=_auth(token)
    ).json["rewards"]
    [credit] = approved
    assert (credit["amount"], credit["unit"], credit["currency"]) == (2_000, "cents", "USD")
    assert (
        credit["referrer"]["id"] == referral.referrer_id
        and credit["referee"]["external_id"] == "C-ref"
    )
    paid = client.post(f"/api/v1/rewards/{credit['id']}/fulfil", headers=_auth(token))
    assert paid.status_code == 200 and paid.json["status"] == "paid" and paid.json["paid_at"]
    again = client.post(f"/api/v1/rewards/{credit['id']}/fulfil", headers=_auth(token))
    assert (again.status_code, again.json) == (200, paid.json)
    assert db.session.get(Reward, credit["id"]).fulfilled_by == "marketplace"


def test_fulfilling_what_is_not_approved(client, token) -> None:
    referral = _rewarded_referral()
    _post(
        client,
        _event(
            "mid",
            payer={"external_id": "C-ref"},
            payee={"external_id": "F-other"},
            amount_cents=10_000,
        ),
        token,
    )
    pending = db.session.scalar(sa.select(Reward).where(Reward.referral_id == referral.id))
    response = client.post(f"/api/v1/rewards/{pending.id}/fulfil", headers=_auth(token))
    assert response.status_code == 409 and "pending" in response.json["message"]
    assert client.post("/api/v1/rewards/999999/fulfil", headers=_auth(token)).status_code == 404


def test_rewards_are_paged(client, token) -> None:
    program = make_program(tiers=(TierSpec(0, "connects", 5),))
    for _ in range(5):
        make_referral(program)
    first = client.get("/api/v1/rewards?limit=2", headers=_auth(token)).json
    assert len(first["rewards"]) == 2 and first["next_after"] == first["rewards"][-1]["id"]
    rest = client.get(
        f"/api/v1/rewards?limit=10&after={first['next_after']}", headers=_auth(token)
    ).json
    assert len(rest["rewards"]) == 3 and rest["next_after"] is None
    bad = client.get("/api/v1/rewards?status=due&limit=0&kind=gold", headers=_auth(token))
    assert bad.status_code == 422 and set(bad.json["errors"]["query"]) == {
        "status",
        "limit",
        "kind",
    }


# --- members -------------------------------------------------------------------------------


def _facts(**changes) -> dict:
    return {"client": False, "freelancer": True, "top_rated": True, **changes}


def test_linking_a_member_and_showing_eligibility_with_reasons(client, token) -> None:
    make_program(referrer_kind=ReferrerKind.TOP_RATED_FREELANCER)
    user = make_user("hana", hires=True)
    path = "/api/v1/members/MK-77"
    response = client.put(
        path,
        json=_facts(email="hana@example.com", email_verified=True, categories=["Design"]),
        headers=_auth(token),
    )
    assert response.status_code == 200, response.json
    assert (response.json["id"], response.json["external_id"]) == (user.id, "MK-77")
    assert response.json["categories"] == ["Design"]
    [eligible] = response.json["eligibility"]
    assert eligible["may_refer"] is True and eligible["reason"] == ""
    lost = client.put(path, json=_facts(top_rated=False), headers=_auth(token)).json
    [eligible] = lost["eligibility"]
    assert eligible["may_refer"] is False and "not Top Rated" in eligible["reason"]


def test_losing_top_rated_stops_new_links_but_keeps_existing_rewards(client, token) -> None:
    program = make_program(
        referrer_kind=ReferrerKind.TOP_RATED_FREELANCER,
        tiers=(TierSpec(100, "cash", 1_000), TierSpec(200, "cash", 2_000)),
    )
    referral = make_referral(program)
    referrer = referral.referrer
    referrer.external_id = "MK-top"
    db.session.flush()
    payer = counterparty(referral)
    from referrals import spend
    from tests.referrals.factories import spend_event

    spend.record_event(db.session, spend_event(referral, payer, 150), utcnow())
    client.put("/api/v1/members/MK-top", json=_facts(top_rated=False), headers=_auth(token))
    db.session.refresh(referrer)
    with pytest.raises(links.LinkError, match="not Top Rated"):
        links.create_link(db.session, referrer, program, utcnow())
    spend.record_event(db.session, spend_event(referral, payer, 100), utcnow())
    amounts = db.session.scalars(sa.select(Reward.amount).where(Reward.referral_id == referral.id))
    assert sorted(amounts) == [1_000, 2_000]


@pytest.mark.parametrize(
    ("path", "body", "status", "where"),
    [
        ("/api/v1/members/MK-1", _facts(), 422, "email"),
        (
            "/api/v1/members/MK-1",
            _facts(email="nobody@example.com", email_verified=True),
            404,
            None,
        ),
        ("/api/v1/members/MK-1", _facts(email="not-an-email", email_verified=True), 422, "email"),
        ("/api/v1/members/MK-1", _facts(freelancer=1), 422, "freelancer"),
        ("/api/v1/members/MK-1", _facts(top_rated="yes"), 422, "top_rated"),
        ("/api/v1/members/MK-1", {"client": True}, 422, "freelancer"),
        ("/api/v1/members/MK-1", _facts(extra=True), 422, "extra"),
        ("/api/v1/members/MK-1", _facts(categories="Design"), 422, "categories"),
        ("/api/v1/members/bad%20id", _facts(), 422, "external_id"),
    ],
)
def test_member_facts_problems(client, token, path, body, status, where) -> None:
    response = client.put(path, json=body, headers=_auth(token))
    assert response.status_code == status, response.json
    if where:
        errors = response.json["errors"]
        assert where in errors.get("json", {}) or where in errors.get("path", {})


def test_an_account_linked_elsewhere_conflicts(client, token) -> None:
    make_user("ida").external_id = "MK-old"
    db.session.flush()
    body = _facts(email="ida@example.com", email_verified=True)
    response = client.put("/api/v1/members/MK-new", json=body, headers=_auth(token))
    assert response.status_code == 409


# --- errors stay JSON under /api/, HTML elsewhere ------------------------------------------


def test_errors_are_json_under_the_api_and_html_elsewhere(client, token) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json["status"] == "Not Found"
    wrong_method = client.delete("/api/v1/spend-events", headers=_auth(token))
    assert wrong_method.status_code == 405 and wrong_method.is_json
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.content_type.startswith("text/html")


def test_too_large_a_body_is_refused_cleanly(app, client, token, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1_000)
    response = _post(client, [_event(f"e{n}") for n in range(20)], token)
    assert response.status_code == 413 and response.is_json


def test_bodies_and_ids_that_could_break_the_parser_or_the_database_get_4xx(client, token) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    for path, method in (("/api/v1/spend-events", "post"), ("/api/v1/members/M-1", "put")):
        response = getattr(client, method)(
            path, data=deep, headers={**_auth(token), "Content-Type": "application/json"}
        )
        assert response.status_code == 400 and response.is_json
    huge = "99999999999999999999"
    assert client.get(f"/api/v1/rewards?after={huge}", headers=_auth(token)).status_code == 422
    assert client.post(f"/api/v1/rewards/{huge}/fulfil", headers=_auth(token)).status_code == 404
    bad_utf8 = client.post(
        "/api/v1/spend-events",
        data=b"\xff\xfe{",
        headers={**_auth(token), "Content-Type": "application/json"},
    )
    assert bad_utf8.status_code == 400


@pytest.mark.parametrize("too_large", [2**31, 2**63 - 2])
def test_ids_beyond_the_id_column_are_refused_not_a_database_error(client, token, too_large):  # noqa: ANN001
    # PostgreSQL answered "integer out of range" (a 500) for ids between 2**31 and 2**63.
    listed = client.get(f"/api/v1/rewards?after={too_large}", headers=_auth(token))
    assert listed.status_code == 422 and "after" in listed.json["errors"]["query"]
    fulfilled = client.post(f"/api/v1/rewards/{too_large}/fulfil", headers=_auth(token))
    assert fulfilled.status_code == 404 and fulfilled.is_json
    largest = client.get(f"/api/v1/rewards?after={2**31 - 1}", headers=_auth(token))
    assert largest.status_code == 200 and largest.json == {"rewards": [], "next_after": None}


def test_an_unknown_query_parameter_is_refused_rather_than_ignored(client, token) -> None:
    # A typo must not turn "approved rewards" into "every reward".
    response = client.get("/api/v1/rewards?stauts=approved", headers=_auth(token))
    assert response.status_code == 422
    assert response.json["errors"]["query"] == {"stauts": ["Unknown field."]}


def test_a_405_names_the_methods_that_are_allowed(client, token) -> None:
    response = client.delete("/api/v1/spend-events", headers=_auth(token))
    assert response.status_code == 405 and response.is_json
    assert set(response.headers["Allow"].split(", ")) >= {"POST"}
    page = client.delete("/")
    assert page.status_code == 405 and "GET" in page.headers["Allow"]
