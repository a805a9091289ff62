"""Spend events: stored once, refunds checked per payer and payee, running totals, unknown
members, and work per event that does not grow with history."""

from __future__ import annotations

import re
from datetime import UTC, timedelta, timezone

import pytest
import sqlalchemy as sa

from forum.database import utcnow
from forum.extensions import db
from referrals import spend
from referrals.models import EventKind, SpendEvent
from tests.conftest import count_queries, make_user
from tests.referrals.factories import (
    counterparty,
    event,
    make_program,
    make_referral,
    spend_event,
)

REFUND = EventKind.REFUND


def _stored() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(SpendEvent))


def test_the_same_event_twice_counts_once_and_answers_the_same(app) -> None:
    referral = make_referral(make_program())
    first_event = spend_event(referral, counterparty(referral), 20_000, event_id="pay-1")
    first = spend.record_event(db.session, first_event, utcnow())
    again = spend.record_event(db.session, first_event, utcnow() + timedelta(seconds=5))
    assert (again.event_id, again.kind, again.attributed, again.recorded_at) == (
        first.event_id,
        first.kind,
        first.attributed,
        first.recorded_at,
    )
    assert (first.replayed, again.replayed) == (False, True)
    db.session.refresh(referral)
    assert referral.net_cents == 20_000 and referral.event_count == 1 and _stored() == 1


def test_the_same_instant_in_another_offset_is_the_same_event(app) -> None:
    payer, payee = make_user(), make_user(hires=False, works=True)
    at = utcnow().replace(microsecond=0)
    utc = event(payer, payee, 500, event_id="tz-1", occurred_at=at)
    paris = event(
        payer, payee, 500, event_id="tz-1", occurred_at=at.astimezone(timezone(timedelta(hours=1)))
    )
    spend.record_event(db.session, utc, utcnow())
    assert spend.record_event(db.session, paris, utcnow()).replayed


def test_a_different_event_under_a_used_id_is_refused(app) -> None:
    payer, payee = make_user(), make_user(hires=False, works=True)
    spend.record_event(db.session, event(payer, payee, 500, event_id="dup"), utcnow())
    with pytest.raises(spend.EventConflict) as caught:
        spend.record_event(db.session, event(payer, payee, 501, event_id="dup"), utcnow())
    assert caught.value.status == 409 and caught.value.field == "event_id"


def test_refunds_are_checked_per_payer_and_payee(app) -> None:
    client, ann, bob = (
        make_user(),
        make_user(hires=False, works=True),
        make_user(hires=False, works=True),
    )
    spend.record_event(db.session, event(client, ann, 10_000), utcnow())
    spend.record_event(db.session, event(client, bob, 500), utcnow())
    with pytest.raises(spend.SpendError, match=r"\$5\.00") as caught:
        spend.record_event(db.session, event(client, bob, 501, REFUND), utcnow())
    assert caught.value.field == "amount_cents"
    spend.record_event(db.session, event(client, ann, 6_000, REFUND), utcnow())
    spend.record_event(db.session, event(client, ann, 4_000, REFUND), utcnow())
    with pytest.raises(spend.SpendError):
        spend.record_event(db.session, event(client, ann, 1, REFUND), utcnow())
    assert _stored() == 4  # refused refunds store nothing


def test_a_refund_with_no_payment_is_refused(app) -> None:
    with pytest.raises(spend.SpendError, match=r"\$0\.00"):
        spend.record_event(db.session, event("C-1", "F-1", 100, REFUND), utcnow())


def test_events_for_unknown_members_are_accepted_unattributed(app) -> None:
    outcome = spend.record_event(db.session, event("C-unknown", 987_654, 2_500), utcnow())
    assert not outcome.attributed
    stored = db.session.scalar(sa.select(SpendEvent))
    assert (stored.payer_ref, stored.payee_ref, stored.payer_id, stored.payee_id) == (
        "external:C-unknown",
        "id:987654",
        None,
        None,
    )
    spend.record_event(db.session, event("C-unknown", 987_654, 2_500, REFUND), utcnow())


def test_only_the_referees_side_counts(app) -> None:
    client_referral = make_referral(make_program())  # refers a client: their spend counts
    freelancer = make_user(hires=False, works=True)
    outcome = spend.record_event(
        db.session, event(freelancer, client_referral.referee, 999), utcnow()
    )
    assert not outcome.attributed  # the referee was paid here, they did not spend
    spent = event(client_referral.referee, freelancer, 999)
    assert spend.record_event(db.session, spent, utcnow()).attributed
    db.session.refresh(client_referral)
    assert client_referral.net_cents == 999


def test_spend_from_before_the_click_does_not_count(app) -> None:
    referral = make_referral(make_program())
    before = referral.clicked_at - timedelta(days=2)
    outcome = spend.record_event(
        db.session,
        spend_event(referral, counterparty(referral), 60_000, occurred_at=before),
        utcnow(),
    )
    assert not outcome.attributed
    db.session.refresh(referral)
    assert referral.net_cents == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"currency": "EUR"}, "currency"),
        ({"amount_cents": 0}, "amount_cents"),
        ({"amount_cents": -5}, "amount_cents"),
        ({"amount_cents": True}, "amount_cents"),
        ({"amount_cents": spend.MAX_AMOUNT_CENTS + 1}, "amount_cents"),
        ({"occurred_at": utcnow() + timedelta(days=2)}, "occurred_at"),
        ({"occurred_at": utcnow().replace(tzinfo=None)}, "occurred_at"),
    ],
)
def test_unacceptable_events_name_the_field(app, changes, field) -> None:
    import dataclasses

    payer, payee = make_user(), make_user(hires=False, works=True)
    bad = dataclasses.replace(event(payer, payee), **changes)
    with pytest.raises(spend.SpendError) as caught:
        spend.record_event(db.session, bad, utcnow())
    assert caught.value.field == field and _stored() == 0


def test_paying_oneself_is_refused(app) -> None:
    both = make_user(hires=True, works=True)
    both.external_id = "M-both"
    for payee in (both, "M-both"):  # named the same way, or once by each id
        with pytest.raises(spend.SpendError) as caught:
            spend.record_event(db.session, event(both, payee), utcnow())
        assert caught.value.field == "payee"
    assert _stored() == 0


def test_a_batch_with_a_refused_event_reports_every_refusal_by_position(app) -> None:
    payer, payee = make_user(), make_user(hires=False, works=True)
    events = [
        event(payer, payee, 100),
        event(payer, payee, 500, REFUND),
        event(payer, payee, 50),
        event(payer, payee, 100, currency="CAD"),
    ]
    with pytest.raises(spend.BatchRejected) as caught:
        spend.record_batch(db.session, events, utcnow())
    assert sorted(caught.value.errors) == [1, 3]
    assert caught.value.errors[3].field == "currency"


def test_work_per_event_does_not_grow_with_the_referees_history(app) -> None:
    referral = make_referral(make_program())
    other = counterparty(referral)

    def statements_for_one_event() -> int:
        payment = spend_event(referral, other, 10, occurred_at=utcnow().astimezone(UTC))
        with count_queries(prepared=True) as statements:
            spend.record_event(db.session, payment, utcnow())
            db.session.flush()
        # Running totals, not sums: nothing aggregates, and stored events are read only by
        # their ids (SQLite reads a batch's new rows back as those above the largest id).
        for statement in statements:
            assert not re.search(r"\b(sum|count|avg)\s*\(", statement, re.IGNORECASE), statement
            if re.search(r"\bFROM spend_events\b", statement):
                assert re.search(
                    r"spend_events\.event_id (IN|= ANY)|max\(spend_events\.id\)"
                    r"|spend_events\.id > ",
                    statement,
                ), statement
        return len(statements)

    statements_for_one_event()  # warm up: first-use lookups are not what this test is about
    early = statements_for_one_event()
    for _ in range(60):
        spend.record_event(db.session, spend_event(referral, other, 10), utcnow())
    assert statements_for_one_event() == early <= 10


def test_a_batch_costs_the_same_queries_whatever_its_size(app) -> None:
    """Events of several referees and unknown members: the batch's queries do not grow with
    the number of events (tiers out of reach, so no reward is made on the way)."""
    program = make_program()
    referrals = [make_referral(program) for _ in range(4)]
    others = [counterparty(r) for r in referrals]

    def statements_for(events_per_referral: int) -> int:
        events = [
            spend_event(referral, other, 1)
            for _ in range(events_per_referral)
            for referral, other in zip(referrals, others, strict=True)
        ]
        events.append(event("C-nobody", "F-nobody", 1))
        with count_queries(prepared=True) as statements:
            outcomes = spend.record_batch(db.session, events, utcnow())
            db.session.flush()
        assert all(o.attributed for o in outcomes[:-1]) and not outcomes[-1].attributed
        return len(statements)

    statements_for(1)  # warm up: first-use lookups are not what this test is about
    assert statements_for(2) == statements_for(25) <= 12


def test_a_batch_repeating_an_event_answers_the_repeat_as_a_replay(app) -> None:
    payer, payee = make_user(), make_user(hires=False, works=True)
    payment = event(payer, payee, 100)
    first, again = spend.record_batch(db.session, [payment, payment], utcnow())
    assert not first.replayed and again.replayed
    assert again.event_id == first.event_id
    assert _stored() == 1
