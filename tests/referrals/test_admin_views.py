"""The referral admin console: who may use it, what each act does, what it refuses, and the
moderation log row every act leaves."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from forum.accounts.models import Role, User
from forum.database import utcnow
from forum.extensions import db
from forum.moderation.models import ModerationAction
from referrals import affiliates, fees, programs
from referrals.models import Affiliate, ApiToken, Program, Referral, Reward
from referrals.tables import PayoutBatch
from tests.conftest import Browser, csrf_token, make_user
from tests.referrals.factories import make_program, make_referral, referrer_for, rewarded_referral

GET_ROUTES = [
    "/admin/referrals/",
    "/admin/referrals/programs",
    "/admin/referrals/programs/{program}",
    "/admin/referrals/fees",
    "/admin/referrals/reviews",
    "/admin/referrals/rewards",
    "/admin/referrals/payouts",
    "/admin/referrals/payouts/{batch}",
    "/admin/referrals/payouts/{batch}.csv",
    "/admin/referrals/affiliates",
    "/admin/referrals/tokens",
    "/admin/referrals/invitations",
]
POST_ROUTES = [
    "/admin/referrals/programs/{program}",
    "/admin/referrals/programs/{program}/tiers/{tier}",
    "/admin/referrals/programs/{program}/deactivate",
    "/admin/referrals/fees",
    "/admin/referrals/reviews/{referral}",
    "/admin/referrals/rewards/{reward}/reverse",
    "/admin/referrals/payouts",
    "/admin/referrals/payouts/{batch}/paid",
    "/admin/referrals/affiliates/{member}",
    "/admin/referrals/tokens",
    "/admin/referrals/tokens/{token}/revoke",
    "/admin/referrals/invitations",
]


@pytest.fixture
def world(app):  # noqa: ANN001, ANN201
    """One of everything the console's routes name."""
    from referrals import payouts, tokens

    boss = make_user("boss", role=Role.ADMIN)
    referral = rewarded_referral()
    reward = db.session.scalar(sa.select(Reward).where(Reward.referral_id == referral.id))
    batch = payouts.create_batch(db.session, boss, [reward.id], "", utcnow())
    applicant = make_user("applicant")
    affiliates.apply(db.session, applicant, "Developers", utcnow())
    token, _ = tokens.create_token(db.session, "market", ["events:write"], utcnow())
    db.session.commit()
    return {
        "boss": boss,
        "program": referral.program_id,
        "tier": referral.program.tiers[0].id,
        "referral": referral.id,
        "reward": reward.id,
        "batch": batch.id,
        "member": applicant.id,
        "token": token.id,
    }


def _log(action: str) -> list[ModerationAction]:
    return list(
        db.session.scalars(
            sa.select(ModerationAction)
            .where(ModerationAction.action == action)
            .order_by(ModerationAction.id)
        )
    )


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 302), (Role.MEMBER, 403), (Role.MODERATOR, 403), (Role.ADMIN, 200)],
)
def test_only_admins_use_the_console(app, world, role, status) -> None:
    browser = Browser(app.test_client())
    if role is None:
        browser._token = csrf_token(browser.client, "/sign-in")
    else:
        browser.sign_in(world["boss"] if role == Role.ADMIN else make_user(role=role))
    for route in GET_ROUTES:
        response = browser.get(route.format(**world))
        assert response.status_code == status, route
        if status == 302:
            assert "/sign-in" in response.location
    if role != Role.ADMIN:
        for route in POST_ROUTES:
            response = browser.post(route.format(**world))
            assert response.status_code == status, route
        assert db.session.scalar(sa.select(sa.func.count(ModerationAction.id))) == 0


@pytest.fixture
def boss(app, world) -> Browser:  # noqa: ANN001
    return Browser(app.test_client()).sign_in(world["boss"])


PROGRAM_FORM = {
    "name": "Client refers client",
    "description": "",
    "attribution_days": "30",
    "hold_days": "14",
    "referrer_cap_cents": "",
    "referee_cap_cents": "",
}


def test_an_admin_edits_a_program_and_the_log_says_what_changed(boss, world) -> None:
    response = boss.post(f"/admin/referrals/programs/{world['program']}", PROGRAM_FORM)
    assert response.status_code == 302
    program = db.session.get(Program, world["program"])
    db.session.refresh(program)
    assert program.hold_days == 14 and program.name == "Client refers client"
    [entry] = _log("edit_program")
    assert "hold_days: 0 → 14" in entry.detail and entry.actor_id == world["boss"].id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hold_days": "400"}, "Use a whole number of days from 0 to 365."),
        ({"hold_days": "-1"}, "Use a whole number of days from 0 to 365."),
        ({"referrer_cap_cents": "-5"}, "Use a whole number of cents, at least 1."),
        ({"attribution_days": "soon"}, "Not a valid integer value."),
        ({"name": ""}, "This field is required."),
    ],
)
def test_bad_program_values_are_refused_and_store_nothing(boss, world, change, message) -> None:
    response = boss.post(
        f"/admin/referrals/programs/{world['program']}", {**PROGRAM_FORM, **change}
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    program = db.session.get(Program, world["program"])
    db.session.refresh(program)
    assert program.hold_days == 0 and _log("edit_program") == []


def test_tiers_are_edited_and_must_keep_increasing(app, boss) -> None:
    programs.setup_default_programs(db.session, utcnow())
    program = programs.program_by_slug(db.session, "freelancer-refers-freelancer")
    db.session.commit()
    second = program.tiers[1]
    url = f"/admin/referrals/programs/{program.id}/tiers/{second.id}"
    prefix = f"tier{second.id}-"
    bad = boss.post(url, {prefix + "threshold_cents": "0", prefix + "reward_amount": "5000"})
    assert bad.status_code == 422
    assert "higher than the one before it" in bad.get_data(as_text=True)
    negative = boss.post(
        url, {prefix + "threshold_cents": "200000", prefix + "reward_amount": "-1"}
    )
    assert negative.status_code == 422
    assert "at least 1" in negative.get_data(as_text=True)
    good = boss.post(url, {prefix + "threshold_cents": "200000", prefix + "reward_amount": "7500"})
    assert good.status_code == 302
    db.session.refresh(second)
    assert (second.threshold_cents, second.reward_amount) == (200_000, 7_500)
    assert len(_log("edit_tier")) == 1


def test_a_program_is_deactivated_and_activated(boss, world) -> None:
    url = f"/admin/referrals/programs/{world['program']}"
    assert boss.post(url + "/deactivate").status_code == 302
    program = db.session.get(Program, world["program"])
    db.session.refresh(program)
    assert not program.is_running(utcnow())
    assert boss.post(url + "/activate").status_code == 302
    db.session.refresh(program)
    assert program.is_running(utcnow())
    assert [len(_log("deactivate_program")), len(_log("activate_program"))] == [1, 1]


def test_fee_bands_are_edited_with_validation(boss, world) -> None:
    bad = boss.post("/admin/referrals/fees", {"bands": "0 2000\n50000 1000\n40000 500"})
    assert bad.status_code == 422
    assert "Band 3: Each threshold must be higher" in bad.get_data(as_text=True)
    garbled = boss.post("/admin/referrals/fees", {"bands": "0 twenty"})
    assert "Line 1: write two whole numbers" in garbled.get_data(as_text=True)
    assert fees.current_bands(db.session) == fees.DEFAULT_BANDS
    good = boss.post("/admin/referrals/fees", {"bands": "0 1500\n100000 800"})
    assert good.status_code == 302
    assert fees.current_bands(db.session) == (fees.FeeBand(0, 1500), fees.FeeBand(100_000, 800))
    assert "from $1,000.00: 8%" in _log("edit_fees")[0].detail


def test_the_review_queue_shows_evidence_and_decides_with_a_reason(app, boss) -> None:
    program = make_program()
    referrer = referrer_for(program)
    referee = make_user(hires=True)
    referee.email = referrer.email.upper()
    referral = make_referral(program, referrer, referee)
    db.session.commit()
    page = boss.get("/admin/referrals/reviews").get_data(as_text=True)
    assert f"Referral {referral.id}" in page and "The email is the referrer&#39;s own" in page
    assert referrer.email.lower() in page
    url = f"/admin/referrals/reviews/{referral.id}"
    missing = boss.post(url, {f"r{referral.id}-decision": "approve", f"r{referral.id}-note": ""})
    assert missing.status_code == 422 and "Give a reason" in missing.get_data(as_text=True)
    done = boss.post(url, {f"r{referral.id}-decision": "reject", f"r{referral.id}-note": "Same"})
    assert done.status_code == 302
    db.session.refresh(referral)
    assert referral.review_status == "rejected" and referral.review_note == "Same"
    [entry] = _log("review_referral")
    assert entry.target_user_id == referrer.id and entry.reason == "Same"


def test_rewards_are_filtered(boss, world) -> None:
    other = rewarded_referral()
    db.session.commit()
    name = other.referrer.username
    page = boss.get(f"/admin/referrals/rewards?referrer={name}").get_data(as_text=True)
    assert f"{name} →" in page and f"{world['boss'].username} →" not in page
    assert (
        boss.get("/admin/referrals/rewards?status=paid").get_data(as_text=True).count('id="reward-')
        == 0
    )
    unknown = boss.get("/admin/referrals/rewards?referrer=nobody-at-all")
    assert unknown.status_code == 422 and "No member has that username." in unknown.get_data(
        as_text=True
    )
    dates = boss.get("/admin/referrals/rewards?since=2026-05-02&until=2026-05-01")
    assert "The end date must be after the start date." in dates.get_data(as_text=True)
    assert boss.get("/admin/referrals/rewards?since=yesterday").status_code == 422


def test_a_reward_is_reversed_with_a_reason(boss, world) -> None:
    other = rewarded_referral()
    db.session.commit()
    reward = db.session.scalar(sa.select(Reward).where(Reward.referral_id == other.id))
    url = f"/admin/referrals/rewards/{reward.id}/reverse"
    assert boss.post(url, {"reason": ""}).status_code == 422
    assert boss.post(url, {"reason": "Card was stolen"}).status_code == 302
    db.session.refresh(reward)
    assert reward.status == "reversed" and reward.reversal_reason == "Card was stolen"
    assert _log("reverse_reward")[0].target_user_id == other.referrer_id
    again = boss.post(url, {"reason": "Twice"})
    assert again.status_code == 409 and "already reversed" in again.get_data(as_text=True)


def test_a_reward_in_an_open_batch_is_not_reversed(boss, world) -> None:
    url = f"/admin/referrals/rewards/{world['reward']}/reverse"
    response = boss.post(url, {"reason": "Oops"})
    assert response.status_code == 409 and "open payout batch" in response.get_data(as_text=True)
    assert db.session.get(Reward, world["reward"]).status == "approved"


def test_payouts_are_batched_exported_and_paid(boss, world) -> None:
    first, second = rewarded_referral(), rewarded_referral()
    db.session.commit()
    ids = [
        db.session.scalar(sa.select(Reward.id).where(Reward.referral_id == r.id))
        for r in (first, second)
    ]
    page = boss.get("/admin/referrals/payouts").get_data(as_text=True)
    assert all(f'value="{i}"' in page for i in ids)
    created = boss.post("/admin/referrals/payouts", {"rewards": [str(i) for i in ids]})
    assert created.status_code == 302
    batch = db.session.scalar(sa.select(PayoutBatch).order_by(PayoutBatch.id.desc()))
    assert batch.reward_count == 2 and batch.total_cents == 10_000
    again = boss.post("/admin/referrals/payouts", {"rewards": [str(ids[0])]})
    assert again.status_code == 422 and "already in a payout batch" in again.get_data(as_text=True)
    exported = boss.get(f"/admin/referrals/payouts/{batch.id}.csv")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {row["referrer"] for row in rows} == {first.referrer.username, second.referrer.username}
    assert boss.post(f"/admin/referrals/payouts/{batch.id}/paid").status_code == 302
    assert {db.session.get(Reward, i).status for i in ids} == {"paid"}
    assert len(_log("create_payout")) == 1 and len(_log("pay_payout")) == 1
    assert boss.post("/admin/referrals/payouts", {}).status_code == 422


def test_affiliates_are_approved_with_a_badge_or_declined_with_a_note(app, boss, world) -> None:
    url = f"/admin/referrals/affiliates/{world['member']}"
    prefix = f"a{world['member']}-"
    assert boss.post(url, {prefix + "decision": "approve"}).status_code == 422
    assert (
        boss.post(url, {prefix + "decision": "approve", prefix + "note": "Welcome"}).status_code
        == 302
    )
    member = db.session.get(User, world["member"])
    db.session.refresh(member)
    assert "Affiliate" in member.badges
    profile = Browser(app.test_client()).get(f"/u/{member.username}").get_data(as_text=True)
    assert "badge-affiliate" in profile
    assert (
        boss.post(url, {prefix + "decision": "reject", prefix + "note": "Spam"}).status_code == 302
    )
    db.session.refresh(member)
    assert "Affiliate" not in member.badges
    record = db.session.scalar(sa.select(Affiliate).where(Affiliate.user_id == member.id))
    assert record.decision_note == "Spam"
    assert [e.detail for e in _log("decide_affiliate")] == [
        "affiliate approved",
        "affiliate declined",
    ]


def test_an_approved_affiliate_gets_the_affiliate_programs_links(app, boss, world) -> None:
    programs.setup_default_programs(db.session, utcnow())
    db.session.commit()
    prefix = f"a{world['member']}-"
    boss.post(
        f"/admin/referrals/affiliates/{world['member']}",
        {prefix + "decision": "approve", prefix + "note": "ok"},
    )
    member = db.session.get(User, world["member"])
    page = Browser(app.test_client()).sign_in(member).get("/referrals/").get_data(as_text=True)
    affiliate_id = programs.program_by_slug(db.session, "affiliate").id
    assert f'<option value="{affiliate_id}">Affiliates</option>' in page


def test_tokens_are_created_once_and_revoked(boss, world) -> None:
    bad = boss.post("/admin/referrals/tokens", {"name": "reports"})
    assert bad.status_code == 422 and "Choose at least one scope." in bad.get_data(as_text=True)
    made = boss.post("/admin/referrals/tokens", {"name": "reports", "scopes": ["fees:read"]})
    assert made.status_code == 200 and "shown only once" in made.get_data(as_text=True)
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == "reports"))
    assert token.scope_set == {"fees:read"}
    assert boss.post(f"/admin/referrals/tokens/{token.id}/revoke").status_code == 302
    db.session.refresh(token)
    assert token.revoked_at is not None
    assert [len(_log("create_token")), len(_log("revoke_token"))] == [1, 1]


def test_the_log_page_shows_console_acts(boss, world) -> None:
    boss.post(f"/admin/referrals/programs/{world['program']}/deactivate")
    page = boss.get("/moderation/log").get_data(as_text=True)
    assert "Deactivate program" in page
    _ = Referral  # the console's acts name referrals in their detail
