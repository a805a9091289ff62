"""A batch that waits for its referral's lock still counts for it (PostgreSQL).

A batch's first statement locks the referrals its events may count for
(``spend_statements._concerned``). When it has to wait for a lock, PostgreSQL then re-checks
the referral's newest version against the statement by running the statement's plan again
for that one row (EvalPlanQual, under READ COMMITTED). When the locking query found the
referrals through a semi-join on the members a batch names (``referee_id IN (SELECT … UNION
ALL SELECT …)``) and the planner ran that semi-join as a join on the distinct members (a
HashAggregate), the re-check lost the row for some referrals: the lock was taken, the
referral not returned, and the batch stored its events without counting them. ``make
stress`` saw it as a referral's totals short of its stored events by whole batches.

The planner makes that choice on tables of a realistic size; here it is made to, with hash
joins off for the waiting transaction, on a few referrals (whether the row was lost depended
on the referral).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.database import utcnow
from forum.extensions import db
from referrals import spend
from referrals.models import EventKind, Referral, SpendEvent
from referrals.programs import TierSpec
from referrals.spend import EventIn, Party
from tests.referrals.factories import counterparty, make_program, make_referral

pytestmark = [pytest.mark.databases("postgresql"), pytest.mark.concurrency]

TIERS = (TierSpec(50_000, "cash", 1_000), TierSpec(100_000, "credit", 5_000))
REFERRALS = 8
# Members and referrals besides the test's own, so that referrals are read by their
# referee index, as on a database in use.
OTHERS = 1_500
EVENTS = 3


def _batch(prefix: str, number: int) -> list[EventIn]:
    at = utcnow()
    return [
        EventIn(f"{prefix}-{number}-{n}", at, EventKind.PAYMENT, Party(external_id=f"C-{number}"),
                Party(external_id=f"F-{number}"), 1_000, "USD")
        for n in range(EVENTS)
    ]  # fmt: skip


def _add_others(template_referral_id: int) -> None:
    """Add OTHERS members, each the referee of a referral like the template's."""
    connection = db.session.connection()
    connection.execute(
        sa.text(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, role,"
            " hires, works, created_at, session_generation, top_rated, post_count,"
            " kudos_received, external_id)"
            " SELECT 'other' || n, 'other' || n, 'other' || n || '@example.test',"
            " 'other' || n || '@example.test', u.password_hash, u.role, u.hires, u.works,"
            " u.created_at, u.session_generation, u.top_rated, 0, 0, 'other-' || n"
            " FROM users u, generate_series(1, :count) AS n"
            " WHERE u.id = (SELECT referee_id FROM referrals WHERE id = :template)"
        ),
        {"count": OTHERS, "template": template_referral_id},
    )
    connection.execute(
        sa.text(
            "INSERT INTO referrals (program_id, referrer_id, referee_id, link_id, clicked_at,"
            " created_at, review_status, review_reasons, net_cents, share_base_cents,"
            " share_accrued_cents, rewarded_cents, event_count, blocked_tier_ids)"
            " SELECT r.program_id, r.referrer_id, u.id, r.link_id, r.clicked_at, r.created_at,"
            " r.review_status, r.review_reasons, 0, 0, 0, 0, 0, r.blocked_tier_ids"
            " FROM referrals r, users u WHERE r.id = :template AND u.username LIKE 'other%'"
        ),
        {"template": template_referral_id},
    )
    db.session.commit()
    db.session.connection().execute(sa.text("ANALYZE"))
    db.session.commit()


def _wait_until_waiting(backend_pid: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with db.engine.connect() as connection:
            waiting = connection.execute(
                sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": backend_pid},
            ).scalar()
        if waiting == "Lock":
            return
        time.sleep(0.01)
    raise AssertionError("the second batch never waited for the referral's lock")


def test_a_batch_that_waited_for_the_referrals_lock_counts_for_it(committed_app) -> None:
    program = make_program(tiers=TIERS)
    referral_ids = []
    for number in range(REFERRALS):
        referral = make_referral(program, clicked=utcnow() - timedelta(hours=1))
        referral.referee.external_id = f"C-{number}"
        counterparty(referral).external_id = f"F-{number}"
        db.session.flush()
        referral_ids.append(referral.id)
    db.session.commit()
    _add_others(referral_ids[0])

    uncounted = []
    for number in range(REFERRALS):
        holder = Session(db.engine)
        spend.record_batch(holder, _batch("first", number), utcnow())  # holds the lock
        waiter = Session(db.engine)
        waiter.execute(sa.text("SET LOCAL enable_hashjoin = off"))
        pid = waiter.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        outcomes: list[spend.Outcome] = []

        def record(
            waiter: Session = waiter, number: int = number, outcomes: list = outcomes
        ) -> None:
            with committed_app.app_context():
                outcomes.extend(spend.record_batch(waiter, _batch("second", number), utcnow()))
                waiter.commit()

        thread = threading.Thread(target=record)
        thread.start()
        _wait_until_waiting(pid)
        holder.commit()
        thread.join(timeout=30)
        holder.close()
        waiter.close()
        assert len(outcomes) == EVENTS, "the waiting batch did not finish"
        if not all(outcome.attributed for outcome in outcomes):
            uncounted.append(number)
    assert uncounted == []

    db.session.remove()
    for number, referral_id in enumerate(referral_ids):
        stored = db.session.execute(
            sa.select(
                sa.func.count(), sa.func.coalesce(sa.func.sum(SpendEvent.amount_cents), 0)
            ).where(SpendEvent.event_id.like(f"%-{number}-%"))
        ).one()
        totals = db.session.get(Referral, referral_id)
        assert (totals.event_count, totals.net_cents) == tuple(stored)
        assert tuple(stored) == (2 * EVENTS, 2 * EVENTS * 1_000)
