"""Payout batches: approved cash rewards, one batch per reward, exported and marked paid."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from forum.accounts.models import Role
from forum.database import utcnow
from forum.extensions import db
from referrals import payouts, rewards
from referrals.models import Reward, RewardKind, RewardStatus
from referrals.programs import TierSpec
from referrals.tables import PayoutItem
from tests.conftest import make_user
from tests.referrals.factories import make_program, rewarded_referral


def _reward_of(referral) -> Reward:  # noqa: ANN001
    return db.session.scalar(sa.select(Reward).where(Reward.referral_id == referral.id))


@pytest.fixture
def boss(app):  # noqa: ANN001, ANN201
    return make_user("boss", role=Role.ADMIN)


def test_approved_cash_rewards_are_batched_then_paid(app, boss) -> None:
    first, second = _reward_of(rewarded_referral()), _reward_of(rewarded_referral())
    assert {r.id for r in payouts.payable_rewards(db.session)} >= {first.id, second.id}
    batch = payouts.create_batch(db.session, boss, [first.id, second.id], " May  run ", utcnow())
    assert (batch.total_cents, batch.reward_count, batch.note) == (10_000, 2, "May run")
    assert first.id not in {r.id for r in payouts.payable_rewards(db.session)}
    paid, marked = payouts.mark_paid(db.session, batch.id, boss, utcnow())
    assert paid.status == "paid" and marked == 2
    assert db.session.get(Reward, first.id).status == RewardStatus.PAID
    assert db.session.get(Reward, first.id).fulfilled_by == f"payout batch {batch.id}"
    with pytest.raises(payouts.PayoutError, match="already marked paid"):
        payouts.mark_paid(db.session, batch.id, boss, utcnow())


def test_a_reward_is_never_in_two_batches(app, boss) -> None:
    reward = _reward_of(rewarded_referral())
    payouts.create_batch(db.session, boss, [reward.id], "", utcnow())
    with pytest.raises(payouts.PayoutError, match="already in a payout batch"):
        payouts.create_batch(db.session, boss, [reward.id], "", utcnow())
    # Even code that skips the check cannot do it: the database refuses.
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(PayoutItem(batch_id=1, reward_id=reward.id, amount_cents=1))
        db.session.flush()


def test_only_approved_cash_rewards_can_be_batched(app, boss) -> None:
    pending = _reward_of(
        rewarded_referral(make_program(tiers=(TierSpec(1, RewardKind.CASH, 100),)))
    )
    credit = _reward_of(
        rewarded_referral(make_program(tiers=(TierSpec(1, RewardKind.CREDIT, 100),), hold_days=0))
    )
    for reward in (pending, credit):
        with pytest.raises(payouts.PayoutError, match="only approved cash rewards"):
            payouts.create_batch(db.session, boss, [reward.id], "", utcnow())
    with pytest.raises(payouts.PayoutError, match="Choose at least one"):
        payouts.create_batch(db.session, boss, [], "", utcnow())
    with pytest.raises(payouts.PayoutError, match="no reward #999999"):
        payouts.create_batch(db.session, boss, [999_999], "", utcnow())


def test_a_reward_reversed_after_batching_is_not_paid(app, boss) -> None:
    kept, dropped = _reward_of(rewarded_referral()), _reward_of(rewarded_referral())
    batch = payouts.create_batch(db.session, boss, [kept.id, dropped.id], "", utcnow())
    rewards.reverse_reward(db.session, dropped.id, boss, "Fraud", utcnow())
    _, marked = payouts.mark_paid(db.session, batch.id, boss, utcnow())
    assert marked == 1
    assert db.session.get(Reward, dropped.id).status == RewardStatus.REVERSED
