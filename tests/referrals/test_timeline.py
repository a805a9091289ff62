"""A referral's timeline as its referrer sees it."""

from __future__ import annotations

import pytest

from forum.database import utcnow
from forum.extensions import db
from referrals import rewards, spend, timeline
from referrals.models import EventKind, RewardKind
from referrals.programs import TierSpec
from tests.conftest import make_user
from tests.referrals.factories import (
    counterparty,
    make_program,
    make_referral,
    referrer_for,
    spend_event,
)

TWO_TIERS = (TierSpec(10_000, RewardKind.CASH, 2_500), TierSpec(50_000, RewardKind.CASH, 5_000))


def test_clicked_signed_up_and_progress_toward_each_tier(app) -> None:
    referral = make_referral(make_program(tiers=TWO_TIERS))
    other = counterparty(referral)
    spend.record_event(db.session, spend_event(referral, other, 20_000), utcnow())
    found = timeline.timeline(db.session, referral.referrer, referral.id)
    assert [s.title for s in found.steps][:2] == [
        "Clicked your link",
        f"Signed up as {referral.referee.username}",
    ]
    assert "Reward earned: $25.00 cash" in [s.title for s in found.steps]
    first, second = found.progress
    assert (first.percent, first.text, first.status) == (100, "$100.00 of $100.00", "pending")
    assert (second.percent, second.text, second.status) == (40, "$200.00 of $500.00", None)
    assert found.review_notice == ""


def test_a_reversed_reward_says_when_and_why(app) -> None:
    referral = make_referral(make_program(tiers=TWO_TIERS, hold_days=0))
    other = counterparty(referral)
    spend.record_event(db.session, spend_event(referral, other, 10_000), utcnow())
    reward = rewards.rewards_page(db.session)[-1]
    rewards.reverse_reward(db.session, reward.id, make_user(), "Duplicate account", utcnow())
    found = timeline.timeline(db.session, referral.referrer, referral.id)
    reversed_step = next(s for s in found.steps if s.title.startswith("Reward reversed"))
    assert reversed_step.detail == "Duplicate account" and reversed_step.state == "stopped"
    assert found.progress[0].status == "blocked"


def test_a_refund_during_the_hold_reverses_with_the_engine_reason(app) -> None:
    referral = make_referral(make_program(tiers=TWO_TIERS))
    other = counterparty(referral)
    spend.record_event(db.session, spend_event(referral, other, 10_000), utcnow())
    spend.record_event(db.session, spend_event(referral, other, 5_000, EventKind.REFUND), utcnow())
    found = timeline.timeline(db.session, referral.referrer, referral.id)
    step = next(s for s in found.steps if s.title.startswith("Reward reversed"))
    assert "A refund took the referee's net amount to $50.00" in step.detail


def test_a_flagged_referral_says_it_is_under_review_and_why(app) -> None:
    program = make_program()
    referrer = referrer_for(program)
    referee = make_user(hires=True, email=referrer.email.replace("@", "+alt@"))
    referee.email = referrer.email  # the same mailbox
    referral = make_referral(program, referrer, referee)
    found = timeline.timeline(db.session, referrer, referral.id)
    assert found.review_notice.startswith("Under review:")
    assert found.review_reasons == ["The new member's email address looks like one of yours."]
    assert "Held for review" in [s.title for s in found.steps]


def test_someone_elses_referral_is_not_found_like_a_missing_one(app) -> None:
    referral = make_referral(make_program())
    with pytest.raises(timeline.TimelineNotFound):
        timeline.timeline(db.session, make_user(), referral.id)
    with pytest.raises(timeline.TimelineNotFound):
        timeline.timeline(db.session, referral.referrer, referral.id + 1000)
