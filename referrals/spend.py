"""Spend events from the marketplace: stored exactly once each, checked against what was paid,
and counted into the running totals of the referrals they concern."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User
from referrals import rewards, spend_storage, tiers
from referrals.models import EventKind, SpendBalance
from referrals.referral_rows import ReferralRow

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


# What ``json.dumps(…, separators=(",", ":"))`` makes of a dict, without building an encoder
# per call.
_CANONICAL = json.JSONEncoder(separators=(",", ":"))


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
        """Return the event as canonical JSON: equal events give equal text (keys sorted;
        written in that order rather than sorted on every call)."""
        return _CANONICAL.encode(
            {
                "amount_cents": self.amount_cents,
                "currency": self.currency,
                "event_id": self.event_id,
                "kind": EventKind(self.kind).value,
                "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
                "payee": self.payee.as_json(),
                "payer": self.payer.as_json(),
            }
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


def _count(referral: ReferralRow, event: EventIn) -> None:
    """Add the event to the referral's running totals (written by ``_write_totals``)."""
    amount = event.amount_cents
    if event.kind == EventKind.PAYMENT:
        referral.net_cents += amount
        share_tier = next((t for t in referral.program.tiers if t.is_revenue_share), None)
        if (
            share_tier is not None
            and share_tier.share_months is not None
            and (event.occurred_at < tiers.add_months(referral.created_at, share_tier.share_months))
        ):
            referral.share_base_cents += amount
    else:
        referral.net_cents -= amount
        referral.share_base_cents = max(0, referral.share_base_cents - amount)
    last = referral.last_event_at
    if last is None or event.occurred_at > last:
        referral.last_event_at = event.occurred_at
    referral.event_count += 1


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
    # Prepared statements run on the connection, without the ORM's autoflush: flush what
    # the session holds first (nothing, for the API), as a query through it would.
    session.flush()
    connection = session.connection()
    opening = (
        spend_storage.open_batch(connection, [events[p] for p in digests])
        if digests
        else spend_storage.Opening({}, set(), {}, {}, {})
    )
    stored, known, by_external = opening.stored, opening.known, opening.by_external

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
            kind, stored_hash, attributed, received_at = row
            if stored_hash != digest:
                errors[position] = EventConflict(
                    "event_id", "This event id was already used for a different event."
                )
            else:
                replays[position] = Outcome(event.event_id, kind, attributed, received_at, True)
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

    # Which referrals each event counts for, known before it is stored (with its flag).
    counts_for: list[list[ReferralRow]] = []
    for _position, event, _digest, payer, payee in new:
        concerned = [
            r for r in (opening.by_payer.get(payer), opening.by_payee.get(payee)) if r is not None
        ]
        # Spend from before the referral link was followed is not its doing.
        counts_for.append(
            sorted((r for r in concerned if event.occurred_at >= r.clicked_at), key=lambda r: r.id)
        )
    # The running totals counting leaves, written with the events; settling changes only the
    # rewarded and accrued amounts, written again below if it does.
    counted = {r.id: r for referrals in counts_for for r in referrals}
    totals = {referral_id: r.copy() for referral_id, r in counted.items()}
    for (_position, event, *_rest), referrals in zip(new, counts_for, strict=True):
        for referral in referrals:
            _count(totals[referral.id], event)
    keys = rewards.live_keys(counted.values())
    row_ids, live = spend_storage.write_batch(
        connection, new, counts_for, deltas, totals.values(), keys, now, source
    )
    if len(row_ids) < len(new):
        raise EventRace(next(e.event_id for _p, e, *_r in new if e.event_id not in row_ids))
    batch = rewards.Batch(live)
    outcomes: dict[int, Outcome] = {}
    for (position, event, _digest, _payer, _payee), referrals in zip(new, counts_for, strict=True):
        row_id = row_ids[event.event_id]
        for referral in referrals:
            _count(referral, event)
            rewards.settle(session, referral, now, row_id, batch)
        kind = EventKind(event.kind).value
        outcomes[position] = Outcome(event.event_id, kind, bool(referrals), now)
    settled = [
        r
        for r in counted.values()
        if (r.rewarded_cents, r.share_accrued_cents)
        != (totals[r.id].rewarded_cents, totals[r.id].share_accrued_cents)
    ]
    if settled:
        spend_storage.write_totals(connection, settled)
    spend_storage.refresh_loaded(session, counted.values())
    spend_storage.insert_rewards(session, batch.made)
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
