"""Members: who may refer where (a live rule, with reasons), and facts from the marketplace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forum.database import utcnow
from forum.extensions import db
from referrals import affiliates, members, spend
from referrals.members import MemberConflict, MemberError, MemberFacts, MemberNotFound
from referrals.models import MemberProfile, ReferrerKind
from tests.conftest import make_user
from tests.referrals.factories import event, make_program


@pytest.mark.parametrize(
    ("kind", "facts", "allowed", "reason"),
    [
        (ReferrerKind.CLIENT, {"hires": True}, True, ""),
        (ReferrerKind.CLIENT, {"hires": False, "works": True}, False, "Only clients"),
        (ReferrerKind.FREELANCER, {"hires": False, "works": True}, True, ""),
        (ReferrerKind.FREELANCER, {"hires": True}, False, "Only freelancers"),
        (ReferrerKind.TOP_RATED_FREELANCER, {"works": True, "top_rated": True}, True, ""),
        (ReferrerKind.TOP_RATED_FREELANCER, {"works": True}, False, "not Top Rated"),
        (
            ReferrerKind.TOP_RATED_FREELANCER,
            {"hires": True, "top_rated": True},
            False,
            "Only freelancers",
        ),
        (ReferrerKind.AFFILIATE, {"affiliate": "approved"}, True, ""),
        (ReferrerKind.AFFILIATE, {"affiliate": "applied"}, False, "approved affiliates"),
        (ReferrerKind.AFFILIATE, {}, False, "approved affiliates"),
        (ReferrerKind.CLIENT, {"hires": True, "banned": True}, False, "banned"),
        (ReferrerKind.CLIENT, {"hires": True, "suspended": True}, False, "suspended"),
    ],
)
def test_who_may_refer(app, kind, facts, allowed, reason) -> None:
    now = utcnow()
    user = make_user(
        hires=facts.get("hires", "works" not in facts), works=facts.get("works", False)
    )
    user.top_rated = facts.get("top_rated", False)
    if facts.get("banned"):
        user.banned_at = now
    if facts.get("suspended"):
        user.suspended_until = now + timedelta(days=1)
    if "affiliate" in facts:
        affiliates.apply(db.session, user, "A newsletter for designers", now)
        if facts["affiliate"] == "approved":
            affiliates.decide(db.session, user, True, None, now)
    result = members.referrer_eligibility(db.session, user, make_program(referrer_kind=kind), now)
    assert result.allowed == allowed and reason in result.reason
    assert bool(result.reason) != allowed


def test_affiliate_applications(app, admin) -> None:
    user = make_user()
    with pytest.raises(affiliates.AffiliateError):
        affiliates.apply(db.session, user, " ", utcnow())
    affiliates.apply(db.session, user, "Podcast for small agencies", utcnow())
    with pytest.raises(affiliates.AffiliateError, match="already applied"):
        affiliates.apply(db.session, user, "again", utcnow())
    decided = affiliates.decide(db.session, user, False, admin, utcnow())
    assert decided.status == "rejected" and decided.decided_by_id == admin.id
    assert affiliates.apply(db.session, user, "Second try", utcnow()).status == "applied"


def _facts(**changes) -> MemberFacts:
    base = {
        "client": True,
        "freelancer": True,
        "top_rated": False,
        "email": None,
        "email_verified": False,
        "categories": None,
    }
    return MemberFacts(**{**base, **changes})


def test_first_link_by_verified_email_then_by_id(app) -> None:
    user = make_user("dana", hires=True, works=False)
    with pytest.raises(MemberError) as caught:
        members.set_member_facts(db.session, "M-1", _facts(), utcnow())
    assert caught.value.field == "email"
    with pytest.raises(MemberError) as caught:
        members.set_member_facts(db.session, "M-1", _facts(email="dana@example.com"), utcnow())
    assert caught.value.field == "email_verified"
    linked = members.set_member_facts(
        db.session,
        "M-1",
        _facts(
            email="DANA@example.com",
            email_verified=True,
            top_rated=True,
            categories=("Web design", " Web  design ", "Copywriting"),
        ),
        utcnow(),
    )
    assert linked == user and user.external_id == "M-1" and user.top_rated and user.works
    assert db.session.get(MemberProfile, user.id).categories == ["Web design", "Copywriting"]
    members.set_member_facts(db.session, "M-1", _facts(freelancer=True, client=False), utcnow())
    assert (user.hires, user.works, user.top_rated) == (False, True, False)
    assert members.categories_of(db.session, user) == ["Web design", "Copywriting"]


def test_linking_problems(app) -> None:
    make_user("erin")
    linked = make_user("fay")
    linked.external_id = "M-9"
    nobody = _facts(email="nobody@example.com", email_verified=True)
    with pytest.raises(MemberNotFound):
        members.set_member_facts(db.session, "M-2", nobody, utcnow())
    fay = _facts(email="fay@example.com", email_verified=True)
    with pytest.raises(MemberConflict):
        members.set_member_facts(db.session, "M-3", fay, utcnow())
    with pytest.raises(MemberError) as caught:
        members.set_member_facts(
            db.session, "M-9", _facts(top_rated=True, freelancer=False), utcnow()
        )
    assert caught.value.field == "top_rated"
    with pytest.raises(MemberError) as caught:
        members.set_member_facts(db.session, "bad id!", _facts(), utcnow())
    assert caught.value.field == "external_id"
    with pytest.raises(MemberError) as caught:
        members.set_member_facts(db.session, "M-9", _facts(categories=("",)), utcnow())
    assert caught.value.field == "categories.0"


def test_linking_adopts_what_was_paid_under_the_marketplace_id(app) -> None:
    client = make_user("gus", hires=True)
    freelancer = make_user(hires=False, works=True)
    spend.record_event(db.session, event("M-gus", freelancer, 5_000), utcnow())
    gus = _facts(email="gus@example.com", email_verified=True)
    members.set_member_facts(db.session, "M-gus", gus, utcnow())
    # The refund names the client by Townhall id now; it is checked against the earlier payment.
    spend.record_event(db.session, event(client, freelancer, 5_000, kind="refund"), utcnow())
    with pytest.raises(spend.SpendError):
        spend.record_event(db.session, event(client, freelancer, 1, kind="refund"), utcnow())
