"""Exactly once under real parallelism: many connections at the same moment, committing.

On PostgreSQL the requests really overlap (row locks and unique constraints decide); on SQLite
the database serializes writers, and the point is that nobody gets a 500.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from forum.database import utcnow
from forum.extensions import db
from referrals import rewards, spend, tokens
from referrals.models import Referral, ReferrerTotal, Reward, SpendEvent
from referrals.programs import TierSpec
from tests.conftest import make_user
from tests.referrals.factories import counterparty, make_program, make_referral, spend_event

pytestmark = pytest.mark.concurrency

PARALLEL = 8


def _in_parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0) … work(count - 1) in threads released together; return results in order
    (an exception is returned in place of its result)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - reported by the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _referral_with_token(tiers: tuple[TierSpec, ...]) -> tuple[int, str]:
    referral = make_referral(make_program(tiers=tiers))
    other = counterparty(referral)
    referral.referee.external_id, other.external_id = "C-par", "F-par"
    _, secret = tokens.create_token(db.session, "parallel", ["events:write"], utcnow())
    db.session.commit()
    return referral.id, secret


def _event(event_id: str, amount: int, payee: str = "F-par") -> dict:
    return {"event_id": event_id, "occurred_at": utcnow().isoformat(), "kind": "payment",
            "payer": {"external_id": "C-par"}, "payee": {"external_id": payee},
            "amount_cents": amount, "currency": "USD"}  # fmt: skip


def _post_all(app, bodies: list[dict], secret: str) -> list[Any]:  # noqa: ANN001
    clients = [app.test_client() for _ in bodies]
    headers = {"Authorization": f"Bearer {secret}"}
    return _in_parallel(
        len(bodies),
        lambda i: clients[i].post("/api/v1/spend-events", json=bodies[i], headers=headers),
    )


def _count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_the_same_event_from_many_connections_is_stored_once(committed_app) -> None:
    referral_id, secret = _referral_with_token((TierSpec(50_000, "cash", 1_000),))
    body = _event("same-moment", 60_000)
    responses = _post_all(committed_app, [body] * PARALLEL, secret)
    assert [getattr(r, "status_code", r) for r in responses] == [200] * PARALLEL
    assert len({r.get_data() for r in responses}) == 1  # every answer is the first answer
    db.session.remove()
    assert _count(SpendEvent) == 1 and _count(Reward) == 1
    referral = db.session.get(Referral, referral_id)
    assert referral.net_cents == 60_000 and referral.event_count == 1


def test_many_events_crossing_a_threshold_together_grant_one_reward(committed_app) -> None:
    referral_id, secret = _referral_with_token((TierSpec(50_000, "cash", 1_000),))
    # Different freelancers: nothing but the referral's own row lock orders these events.
    bodies = [_event(f"part-{n}", 10_000, payee=f"F-{n}") for n in range(PARALLEL)]
    responses = _post_all(committed_app, bodies, secret)
    assert [getattr(r, "status_code", r) for r in responses] == [200] * PARALLEL
    db.session.remove()
    assert _count(SpendEvent) == PARALLEL
    referral = db.session.get(Referral, referral_id)
    assert referral.net_cents == PARALLEL * 10_000 and referral.event_count == PARALLEL
    [reward] = db.session.scalars(sa.select(Reward)).all()
    assert reward.live_key == f"{referral_id}:{reward.tier_id}"


def test_a_referrers_cap_holds_when_their_referees_spend_at_once(committed_app) -> None:
    program = make_program(tiers=(TierSpec(100, "cash", 1_000),), referrer_cap_cents=2_500)
    referrer = make_user(hires=True)
    payee = make_user(hires=False, works=True)
    events = [spend_event(make_referral(program, referrer=referrer), payee, 500)
              for _ in range(PARALLEL // 2)]  # fmt: skip
    db.session.commit()

    def record(index: int) -> spend.Outcome:
        from referrals.transactions import committed

        with committed_app.app_context():
            return committed(lambda: spend.record_event(db.session, events[index], utcnow()))

    outcomes = _in_parallel(len(events), record)
    assert all(isinstance(o, spend.Outcome) and o.attributed for o in outcomes), outcomes
    db.session.remove()
    amounts = sorted(db.session.scalars(sa.select(Reward.amount)))
    assert amounts == [500, 1_000, 1_000]  # the fourth referee found the cap reached
    assert db.session.scalar(sa.select(ReferrerTotal.rewarded_cents)) == 2_500


def test_approve_due_from_several_workers_approves_each_reward_once(committed_app) -> None:
    program = make_program(tiers=(TierSpec(0, "connects", 5),))
    for _ in range(6):
        make_referral(program)
    db.session.commit()
    later = utcnow() + timedelta(days=31)

    def approve(_: int) -> int:
        from referrals.transactions import committed

        with committed_app.app_context():
            return committed(lambda: rewards.approve_due(db.session, later))

    counts = _in_parallel(4, approve)
    assert all(isinstance(c, int) for c in counts), counts
    assert sum(counts) == 6
    db.session.remove()
    statuses = db.session.scalars(sa.select(Reward.status)).all()
    assert statuses == ["approved"] * 6


def test_admins_batching_the_same_reward_at_once_make_one_batch(committed_app) -> None:
    from forum.accounts.models import Role
    from referrals.tables import PayoutBatch, PayoutItem
    from tests.conftest import Browser
    from tests.referrals.factories import rewarded_referral

    referral = rewarded_referral()
    reward_id = db.session.scalar(sa.select(Reward.id).where(Reward.referral_id == referral.id))
    admins = [make_user(role=Role.ADMIN) for _ in range(4)]
    db.session.commit()
    browsers = [Browser(committed_app.test_client()).sign_in(admin) for admin in admins]
    for browser in browsers:
        browser.token()
    responses = _in_parallel(
        len(browsers),
        lambda i: browsers[i].post("/admin/referrals/payouts", {"rewards": [str(reward_id)]}),
    )
    statuses = sorted(getattr(r, "status_code", r) for r in responses)
    assert statuses == [302, 422, 422, 422], statuses
    db.session.remove()
    assert _count(PayoutBatch) == 1 and _count(PayoutItem) == 1


def test_a_double_submitted_invitation_is_sent_once(committed_app) -> None:
    from forum.outbox import OutboxEmail
    from referrals.tables import Invitation
    from tests.conftest import Browser

    client = make_user(hires=True)
    db.session.commit()
    browsers = [Browser(committed_app.test_client()).sign_in(client) for _ in range(4)]
    for browser in browsers:
        browser.token()
    form = {
        "talent-first_name": "Dana",
        "talent-last_name": "Scully",
        "talent-email": "dana@example.com",
        "talent-purpose": "offer",
    }
    responses = _in_parallel(
        len(browsers), lambda i: browsers[i].post("/referrals/talent/invite/talent", form)
    )
    statuses = sorted(getattr(r, "status_code", r) for r in responses)
    assert statuses == [302, 422, 422, 422], statuses
    db.session.remove()
    assert _count(Invitation) == 1 and _count(OutboxEmail) == 1
