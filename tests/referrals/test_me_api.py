"""A member's own read-only API (/api/v1/me/…) and the fee quote (/api/v1/fees/quote)."""

from __future__ import annotations

import pytest

from forum.database import utcnow
from forum.extensions import db
from referrals import spend, tokens
from referrals.tables import TalentRelationship
from tests.conftest import make_user
from tests.referrals.factories import event, make_link, rewarded_referral


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _member_token(user, name: str = "stats") -> str:  # noqa: ANN001
    return tokens.create_token(db.session, name, ["me:read"], utcnow(), owner=user)[1]


def test_an_affiliate_pulls_their_own_stats_referrals_and_rewards(app, client) -> None:
    referral = rewarded_referral(amount_cents=20_000)
    make_link(referral.program, referral.referrer, code="my-blog", campaign="Blog")
    secret = _member_token(referral.referrer)
    stats = client.get("/api/v1/me/stats", headers=_auth(secret)).get_json()
    assert stats["sign_ups"] == 1 and stats["referee_spend_cents"] == 20_000
    assert stats["rewards"]["approved"] == {"count": 1, "money_cents": 5_000}
    assert {link["code"] for link in stats["links"]} >= {"my-blog"}
    [row] = client.get("/api/v1/me/referrals", headers=_auth(secret)).get_json()["referrals"]
    assert (row["id"], row["referee"], row["net_cents"]) == (
        referral.id, referral.referee.username, 20_000,
    )  # fmt: skip
    [reward] = client.get("/api/v1/me/rewards", headers=_auth(secret)).get_json()["rewards"]
    assert (reward["kind"], reward["amount"], reward["unit"], reward["status"]) == (
        "cash", 5_000, "cents", "approved",
    )  # fmt: skip


def test_one_referrers_token_never_reads_anothers_data(app, client) -> None:
    mine, theirs = rewarded_referral(), rewarded_referral()
    secret = _member_token(mine.referrer)
    referrals = client.get("/api/v1/me/referrals?limit=500", headers=_auth(secret)).get_json()
    rewards = client.get("/api/v1/me/rewards?after=0", headers=_auth(secret)).get_json()
    assert [r["id"] for r in referrals["referrals"]] == [mine.id]
    assert {r["referral_id"] for r in rewards["rewards"]} == {mine.id}
    stats = client.get("/api/v1/me/stats", headers=_auth(secret)).get_json()
    assert stats["sign_ups"] == 1
    # A member token cannot use the marketplace's endpoints, nor the marketplace's /me.
    assert client.get("/api/v1/rewards", headers=_auth(secret)).status_code == 403
    market = tokens.create_token(db.session, "market", ["rewards:read"], utcnow())[1]
    assert client.get("/api/v1/me/stats", headers=_auth(market)).status_code == 403
    assert theirs.id not in [r["id"] for r in referrals["referrals"]]


def test_a_revoked_member_token_stops_at_once(app, client) -> None:
    member = make_user()
    secret = _member_token(member)
    assert client.get("/api/v1/me/stats", headers=_auth(secret)).status_code == 200
    tokens.revoke(db.session, tokens.tokens_of(db.session, member)[0], utcnow())
    assert client.get("/api/v1/me/stats", headers=_auth(secret)).status_code == 401


def test_a_banned_members_token_reads_nothing(app, client) -> None:
    member = make_user()
    secret = _member_token(member)
    member.banned_at = utcnow()
    db.session.commit()
    for path in ("/api/v1/me/stats", "/api/v1/me/referrals", "/api/v1/me/rewards"):
        answer = client.get(path, headers=_auth(secret))
        assert answer.status_code == 403 and "banned" in answer.get_json()["message"]
    member.banned_at = None
    db.session.commit()
    assert client.get("/api/v1/me/stats", headers=_auth(secret)).status_code == 200


def test_members_get_only_read_only_tokens(app) -> None:
    with pytest.raises(tokens.TokenError, match="me:read"):
        tokens.create_token(db.session, "x", ["events:write"], utcnow(), owner=make_user())


@pytest.fixture
def fee_token(app) -> str:
    return tokens.create_token(db.session, "market", ["fees:read"], utcnow())[1]


def test_a_fee_quote_shows_its_arithmetic(app, client, fee_token) -> None:
    client_user = make_user(hires=True)
    client_user.external_id = "C-1"
    freelancer = make_user(hires=False, works=True)
    spend.record_event(db.session, event(client_user, freelancer, 40_000), utcnow())
    response = client.get(
        f"/api/v1/fees/quote?client=C-1&freelancer=id:{freelancer.id}&amount_cents=20000",
        headers=_auth(fee_token),
    )
    assert response.status_code == 200, response.get_json()
    quote = response.get_json()
    assert quote["relationship"] == "standard" and quote["lifetime_billings_cents"] == 40_000
    assert quote["fee_cents"] == 3_000 and quote["freelancer_receives_cents"] == 17_000
    assert [(line["rate_bp"], line["fee_cents_exact"]) for line in quote["lines"]] == [
        (2_000, "2000"),
        (1_000, "1000"),
    ]
    assert quote["arithmetic"][-1] == "Total $30.00, rounded down to whole cents: $30.00"


def test_bring_your_own_quotes_the_flat_rate(app, client, fee_token) -> None:
    client_user, freelancer = make_user(hires=True), make_user(hires=False, works=True)
    db.session.add(
        TalentRelationship(client_id=client_user.id, freelancer_id=freelancer.id, flat_fee_bp=500)
    )
    db.session.flush()
    quote = client.get(
        f"/api/v1/fees/quote?client=id:{client_user.id}&freelancer=id:{freelancer.id}"
        "&amount_cents=10001",
        headers=_auth(fee_token),
    ).get_json()
    assert quote["relationship"] == "bring_your_own" and quote["flat_rate_bp"] == 500
    assert quote["fee_cents"] == 500 and quote["lines"][0]["fee_cents_exact"] == "500.05"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("client=C-1&freelancer=F-1&amount_cents=-5", "amount_cents"),
        ("client=C-1&freelancer=F-1&amount_cents=0", "amount_cents"),
        ("client=C-1&freelancer=F-1&amount_cents=1.5", "amount_cents"),
        ("client=C-1&freelancer=F-1", "amount_cents"),
        ("client=%3Cscript%3E&freelancer=F-1&amount_cents=5", "client"),
        ("client=id:999999&freelancer=F-1&amount_cents=5", "client"),
        # Beyond INTEGER: PostgreSQL answered "integer out of range" (a 500).
        ("client=C-1&freelancer=id:9999999999&amount_cents=5", "freelancer"),
        # Unknown parameters are refused, not ignored (a typo would quote something else).
        ("client=C-1&freelancer=F-1&amount_cents=5&amount=7", "amount"),
    ],
)
def test_bad_quote_requests_are_refused_by_field(app, client, fee_token, query, field) -> None:
    response = client.get(f"/api/v1/fees/quote?{query}", headers=_auth(fee_token))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["query"]


def test_quotes_need_the_fees_scope(app, client) -> None:
    narrow = tokens.create_token(db.session, "narrow", ["rewards:read"], utcnow())[1]
    url = "/api/v1/fees/quote?client=C&freelancer=F&amount_cents=5"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=_auth(narrow)).status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/me/referrals", "/api/v1/me/rewards"])
def test_unknown_page_parameters_are_refused(app, client, path) -> None:  # noqa: ANN001
    secret = _member_token(make_user())
    response = client.get(f"{path}?limt=5", headers=_auth(secret))
    assert response.status_code == 422
    assert response.get_json()["errors"]["query"] == {"limt": ["Unknown field."]}
