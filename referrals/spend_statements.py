"""The SQL of a spend batch, built once per database dialect.

A batch of 500 events is a fixed number of statements, and on PostgreSQL each is sent with
arrays: ``= ANY(%(ids)s)`` instead of an ``IN`` list of 500 placeholders, and the rows a
statement writes as one ``unnest`` of column arrays instead of a ``VALUES`` list of 6,500
placeholders (or a statement per row). The driver re-parsed those long statements on every
batch and the server planned them anew: that was a third of a batch's time. SQLite has no
arrays, and a statement costs it no round trip: there the lists stay.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import contains_eager

from forum.accounts.models import User
from forum.database import Prepared
from referrals.models import Program, RefereeKind, Referral, SpendBalance, SpendEvent, Tier

_events = SpendEvent.__table__
_balances = SpendBalance.__table__
_referrals = Referral.__table__

EVENT_COLUMNS = (
    "event_id",
    "body_hash",
    "kind",
    "occurred_at",
    "amount_cents",
    "currency",
    "payer_ref",
    "payee_ref",
    "payer_id",
    "payee_id",
    "attributed",
    "source",
    "received_at",
)
BALANCE_COLUMNS = ("payer_key", "payee_key", "paid_cents", "refunded_cents")
TOTAL_COLUMNS = ("rid", "net", "base", "count", "last")


def _sqlite_event_statements() -> tuple[Prepared, Prepared, Prepared]:
    insert = sqlite.insert(_events).values(
        {name: sa.bindparam(name, type_=_events.c[name].type) for name in EVENT_COLUMNS}
    )
    return (
        Prepared(sa.select(sa.func.coalesce(sa.func.max(_events.c.id), 0))),
        Prepared(insert.on_conflict_do_nothing(index_elements=["event_id"])),
        Prepared(
            sa.select(_events.c.id, _events.c.event_id).where(
                _events.c.id > sa.bindparam("after", type_=sa.BigInteger)
            )
        ),
    )


# SQLite: the events of a batch go in with the driver's executemany (a loop in C), and their
# ids are read back as those above the largest id before: SQLite has one writer, so no other
# transaction can add rows in between (one that committed after this transaction read would
# make its write fail instead). SQLAlchemy's multi-row INSERT … RETURNING spent more time
# rendering 6,500 placeholders and converting values than SQLite spent storing the rows.
LAST_EVENT_ID, INSERT_EVENT, EVENTS_AFTER = _sqlite_event_statements()


@dataclass(frozen=True)
class Statements:
    """A dialect's statements; ``rows`` turns a list of row dicts into their parameters."""

    arrays: bool
    stored: sa.Select
    known_ids: sa.Select
    concerned_referrals: sa.Select
    tiers: sa.Select
    mark_attributed: sa.Update
    insert_events: sa.Insert
    upsert_balances: sa.Insert
    write_totals: sa.Update

    def rows(self, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Any:
        """Return the parameters that write ``rows``: the list itself (executemany) or, with
        arrays, one dict of a list per column (a single execution)."""
        if not self.arrays:
            return list(rows)
        return {name: [row[name] for row in rows] for name in columns}


def _among(column: sa.ColumnElement, name: str, arrays: bool) -> sa.ColumnElement[bool]:
    if arrays:
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


def _unnest(table: sa.Table, columns: dict[str, str], name: str) -> Any:
    """Return ``unnest(%(a)s, %(b)s, …) AS name(a, b, …)``: the rows of column arrays, each
    array typed as its table column (parameter ``a`` fills table column ``columns["a"]``)."""
    arrays = [
        sa.bindparam(param, type_=postgresql.ARRAY(table.c[column].type))
        for param, column in columns.items()
    ]
    return sa.func.unnest(*arrays).table_valued(*columns).render_derived(name=name)


@functools.cache
def for_dialect(dialect: str) -> Statements:
    """Return the batch's statements for the dialect (``postgresql`` or ``sqlite``)."""
    arrays = dialect == "postgresql"
    insert = postgresql.insert if arrays else sqlite.insert
    stored = sa.select(
        _events.c.event_id,
        _events.c.body_hash,
        _events.c.kind,
        _events.c.attributed,
        _events.c.received_at,
    ).where(_among(_events.c.event_id, "ids", arrays))
    known_ids = sa.select(User.id).where(_among(User.id, "ids", arrays))
    concerned = (
        sa.select(Referral)
        .join(Program, Program.id == Referral.program_id)
        # The join's columns, not a query each; the programs' tiers are read by ``tiers``
        # (the selectin loader's own machinery cost more than its query).
        .options(contains_eager(Referral.program).lazyload(Program.tiers))
        .where(
            sa.or_(
                sa.and_(
                    _among(Referral.referee_id, "payers", arrays),
                    Program.referee_kind == RefereeKind.CLIENT.value,
                ),
                sa.and_(
                    _among(Referral.referee_id, "payees", arrays),
                    Program.referee_kind == RefereeKind.FREELANCER.value,
                ),
            )
        )
        .order_by(Referral.id)
        .with_for_update(of=Referral)
    )
    tiers = (
        sa.select(Tier)
        .where(_among(Tier.program_id, "programs", arrays))
        .order_by(Tier.program_id, Tier.position)
    )
    mark_attributed = (
        sa.update(_events).where(_among(_events.c.id, "ids", arrays)).values(attributed=True)
    )

    if arrays:
        new = _unnest(_events, {c: c for c in EVENT_COLUMNS}, "new")
        events = insert(_events).from_select(EVENT_COLUMNS, sa.select(*new.c))
        deltas = _unnest(_balances, {c: c for c in BALANCE_COLUMNS}, "delta")
        balances = insert(_balances).from_select(BALANCE_COLUMNS, sa.select(*deltas.c))
        totals = _unnest(
            _referrals,
            {
                "rid": "id",
                "net": "net_cents",
                "base": "share_base_cents",
                "count": "event_count",
                "last": "last_event_at",
            },
            "total",
        )
        write_totals = (
            sa.update(_referrals)
            .where(_referrals.c.id == totals.c.rid)
            .values(
                net_cents=totals.c.net,
                share_base_cents=totals.c.base,
                event_count=totals.c.count,
                last_event_at=totals.c.last,
            )
        )
    else:
        events = insert(_events)
        balances = insert(_balances)
        write_totals = (
            sa.update(_referrals)
            .where(_referrals.c.id == sa.bindparam("rid"))
            .values(
                net_cents=sa.bindparam("net"),
                share_base_cents=sa.bindparam("base"),
                event_count=sa.bindparam("count"),
                last_event_at=sa.bindparam("last", type_=_referrals.c.last_event_at.type),
            )
        )
    return Statements(
        arrays=arrays,
        stored=stored,
        known_ids=known_ids,
        concerned_referrals=concerned,
        tiers=tiers,
        mark_attributed=mark_attributed,
        insert_events=events.on_conflict_do_nothing(index_elements=["event_id"]).returning(
            _events.c.id, _events.c.event_id
        ),
        upsert_balances=balances.on_conflict_do_update(
            index_elements=["payer_key", "payee_key"],
            set_={
                "paid_cents": _balances.c.paid_cents + balances.excluded.paid_cents,
                "refunded_cents": _balances.c.refunded_cents + balances.excluded.refunded_cents,
            },
        ),
        write_totals=write_totals,
    )
