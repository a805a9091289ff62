"""Spend events from the marketplace: stored exactly once each, checked against what was paid,
and counted into the running totals of the referrals they concern."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from forum.accounts.models import User
from referrals import rewards, spend_statements, tiers
from referrals.models import (
    EventKind,
    RefereeKind,
    Referral,
    SpendBalance,
)
from referrals.spend_statements import BALANCE_COLUMNS, EVENT_COLUMNS, TOTAL_COLUMNS

MAX_BATCH = 1000
MAX_AMOUNT_CENTS = 10**13  # $100 billion: far beyond any payment, far below 64-bit limits
SUPPORTED_CURRENCIES = frozenset({"USD"})
# The marketplace's clock may run a little ahead of ours; further ahead is a mistake.
FUTURE_TOLERANCE = timedelta(hours=1)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class SpendError(ValueError):
    """An event that cannot be accepted, tied to the field it concerns (HTTP 422).

    Raised before the event changes anything, so the rest of a batch stays consistent.
    """

    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class EventConflict(SpendError):
    """The event id was used before for a different event (HTTP 409)."""

    status = 409


class EventRace(Exception):
    """Another transaction stored the same event id first: roll back and try again (the retry
    then finds the stored event and answers as it did)."""


class BatchRejected(ValueError):
    """Some events of a batch were refused; nothing of the batch may be kept."""

    def __init__(self, errors: dict[int, SpendError]) -> None:
        super().__init__(f"{len(errors)} events refused")
        self.errors = errors


@dataclass(frozen=True)
class Party:
    """A member as an event names them: by Townhall id or by the marketplace's id."""

    user_id: int | None = None
    external_id: str | None = None

    @property
    def ref(self) -> str:
        return f"id:{self.user_id}" if self.user_id is not None else f"external:{self.external_id}"

    def as_json(self) -> dict[str, int | str]:
        if self.user_id is not None:
            return {"id": self.user_id}
        return {"external_id": self.external_id or ""}


@dataclass(frozen=True)
class EventIn:
    event_id: str
    occurred_at: datetime
    kind: EventKind
    payer: Party
    payee: Party
    amount_cents: int
    currency: str

    def canonical_json(self) -> str:
        """Return the event as canonical JSON: equal events give equal text."""
        return json.dumps(
            {
                "event_id": self.event_id,
                "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
                "kind": EventKind(self.kind).value,
                "payer": self.payer.as_json(),
                "payee": self.payee.as_json(),
                "amount_cents": self.amount_cents,
                "currency": self.currency,
            },
            sort_keys=True,
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class Outcome:
    """What recording an event did; the same every time the same event is sent."""

    event_id: str
    kind: str
    attributed: bool
    recorded_at: datetime
    replayed: bool = False


def body_hash(event: EventIn) -> str:
    return hashlib.sha256(event.canonical_json().encode()).hexdigest()


def check_event(event: EventIn, now: datetime) -> None:
    """Raise SpendError naming the field of an event that cannot be accepted."""
    if event.currency not in SUPPORTED_CURRENCIES:
        raise SpendError("currency", "Only USD is supported for now.")
    amount = event.amount_cents
    if (
        isinstance(amount, bool)
        or not isinstance(amount, int)
        or not 0 < amount <= MAX_AMOUNT_CENTS
    ):
        raise SpendError("amount_cents", "Use a positive whole number of cents.")
    if event.occurred_at.tzinfo is None:
        raise SpendError("occurred_at", "Give the time with its UTC offset.")
    if event.occurred_at > now + FUTURE_TOLERANCE:
        raise SpendError("occurred_at", "This time is in the future.")
    if event.occurred_at < EARLIEST:
        raise SpendError("occurred_at", "This time is before the year 2000.")
    if event.payer == event.payee:
        raise SpendError("payee", "The payer and the payee are the same member.")


def _balance_key(party: Party, user: User | None) -> str:
    if user is not None:
        return f"user:{user.id}"
    if party.user_id is not None:
        return f"user:{party.user_id}"
    return f"external:{party.external_id}"


def _count(referral: Referral, event: EventIn) -> None:
    """Add the event to the referral's running totals.

    The new totals are set as the referral's loaded values, not as ORM changes: a batch
    writes the totals of all its referrals in one statement (``_write_totals``) instead of
    the unit of work comparing every referral's attributes at the flush.
    """
    amount = event.amount_cents
    net, share_base = referral.net_cents, referral.share_base_cents
    share_tier = next((t for t in referral.program.tiers if t.is_revenue_share), None)
    if event.kind == EventKind.PAYMENT:
        net += amount
        if (
            share_tier is not None
            and share_tier.share_months is not None
            and (event.occurred_at < tiers.add_months(referral.created_at, share_tier.share_months))
        ):
            share_base += amount
    else:
        net -= amount
        share_base = max(0, share_base - amount)
    last = referral.last_event_at
    if last is None or event.occurred_at > last:
        last = event.occurred_at
    set_committed_value(referral, "net_cents", net)
    set_committed_value(referral, "share_base_cents", share_base)
    set_committed_value(referral, "event_count", referral.event_count + 1)
    set_committed_value(referral, "last_event_at", last)


def _write_totals(session: Session, counted: list[Referral]) -> None:
    """Store the running totals ``_count`` left on the (locked) referrals: one statement."""
    if counted:
        sql = _statements(session)
        rows = [
            {
                "rid": r.id,
                "net": r.net_cents,
                "base": r.share_base_cents,
                "count": r.event_count,
                "last": r.last_event_at,
            }
            for r in sorted(counted, key=lambda r: r.id)
        ]
        session.connection().execute(sql.write_totals, sql.rows(rows, TOTAL_COLUMNS))


def record_event(session: Session, event: EventIn, now: datetime, source: str = "api") -> Outcome:
    """Store the event once and count it into the referrals it concerns; return the outcome.

    Sending the same event again returns the first outcome and changes nothing. Raises
    EventConflict when the id was used for a different event, SpendError when the event cannot
    be accepted (both before changing anything), and EventRace when a parallel transaction
    stored the same id first (the caller rolls back and retries).
    """
    try:
        return record_batch(session, [event], now, source)[0]
    except BatchRejected as rejected:
        raise rejected.errors[0] from None


def _statements(session: Session) -> spend_statements.Statements:
    return spend_statements.for_dialect(session.get_bind().dialect.name)


def _member_ids(session: Session, events: list[EventIn]) -> tuple[set[int], dict[str, int]]:
    """Return the ids among those the events name that are members, and the members the
    events name by marketplace id: two queries for the whole batch."""
    parties = [p for e in events for p in (e.payer, e.payee)]
    ids = {p.user_id for p in parties if p.user_id is not None}
    externals = {p.external_id for p in parties if p.user_id is None and p.external_id}
    known = set(
        session.scalars(_statements(session).known_ids, {"ids": sorted(ids)}) if ids else ()
    )
    by_external: dict[str, int] = {}
    if externals:
        by_external = dict(
            session.execute(
                sa.select(User.external_id, User.id).where(User.external_id.in_(externals))
            ).all()
        )
    return known, by_external


def _balances(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Return what each payer has paid each payee net of refunds, the rows locked (in id
    order) until the transaction ends, so the refunds checked against them stay valid."""
    if not pairs:
        return {}
    rows = session.execute(
        sa.select(
            SpendBalance.payer_key,
            SpendBalance.payee_key,
            SpendBalance.paid_cents,
            SpendBalance.refunded_cents,
        )
        .where(sa.tuple_(SpendBalance.payer_key, SpendBalance.payee_key).in_(sorted(pairs)))
        .order_by(SpendBalance.id)
        .with_for_update()
    ).all()
    return {(a, b): paid - refunded for a, b, paid, refunded in rows}


def _write_balances(session: Session, deltas: dict[tuple[str, str], list[int]]) -> None:
    """Add each pair's payments and refunds of the batch to its running balance."""
    if not deltas:
        return
    sql = _statements(session)
    rows = [
        {"payer_key": a, "payee_key": b, "paid_cents": paid, "refunded_cents": refunded}
        for (a, b), (paid, refunded) in sorted(deltas.items())
    ]
    session.connection().execute(sql.upsert_balances, sql.rows(rows, BALANCE_COLUMNS))


def _concerned_referrals(
    session: Session, payers: set[int], payees: set[int]
) -> tuple[dict[int, Referral], dict[int, Referral]]:
    """Return, locked in id order, the referrals the batch counts for: by payer for programs
    that refer clients, by payee for programs that refer freelancers."""
    if not payers and not payees:
        return {}, {}
    referrals = session.scalars(
        _statements(session).concerned_referrals,
        {"payers": sorted(payers), "payees": sorted(payees)},
        execution_options={"populate_existing": True},
    ).all()
    programs = {r.program.id: r.program for r in referrals}
    by_program: dict[int, list] = {program_id: [] for program_id in programs}
    if programs:
        for tier in session.scalars(_statements(session).tiers, {"programs": sorted(programs)}):
            by_program[tier.program_id].append(tier)
    for program_id, program in programs.items():
        set_committed_value(program, "tiers", by_program[program_id])
    kinds = {r.id: r.program.referee_kind for r in referrals}
    by_payer = {r.referee_id: r for r in referrals if kinds[r.id] == RefereeKind.CLIENT.value}
    by_payee = {r.referee_id: r for r in referrals if kinds[r.id] == RefereeKind.FREELANCER.value}
    return by_payer, by_payee


def record_batch(
    session: Session, events: list[EventIn], now: datetime, source: str = "api"
) -> list[Outcome]:
    """Record the events in order and return their outcomes.

    Raises BatchRejected with every refused event's error (by position) when any is refused:
    the caller must then roll back, so that none of the batch is kept. Raises EventRace like
    ``record_event``.

    A fixed number of queries for the whole batch (stored ids, members, balances, one insert
    of the new events, the referrals locked once), plus the rewards of referrals whose tiers
    the events reach: the same outcome, event by event, as recording them one at a time.
    """
    errors: dict[int, SpendError] = {}
    digests: dict[int, str] = {}
    for position, event in enumerate(events):
        try:
            check_event(event, now)
        except SpendError as error:
            errors[position] = error
        else:
            digests[position] = body_hash(event)
    wanted = {events[p].event_id for p in digests}
    stored = (
        {
            row.event_id: row
            for row in session.execute(_statements(session).stored, {"ids": sorted(wanted)})
        }
        if wanted
        else {}
    )
    known, by_external = _member_ids(session, [events[p] for p in digests])

    def member_id(party: Party) -> int | None:
        if party.user_id is not None:
            return party.user_id if party.user_id in known else None
        return by_external.get(party.external_id or "")

    # Decide each event in order, as if recorded one at a time: replays, conflicts, refunds
    # checked against the balances as the batch's earlier events leave them.
    new: list[tuple[int, EventIn, str, int | None, int | None]] = []
    first_seen: dict[str, tuple[str, int]] = {}  # event id -> (digest, position) in this batch
    replays: dict[int, Outcome] = {}
    refund_pairs = set()
    keyed = {}
    for position in digests:
        event = events[position]
        payer, payee = member_id(event.payer), member_id(event.payee)
        keys = (
            f"user:{payer}" if payer is not None else _balance_key(event.payer, None),
            f"user:{payee}" if payee is not None else _balance_key(event.payee, None),
        )
        keyed[position] = (payer, payee, keys)
        if event.kind != EventKind.PAYMENT:
            refund_pairs.add(keys)
    available = _balances(session, refund_pairs)
    deltas: dict[tuple[str, str], list[int]] = {}
    for position, digest in digests.items():
        event = events[position]
        row = stored.get(event.event_id)
        if row is not None:
            if row.body_hash != digest:
                errors[position] = EventConflict(
                    "event_id", "This event id was already used for a different event."
                )
            else:
                replays[position] = Outcome(
                    row.event_id, row.kind, row.attributed, row.received_at, True
                )
            continue
        if event.event_id in first_seen:
            if first_seen[event.event_id][0] != digest:
                errors[position] = EventConflict(
                    "event_id", "This event id was already used for a different event."
                )
            else:
                replays[position] = first_seen[event.event_id][1]  # filled in below
            continue
        payer, payee, keys = keyed[position]
        if payer is not None and payer == payee:
            errors[position] = SpendError("payee", "The payer and the payee are the same member.")
            continue
        amount = event.amount_cents
        delta = deltas.setdefault(keys, [0, 0])
        if event.kind == EventKind.PAYMENT:
            delta[0] += amount
            available[keys] = available.get(keys, 0) + amount
        elif available.get(keys, 0) >= amount:
            delta[1] += amount
            available[keys] -= amount
        else:
            errors[position] = SpendError(
                "amount_cents",
                f"This refund of {rewards.format_cents(amount)} is more than the "
                f"{rewards.format_cents(available.get(keys, 0))} this payer has paid this "
                "payee (net of refunds).",
            )
            continue
        first_seen[event.event_id] = (digest, position)
        new.append((position, event, digest, payer, payee))
    if errors:
        raise BatchRejected(errors)

    _write_balances(session, deltas)
    row_ids = _insert_events(session, new, now, source)
    by_payer, by_payee = _concerned_referrals(
        session, {n[3] for n in new if n[3] is not None}, {n[4] for n in new if n[4] is not None}
    )
    batch = rewards.Batch(rewards.live_rewards(session, [*by_payer.values(), *by_payee.values()]))
    attributed_ids = []
    counted: dict[int, Referral] = {}
    outcomes: dict[int, Outcome] = {}
    for position, event, _digest, payer, payee in new:
        row_id = row_ids[event.event_id]
        concerned = [r for r in (by_payer.get(payer), by_payee.get(payee)) if r is not None]
        attributed = False
        for referral in sorted(concerned, key=lambda r: r.id):
            if event.occurred_at < referral.clicked_at:
                continue  # spend from before the referral link was followed is not its doing
            _count(referral, event)
            counted[referral.id] = referral
            rewards.settle(session, referral, now, row_id, batch)
            attributed = True
        if attributed:
            attributed_ids.append(row_id)
        outcomes[position] = Outcome(event.event_id, EventKind(event.kind).value, attributed, now)
    if attributed_ids:
        session.connection().execute(_statements(session).mark_attributed, {"ids": attributed_ids})
    _write_totals(session, list(counted.values()))
    batch.finish(session)
    result = []
    for position in range(len(events)):
        if position in outcomes:
            result.append(outcomes[position])
        else:
            replayed = replays[position]
            if isinstance(replayed, int):  # a repeat of an event earlier in this batch
                first = outcomes[replayed]
                replayed = Outcome(first.event_id, first.kind, first.attributed, now, True)
            result.append(replayed)
    return result


def _insert_events(session: Session, new: list, now: datetime, source: str) -> dict[str, int]:
    """Insert the batch's new events in one statement; return their row ids by event id.

    Raises EventRace when a parallel transaction stored one of the ids first.
    """
    if not new:
        return {}
    sql = _statements(session)
    values = [
        {
            "event_id": event.event_id,
            "body_hash": digest,
            "kind": EventKind(event.kind).value,
            "occurred_at": event.occurred_at,
            "amount_cents": event.amount_cents,
            "currency": event.currency,
            "payer_ref": event.payer.ref,
            "payee_ref": event.payee.ref,
            "payer_id": payer,
            "payee_id": payee,
            "attributed": False,
            "source": source,
            "received_at": now,
        }
        for _position, event, digest, payer, payee in new
    ]
    connection = session.connection()
    if sql.arrays:
        rows = connection.execute(sql.insert_events, sql.rows(values, EVENT_COLUMNS)).all()
    else:
        cursor = spend_statements.LAST_EVENT_ID.execute(connection, {})
        (after,) = cursor.fetchone()
        cursor.close()
        spend_statements.INSERT_EVENT.execute_many(connection, values)
        cursor = spend_statements.EVENTS_AFTER.execute(connection, {"after": after})
        rows = cursor.fetchall()
        cursor.close()
    ids = {event_id: row_id for row_id, event_id in rows}
    if len(ids) < len(new):
        missing = next(e.event_id for _p, e, _d, _a, _b in new if e.event_id not in ids)
        raise EventRace(missing)
    return ids


def adopt_external_party(session: Session, external_id: str, user_id: int) -> None:
    """Fold what was recorded under a marketplace id into the member it now names, so that
    refunds of payments made before the link are still checked against them."""
    old, new = f"external:{external_id}", f"user:{user_id}"
    for column, other in (
        (SpendBalance.payer_key, SpendBalance.payee_key),
        (SpendBalance.payee_key, SpendBalance.payer_key),
    ):
        for balance in session.scalars(sa.select(SpendBalance).where(column == old)).all():
            merged = session.scalar(
                sa.select(SpendBalance).where(column == new, other == getattr(balance, other.key))
            )
            if merged is None:
                setattr(balance, column.key, new)
            else:
                merged.paid_cents += balance.paid_cents
                merged.refunded_cents += balance.refunded_cents
                session.delete(balance)
            session.flush()
