"""Referrers hear of sign-ups and approved rewards through the forum's notifications."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from forum.database import utcnow
from forum.extensions import db
from forum.notifications.models import Notification
from referrals import rewards, spend
from tests.referrals.factories import (
    CASH_AT_100,
    counterparty,
    make_link,
    make_program,
    referrer_for,
    rewarded_referral,
    sign_up,
    spend_event,
)


def _notifications(user_id: int) -> list[Notification]:
    return list(
        db.session.scalars(
            sa.select(Notification)
            .where(Notification.recipient_id == user_id)
            .order_by(Notification.id)
        )
    )


def test_a_referrer_hears_that_someone_signed_up(app) -> None:
    program = make_program()
    referrer = referrer_for(program)
    link = make_link(program, referrer, code="hello")
    db.session.commit()
    visitor = app.test_client()
    visitor.environ_base.update({"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "Mozilla/5.0"})
    visitor.get(f"/r/{link.code}")
    assert sign_up(visitor, "newbie").status_code == 302
    [notice] = _notifications(referrer.id)
    assert notice.kind == "referral_signed_up"
    assert notice.detail == "newbie signed up through your link."
    assert notice.link.startswith("/referrals/")


def test_a_referrer_hears_of_each_approved_reward_once(app) -> None:
    referral = rewarded_referral()  # no hold: approved at once
    [notice] = [n for n in _notifications(referral.referrer_id) if n.kind == "reward_approved"]
    assert notice.detail == "Your reward is approved: $50.00 cash."
    held = rewarded_referral(make_program(tiers=CASH_AT_100, hold_days=30))
    assert [n.kind for n in _notifications(held.referrer_id)] == []
    rewards.approve_due(db.session, utcnow() + timedelta(days=31))
    rewards.approve_due(db.session, utcnow() + timedelta(days=32))
    assert [n.kind for n in _notifications(held.referrer_id)] == ["reward_approved"]
    spend.record_event(db.session, spend_event(held, counterparty(held), 1), utcnow())
    assert len(_notifications(held.referrer_id)) == 1
