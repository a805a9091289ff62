"""Rewards: exactly one per reached tier, held, reversed by refunds during the hold, approved,
fulfilled, reversed by admins; caps; revenue share."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from forum.database import utcnow
from forum.extensions import db
from referrals import rewards, spend, tiers
from referrals.models import (
    MONEY_KINDS,
    EventKind,
    Referral,
    ReferrerTotal,
    Reward,
    RewardKind,
    RewardStatus,
)
from referrals.programs import TierSpec
from tests.conftest import make_user
from tests.referrals.factories import counterparty, make_program, make_referral, spend_event

REFUND = EventKind.REFUND


def _rewards(referral: Referral) -> list[Reward]:
    return list(
        db.session.scalars(
            sa.select(Reward).where(Reward.referral_id == referral.id).order_by(Reward.id)
        )
    )


def _live(referral: Referral) -> list[Reward]:
    return [r for r in _rewards(referral) if r.is_live]


def _record(referral, other, amount, kind=EventKind.PAYMENT, now=None, **kw):  # noqa: ANN001, ANN202
    outcome = spend.record_event(
        db.session, spend_event(referral, other, amount, kind, **kw), now or utcnow()
    )
    db.session.refresh(referral)
    return outcome


def test_crossing_a_threshold_grants_one_pending_reward(app) -> None:
    referral = make_referral(make_program())
    other = counterparty(referral)
    _record(referral, other, 30_000)
    assert _rewards(referral) == []
    _record(referral, other, 20_000)
    [reward] = _rewards(referral)
    assert (reward.kind, reward.amount, reward.status) == ("credit", 10_000, "pending")
    assert reward.hold_until - reward.created_at == timedelta(days=30)
    _record(referral, other, 50_000)
    assert len(_rewards(referral)) == 1
    assert referral.net_cents == 100_000 and referral.event_count == 3


def test_refund_during_hold_reverses_and_crossing_again_regrants(app) -> None:
    referral = make_referral(make_program())
    other = counterparty(referral)
    _record(referral, other, 50_000)
    _record(referral, other, 1, REFUND)
    [reversed_reward] = _rewards(referral)
    assert reversed_reward.status == "reversed" and reversed_reward.live_key is None
    assert "below this tier's threshold of $500.00" in reversed_reward.reversal_reason
    assert "$499.99" in reversed_reward.reversal_reason
    _record(referral, other, 1)
    first, second = _rewards(referral)
    assert first.status == "reversed" and second.status == "pending"


def test_refund_after_approval_keeps_the_reward(app) -> None:
    referral = make_referral(make_program())
    other = counterparty(referral)
    _record(referral, other, 50_000)
    assert rewards.approve_due(db.session, utcnow() + timedelta(days=31)) == 1
    _record(referral, other, 50_000, REFUND)
    [reward] = _rewards(referral)
    assert reward.status == "approved"
    _record(referral, other, 60_000)
    assert len(_rewards(referral)) == 1


def test_approve_due_only_after_the_hold(app) -> None:
    referral = make_referral(make_program())
    _record(referral, counterparty(referral), 50_000)
    assert rewards.approve_due(db.session, utcnow() + timedelta(days=29)) == 0
    assert rewards.approve_due(db.session, utcnow() + timedelta(days=30, seconds=1)) == 1
    assert rewards.approve_due(db.session, utcnow() + timedelta(days=60)) == 0
    [reward] = _rewards(referral)
    assert reward.status == "approved" and reward.approved_at is not None


def test_zero_hold_is_approved_at_once(app) -> None:
    program = make_program(tiers=(TierSpec(0, RewardKind.FEE_DISCOUNT, 500),), hold_days=0)
    referral = make_referral(program)
    [reward] = _rewards(referral)
    assert (reward.kind, reward.amount, reward.status) == ("fee_discount", 500, "approved")


def test_several_tiers_in_one_event(app) -> None:
    program = make_program(
        tiers=(TierSpec(1, RewardKind.CONNECTS, 10), TierSpec(100_000, RewardKind.CASH, 5_000))
    )
    referral = make_referral(program)
    _record(referral, counterparty(referral), 100_000)
    assert sorted((r.kind, r.amount) for r in _rewards(referral)) == [
        ("cash", 5000),
        ("connects", 10),
    ]


def test_fulfil_marks_paid_once(app) -> None:
    referral = make_referral(make_program())
    _record(referral, counterparty(referral), 50_000)
    [reward] = _rewards(referral)
    with pytest.raises(rewards.RewardError, match="this one is pending"):
        rewards.fulfil(db.session, reward.id, "marketplace", utcnow())
    rewards.approve_due(db.session, utcnow() + timedelta(days=31))
    paid = rewards.fulfil(db.session, reward.id, "marketplace", utcnow())
    paid_at = paid.paid_at
    again = rewards.fulfil(db.session, reward.id, "someone else", utcnow() + timedelta(hours=1))
    assert (
        again.status == "paid" and again.paid_at == paid_at and again.fulfilled_by == "marketplace"
    )
    with pytest.raises(rewards.RewardNotFound):
        rewards.fulfil(db.session, 999_999, "marketplace", utcnow())


def test_admin_reversal_has_a_reason_and_is_never_regranted(app, admin) -> None:
    referral = make_referral(make_program())
    other = counterparty(referral)
    _record(referral, other, 50_000)
    [reward] = _rewards(referral)
    with pytest.raises(rewards.RewardError, match="reason"):
        rewards.reverse_reward(db.session, reward.id, admin, "  ", utcnow())
    rewards.reverse_reward(db.session, reward.id, admin, "Duplicate account", utcnow())
    db.session.refresh(reward)
    assert reward.status == "reversed" and reward.reversal_reason == "Duplicate account"
    assert reward.reversed_by_id == admin.id
    _record(referral, other, 10_000)
    assert len(_rewards(referral)) == 1
    with pytest.raises(rewards.RewardError, match="already reversed"):
        rewards.reverse_reward(db.session, reward.id, admin, "again", utcnow())


def test_paid_rewards_cannot_be_reversed(app, admin) -> None:
    referral = make_referral(make_program())
    _record(referral, counterparty(referral), 50_000)
    [reward] = _rewards(referral)
    rewards.approve_due(db.session, utcnow() + timedelta(days=31))
    rewards.fulfil(db.session, reward.id, "marketplace", utcnow())
    with pytest.raises(rewards.RewardError, match="paid"):
        rewards.reverse_reward(db.session, reward.id, admin, "too late", utcnow())


def test_revenue_share_accrues_per_payment_and_reverses_with_refunds(app) -> None:
    program = make_program(
        tiers=(
            TierSpec(10_000, RewardKind.CASH, 2_500),
            TierSpec(0, RewardKind.REVENUE_SHARE, 1_000, share_months=12, share_cap_cents=50_000),
        )
    )
    referral = make_referral(program)
    other = counterparty(referral)
    _record(referral, other, 5_000)  # 10% = 500
    _record(referral, other, 5_005)  # 10% of 10,005 = 1,000 (rounded down)
    shares = [r.amount for r in _rewards(referral) if r.kind == "revenue_share"]
    assert shares == [500, 500]
    assert referral.share_accrued_cents == 1_000
    _record(referral, other, 2_000, REFUND)  # base 8,005 → 800: claw back 200
    shares = [r.amount for r in _rewards(referral) if r.kind == "revenue_share"]
    assert shares == [500, 500, -200]
    cash = [r for r in _rewards(referral) if r.kind == "cash"]
    assert [r.status for r in cash] == ["reversed"]  # net 8,005 < 10,000 during the hold


def test_revenue_share_is_capped_and_ends_after_its_months(app) -> None:
    program = make_program(
        tiers=(
            TierSpec(0, RewardKind.REVENUE_SHARE, 1_000, share_months=12, share_cap_cents=50_000),
        )
    )
    referral = make_referral(program)
    other = counterparty(referral)
    _record(referral, other, 4_000_000)
    assert referral.share_accrued_cents == 50_000
    _record(referral, other, 100_000)
    assert sum(r.amount for r in _live(referral)) == 50_000
    # A payment more than 12 months after sign-up adds nothing to the share base.
    later = utcnow() + timedelta(days=370)
    _record(referral, other, 100_000, occurred_at=later, now=later)
    assert referral.share_base_cents == 4_100_000


def test_referee_cap_limits_money_across_tiers(app) -> None:
    program = make_program(
        tiers=(
            TierSpec(100, RewardKind.CASH, 3_000),
            TierSpec(200, RewardKind.CASH, 3_000),
            TierSpec(300, RewardKind.CONNECTS, 5),
        ),
        referee_cap_cents=5_000,
    )
    referral = make_referral(program)
    _record(referral, counterparty(referral), 1_000)
    assert sorted((r.kind, r.amount) for r in _live(referral)) == [
        ("cash", 2_000),
        ("cash", 3_000),
        ("connects", 5),
    ]
    assert referral.rewarded_cents == 5_000


def test_referrer_cap_across_referees(app) -> None:
    program = make_program(tiers=(TierSpec(100, RewardKind.CASH, 3_000),), referrer_cap_cents=7_000)
    referrer = make_user(hires=True)
    made = [make_referral(program, referrer=referrer) for _ in range(4)]
    other = make_user(works=True, hires=False)
    for referral in made:
        _record(referral, other, 1_000)
    amounts = [r.amount for referral in made for r in _live(referral)]
    assert amounts == [3_000, 3_000, 1_000]
    total = db.session.scalar(
        sa.select(ReferrerTotal).where(ReferrerTotal.referrer_id == referrer.id)
    )
    assert total.rewarded_cents == 7_000


def test_flagged_referral_earns_nothing_until_approved(app, admin) -> None:
    from referrals import attribution

    program = make_program()
    referrer = make_user(hires=True, email="ann.smith@gmail.com")
    referee = make_user(hires=True, email="AnnSmith+second@googlemail.com")
    referral = make_referral(program, referrer=referrer, referee=referee)
    assert referral.review_status == "flagged" and referral.review_reasons == ["same_email"]
    _record(referral, counterparty(referral), 60_000)
    assert _rewards(referral) == [] and referral.net_cents == 60_000
    attribution.review_referral(db.session, referral.id, admin, True, "Spouses, checked", utcnow())
    [reward] = _rewards(referral)
    assert reward.status == "pending"


def test_rejected_referral_is_never_rewarded(app, admin) -> None:
    from referrals import attribution

    program = make_program()
    referrer = make_user(hires=True, email="bo@example.com")
    referee = make_user(hires=True, email="BO@example.com.invalid")
    referral = make_referral(program, referrer=referrer, referee=referee)
    referral.review_status = "flagged"
    attribution.review_referral(db.session, referral.id, admin, False, "", utcnow())
    _record(referral, counterparty(referral), 60_000)
    assert _rewards(referral) == []
    with pytest.raises(attribution.ReviewError):
        attribution.review_referral(db.session, referral.id, admin, True, "", utcnow())


# --- the invariant, over random sequences of payments, refunds and approvals ---------------

THRESHOLDS = (1, 5_000, 20_000)
operation = st.one_of(
    st.tuples(st.just("payment"), st.integers(1, 15_000)),
    st.tuples(st.just("refund"), st.integers(1, 15_000)),
    st.tuples(st.just("approve"), st.just(0)),
    st.tuples(st.just("fulfil"), st.just(0)),
)
caps = st.none() | st.integers(1, 9_000)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    operations=st.lists(operation, min_size=1, max_size=25),
    referee_cap=caps,
    referrer_cap=caps,
)
# A refund that claws back share the cap had kept from a reached tier frees room for it.
@example(
    operations=[("payment", 4_000), ("approve", 0), ("payment", 10_000), ("refund", 1_000)],
    referee_cap=300,
    referrer_cap=None,
)
def test_at_most_one_live_reward_per_tier_exactly_when_reached(
    app, operations, referee_cap, referrer_cap
) -> None:
    savepoint = db.session.begin_nested()
    try:
        _check_invariant_over(operations, referee_cap, referrer_cap)
    finally:
        savepoint.rollback()
        # Examples reuse ids (SQLite hands out rowids again after a rollback): forget the last
        # example's objects, which survive the rollback when they were reloaded after the
        # garbage collector dropped them from the (weak) identity map.
        db.session.expunge_all()


def _check_invariant_over(operations, referee_cap, referrer_cap) -> None:  # noqa: ANN001
    """After every step, for every tier: at most one live reward; one exactly when the net
    amount reaches the threshold or the tier's reward was already approved or paid, unless
    the caps leave nothing to grant (money tiers only); and the caps are never passed."""
    program = make_program(
        tiers=(
            TierSpec(THRESHOLDS[0], RewardKind.CONNECTS, 10),
            TierSpec(THRESHOLDS[1], RewardKind.CASH, 1_000),
            TierSpec(THRESHOLDS[2], RewardKind.CREDIT, 5_000),
            # One month of share: an "approve" step (31 days) ends it, so later payments count
            # toward the thresholds but not the share base, and refunds can claw back share.
            TierSpec(2_000, RewardKind.REVENUE_SHARE, 1_500, share_months=1, share_cap_cents=4_000),
        ),
        referee_cap_cents=referee_cap,
        referrer_cap_cents=referrer_cap,
    )
    referral = make_referral(program)
    other = counterparty(referral)
    clock, paid = utcnow(), 0
    settled: set[int] = set()  # rewards seen approved or paid: they must stay so
    for name, amount in operations:
        if name == "payment":
            _record(referral, other, amount, now=clock, occurred_at=clock)
            paid += amount
        elif name == "refund":
            if amount > paid:
                with pytest.raises(spend.SpendError):
                    _record(referral, other, amount, REFUND, now=clock, occurred_at=clock)
                continue
            _record(referral, other, amount, REFUND, now=clock, occurred_at=clock)
            paid -= amount
        elif name == "approve":
            clock += timedelta(days=31)
            rewards.approve_due(db.session, clock)
        else:
            for reward in _rewards(referral):
                if reward.status == "approved":
                    rewards.fulfil(db.session, reward.id, "test", clock)
        db.session.refresh(referral)
        assert referral.net_cents == paid
        every = _rewards(referral)
        referrer_total = db.session.scalar(
            sa.select(ReferrerTotal.rewarded_cents).where(
                ReferrerTotal.program_id == program.id,
                ReferrerTotal.referrer_id == referral.referrer_id,
            )
        )
        live_money = sum(r.money_cents for r in every if r.is_live)
        assert referral.rewarded_cents == live_money == referrer_total
        assert referee_cap is None or live_money <= referee_cap
        assert referrer_cap is None or live_money <= referrer_cap
        room = min(c - live_money for c in (referee_cap, referrer_cap, 10**12) if c is not None)
        for reward in every:
            if reward.status in (RewardStatus.APPROVED, RewardStatus.PAID):
                settled.add(reward.id)
        for tier in program.tiers:
            if tier.is_revenue_share:
                continue
            live = [r for r in every if r.tier_id == tier.id and r.is_live]
            assert len(live) <= 1, (tier, live)
            kept = any(r.id in settled for r in every if r.tier_id == tier.id)
            if kept:  # an approved or paid reward is never taken back by spend
                assert live and live[0].id in settled, (tier, every)
            elif live:
                assert tiers.reached(tier.threshold_cents, paid), (tier, paid, live)
            elif tiers.reached(tier.threshold_cents, paid):
                capped_out = tier.reward_kind in MONEY_KINDS and room <= 0
                assert capped_out, (tier, paid, room, every)
        share = [r.amount for r in every if r.kind == "revenue_share" and r.is_live]
        assert sum(share) == referral.share_accrued_cents >= 0
        assert referral.share_accrued_cents <= tiers.revenue_share_cents(
            referral.share_base_cents, 2_000, 1_500, 4_000
        )
        if room > 0:  # the share is short of its due only when a cap stopped it
            assert referral.share_accrued_cents == tiers.revenue_share_cents(
                referral.share_base_cents, 2_000, 1_500, 4_000
            )


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    operations=st.lists(
        st.tuples(st.sampled_from(["payment", "refund"]), st.integers(1, 9_000)),
        min_size=1,
        max_size=20,
    ),
    cap=st.integers(1, 8_000),
)
def test_caps_are_never_exceeded(app, operations, cap) -> None:
    savepoint = db.session.begin_nested()
    try:
        program = make_program(
            tiers=(
                TierSpec(1_000, RewardKind.CASH, 2_500),
                TierSpec(6_000, RewardKind.CREDIT, 4_000),
                TierSpec(0, RewardKind.REVENUE_SHARE, 2_000, share_months=12),
            ),
            referee_cap_cents=cap,
        )
        referral = make_referral(program)
        other = counterparty(referral)
        paid = 0
        for name, amount in operations:
            if name == "refund" and amount > paid:
                continue
            _record(referral, other, amount, REFUND if name == "refund" else EventKind.PAYMENT)
            paid += -amount if name == "refund" else amount
            live = _live(referral)
            assert sum(r.money_cents for r in live) == referral.rewarded_cents <= cap
            for tier in program.tiers:
                if not tier.is_revenue_share:
                    assert len([r for r in live if r.tier_id == tier.id]) <= 1
    finally:
        savepoint.rollback()
        # Examples reuse ids (SQLite hands out rowids again after a rollback): forget the last
        # example's objects, which survive the rollback when they were reloaded after the
        # garbage collector dropped them from the (weak) identity map.
        db.session.expunge_all()


def test_room_freed_by_a_revenue_share_claw_back_goes_to_a_reached_tier(app) -> None:
    """A refund that claws back share (capped at the referee cap) frees room; a tier the cap
    held back and that is still reached gets it in the same event, not at some later one."""
    program = make_program(
        tiers=(
            TierSpec(5_000, RewardKind.CASH, 1_000),
            TierSpec(2_000, RewardKind.REVENUE_SHARE, 1_500, share_months=1),
        ),
        referee_cap_cents=300,
    )
    referral = make_referral(program)
    other = counterparty(referral)
    clock = utcnow()
    _record(referral, other, 4_000, now=clock, occurred_at=clock)  # share 300: the cap
    clock += timedelta(days=40)  # the share's month is over
    _record(referral, other, 10_000, now=clock, occurred_at=clock)
    [cash_tier, _share] = program.tiers
    assert [r.kind for r in _live(referral)] == ["revenue_share"]  # capped out
    _record(referral, other, 1_000, REFUND, now=clock, occurred_at=clock)  # share falls to 150
    live = _live(referral)
    assert sum(r.amount for r in live if r.kind == "revenue_share") == 150
    assert [(r.tier_id, r.amount) for r in live if r.kind == "cash"] == [(cash_tier.id, 150)]
    assert referral.rewarded_cents == 300
