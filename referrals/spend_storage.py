"""A spend batch's reads and writes: the statements of ``spend_statements`` run for the
batch's events, and their rows turned into plain values (``referral_rows``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from referrals import messages, rewards, spend_statements
from referrals.models import EventKind, RefereeKind, Referral, RewardStatus
from referrals.referral_rows import NewReward, ReferralRow, referrals_from_rows
from referrals.spend_statements import (
    BALANCE_COLUMNS,
    EVENT_COLUMNS,
    TOTAL_COLUMNS,
    column_arrays,
)

if TYPE_CHECKING:
    from referrals.spend import EventIn, Party


@dataclass
class Opening:
    """What the batch's first statement found (see ``spend_statements._opening``)."""

    stored: dict[str, tuple]  # event id -> (kind, body hash, attributed, received at)
    known: set[int]  # ids the events name that are members
    by_external: dict[str, int]  # marketplace id -> member id
    by_payer: dict[int, ReferralRow]  # locked referrals of programs that refer clients
    by_payee: dict[int, ReferralRow]  # … and freelancers, by referee


def open_batch(connection: sa.Connection, events: list[EventIn]) -> Opening:
    """Lock the referrals the events may count for (in id order) and look up the stored
    events and the members they name: one statement for the whole batch."""
    sql = spend_statements.for_dialect(connection.dialect.name)
    ids = sql.ids

    def named(parties: list[Party]) -> tuple[Any, Any]:
        by_id = sorted({p.user_id for p in parties if p.user_id is not None})
        by_external = sorted(
            {p.external_id for p in parties if p.user_id is None and p.external_id}
        )
        return ids(by_id), ids(by_external)

    payers, payer_externals = named([e.payer for e in events])
    payees, payee_externals = named([e.payee for e in events])
    user_ids, externals = named([p for e in events for p in (e.payer, e.payee)])
    rows = sql.opening.all(
        connection,
        {
            "ids": ids(sorted({e.event_id for e in events})),
            "user_ids": user_ids,
            "externals": externals,
            "payers": payers,
            "payer_externals": payer_externals,
            "payees": payees,
            "payee_externals": payee_externals,
        },
    )
    opening = Opening({}, set(), {}, {}, {})
    concerned = []
    width = spend_statements.CONCERNED
    for row in rows:
        part = row[0]
        if part == "r":
            concerned.append(row[1 : width + 1])
            continue
        event_id, digest, kind, attributed, received_at, user_id, external_id = row[width + 1 :]
        if part == "e":
            opening.stored[event_id] = (kind, digest, bool(attributed), received_at)
        elif part == "u":
            opening.known.add(user_id)
        else:
            opening.by_external[external_id] = user_id
    concerned.sort(key=lambda r: (r[0], r[-1]))  # referral, then tier position
    for referral in referrals_from_rows([r[:-1] for r in concerned], spend_statements.TIER_START):
        if referral.program.referee_kind == RefereeKind.CLIENT.value:
            opening.by_payer[referral.referee_id] = referral
        elif referral.program.referee_kind == RefereeKind.FREELANCER.value:
            opening.by_payee[referral.referee_id] = referral
    return opening


_TOTALS = ("net_cents", "share_base_cents", "share_accrued_cents", "rewarded_cents")
_TOTALS += ("event_count", "last_event_at")


def total_rows(referrals: Iterable[ReferralRow]) -> list[dict[str, Any]]:
    return [
        {
            "rid": r.id,
            "net": r.net_cents,
            "base": r.share_base_cents,
            "accrued": r.share_accrued_cents,
            "rewarded": r.rewarded_cents,
            "count": r.event_count,
            "last": r.last_event_at,
        }
        for r in sorted(referrals, key=lambda r: r.id)
    ]


def write_totals(connection: sa.Connection, referrals: Iterable[ReferralRow]) -> None:
    """Store the running totals of these (locked) referrals: one statement."""
    rows = total_rows(referrals)
    if not rows:
        return
    sql = spend_statements.for_dialect(connection.dialect.name)
    cursor = sql.write(sql.write_totals, connection, rows, TOTAL_COLUMNS)
    if cursor is not None:
        cursor.close()


def refresh_loaded(session: Session, referrals: Iterable[ReferralRow]) -> None:
    """Give a referral the session holds as an entity its new totals, as the ORM's own
    update (or a reload) would have left it."""
    if not session.identity_map:
        return
    mapper = sa.inspect(Referral)
    for r in referrals:
        loaded = session.identity_map.get(mapper.identity_key_from_primary_key([r.id]))
        if loaded is not None:
            for name in _TOTALS:
                set_committed_value(loaded, name, getattr(r, name))


def write_batch(
    connection: sa.Connection,
    new: list,
    counts_for: list[list[ReferralRow]],
    deltas: dict[tuple[str, str], list[int]],
    totals: Iterable[ReferralRow],
    keys: list[str],
    now: datetime,
    source: str,
) -> tuple[dict[str, int], dict[str, rewards.LiveReward]]:
    """Add the batch's payments and refunds to the balances, insert its new events and store
    the referrals' running totals; return the events' row ids by event id, and the live
    rewards with these live keys. One statement on PostgreSQL (a round trip each cost more
    than the work), a few prepared ones on SQLite.

    An event a parallel transaction stored first is not inserted, and has no row id.
    """
    if not new:
        return {}, {}
    sql = spend_statements.for_dialect(connection.dialect.name)
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
            "attributed": bool(referrals),
            "source": source,
            "received_at": now,
        }
        for (_position, event, digest, payer, payee), referrals in zip(new, counts_for, strict=True)
    ]
    balances = [
        {"payer_key": a, "payee_key": b, "paid_cents": paid, "refunded_cents": refunded}
        for (a, b), (paid, refunded) in sorted(deltas.items())
    ]
    live: dict[str, rewards.LiveReward] = {}
    if sql.arrays:
        params = {"keys": sql.ids(keys)}
        for rows, columns in (
            (values, EVENT_COLUMNS),
            (balances, BALANCE_COLUMNS),
            (total_rows(totals), TOTAL_COLUMNS),
        ):
            params.update(column_arrays(rows, columns))
        cursor = sql.writes.execute(connection, params)
        rows = []
        for part, row_id, key, *rest in cursor.fetchall():
            if part == "e":
                rows.append((row_id, key))
            else:
                live[key] = rewards.LiveReward(row_id, key, *rest)
        cursor.close()
    else:
        if balances:
            sql.write(sql.upsert_balances, connection, balances, BALANCE_COLUMNS)
        write_totals(connection, totals)
        if len(values) == 1:
            cursor = spend_statements.INSERT_ONE_EVENT.execute(connection, values[0])
        else:
            cursor = spend_statements.LAST_EVENT_ID.execute(connection, {})
            (after,) = cursor.fetchone()
            cursor.close()
            spend_statements.INSERT_EVENT.execute_many(connection, values)
            cursor = spend_statements.EVENTS_AFTER.execute(connection, {"after": after})
        rows = cursor.fetchall()
        cursor.close()
        if keys:
            cursor = sql.live_rewards.execute(connection, {"keys": sql.ids(keys)})
            live = {row[1]: rewards.LiveReward(*row) for row in cursor.fetchall()}
            cursor.close()
    return {event_id: row_id for row_id, event_id in rows}, live


def insert_rewards(session: Session, made: list[NewReward]) -> None:
    """Insert a batch's rewards (one statement) and tell the referrers of those approved
    at once (their notification names the reward's id, known only now)."""
    if not made:
        return
    connection = session.connection()
    sql = spend_statements.for_dialect(connection.dialect.name)
    rows = [reward.as_row() for reward in made]
    approved = any(reward.status == RewardStatus.APPROVED for reward in made)
    if sql.arrays:
        cursor = sql.write(sql.insert_rewards, connection, rows, spend_statements.REWARD_COLUMNS)
        inserted = cursor.fetchall()
        cursor.close()
    else:
        # SQLite has one writer: the rows above the largest id before are these.
        after = 0
        if approved:
            cursor = sql.last_reward_id.execute(connection, {})
            (after,) = cursor.fetchone()
            cursor.close()
        sql.write(sql.insert_rewards, connection, rows, spend_statements.REWARD_COLUMNS)
        inserted = []
        if approved:
            cursor = sql.approved_after.execute(connection, {"after": after})
            inserted = cursor.fetchall()
            cursor.close()
    if not approved:
        return
    for reward_id, referrer_id, referral_id, kind, amount, status in sorted(inserted):
        if status == RewardStatus.APPROVED:
            messages.reward_approved(session, referrer_id, referral_id, reward_id, kind, amount)
