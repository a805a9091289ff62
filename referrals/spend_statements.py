"""The SQL of a spend batch, built once per database dialect and run with ``Prepared``.

A batch (of one event or 1,000) is a fixed number of statements, each sent with its lists as
one parameter: on PostgreSQL an array (``= ANY(%(ids)s)``, and the rows a statement writes as
one ``unnest`` of column arrays), on SQLite a JSON array read with ``json_each``. So the SQL
text never depends on the batch's size: it is compiled once, the driver can keep it prepared,
and no statement goes through SQLAlchemy's execution (which cost more than SQLite's work for
a single event). No engine event watches these tables (see ``forum.database.Prepared``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from forum.accounts.models import User
from forum.database import Prepared
from referrals.models import (
    Program,
    RefereeKind,
    Referral,
    Reward,
    SpendBalance,
    SpendEvent,
    Tier,
)

_events = SpendEvent.__table__
_balances = SpendBalance.__table__
_referrals = Referral.__table__
_programs = Program.__table__
_tiers = Tier.__table__
_rewards = Reward.__table__
_users = User.__table__

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
TOTAL_COLUMNS = {
    "rid": "id",
    "net": "net_cents",
    "base": "share_base_cents",
    "accrued": "share_accrued_cents",
    "rewarded": "rewarded_cents",
    "count": "event_count",
    "last": "last_event_at",
}
REWARD_COLUMNS = (
    "referral_id",
    "tier_id",
    "program_id",
    "referrer_id",
    "kind",
    "amount",
    "currency",
    "status",
    "live_key",
    "spend_event_id",
    "created_at",
    "hold_until",
    "approved_at",
    "reversed_at",
    "reversal_reason",
    "reversed_by_id",
)
# What an inserted reward's row tells the referrer when it is approved at once.
REWARD_RETURNED = ("id", "referrer_id", "referral_id", "kind", "amount", "status")


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
# A single event (most requests) is one statement, with RETURNING (not executemany's).
INSERT_ONE_EVENT = Prepared(INSERT_EVENT.statement.returning(_events.c.id, _events.c.event_id))


@dataclass(frozen=True)
class Statements:
    """A dialect's statements; ``ids`` and ``write`` pass lists and rows the dialect's way."""

    arrays: bool
    # The referrals locked, the stored events and the members named (see ``_opening``).
    opening: Prepared
    # Live threshold rewards by live key (SQLite; PostgreSQL reads them in ``writes``).
    live_rewards: Prepared
    # PostgreSQL, one round trip: the balances' upsert, the events' insert and the running
    # totals' update, answering the events inserted ("e": id, event_id) and the live rewards
    # ("w"), read in a snapshot taken after the referrals were locked.
    writes: Prepared | None
    upsert_balances: Prepared
    write_totals: Prepared
    insert_rewards: Prepared
    last_reward_id: Prepared
    approved_after: Prepared

    def ids(self, values: Sequence[Any]) -> str:
        """Return a list of values as one parameter: an array's text, or JSON for SQLite."""
        if self.arrays:
            return array_literal(values)
        return json.dumps(list(values)) if values else "[]"

    def write(
        self, statement: Prepared, connection: Any, rows: Sequence[dict[str, Any]], columns: Any
    ) -> Any:
        """Run ``statement`` for ``rows``: once with a list per column (arrays; returns the
        cursor) or with the driver's executemany (returns None)."""
        if self.arrays:
            return statement.execute(connection, column_arrays(rows, columns))
        statement.execute_many(connection, list(rows))
        return None


def _element(value: Any) -> str:
    """Return a value as an element of PostgreSQL's text of an array (``array_in``)."""
    if value is None:
        return "NULL"
    if isinstance(value, str):  # quoted, so no text is taken for NULL, a comma or a brace
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.isoformat()
    raise TypeError(f"no array element for {type(value).__name__}")


def array_literal(values: Iterable[Any]) -> str:
    """Return the text PostgreSQL reads as an array of these values (None, bools, integers,
    strings, aware datetimes), sent as one string and cast in the SQL (``_array``).

    psycopg dumps a list element by element in Python, about 1.5 µs an element (a
    datetime's 7 µs): for a batch's 25 column arrays of 500, more than the rest of the
    batch's work on PostgreSQL.
    """
    values = list(values)
    kinds = set(map(type, values))
    if kinds == {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds == {str}:
        quoted = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
        return '{"' + '","'.join(quoted) + '"}'
    if kinds == {datetime} and all(v.tzinfo is not None for v in values):
        # A batch's times are mostly one (when it was received) or a few.
        texts = {v: v.isoformat() for v in set(values)}
        return "{" + ",".join([texts[v] for v in values]) + "}"
    return "{" + ",".join(map(_element, values)) + "}"


def column_arrays(rows: Sequence[dict[str, Any]], columns: Iterable[str]) -> dict[str, str]:
    """Return each column of the rows as an array's text (see ``array_literal``)."""
    return {name: array_literal([row[name] for row in rows]) for name in columns}


def _array(name: str, item_type: Any) -> sa.ColumnElement:
    """Return the array sent as the text parameter ``name`` (see ``array_literal``), read
    through a scalar subquery: the planner then estimates it the same whatever it holds, so
    a statement's plan does not depend on its values and PostgreSQL keeps one generic plan
    (``plan_cache_mode = auto``) instead of planning it anew on every execution (more than
    half of a single event's server time)."""
    array = postgresql.ARRAY(item_type)
    read = sa.select(sa.cast(sa.bindparam(name, type_=sa.String), array)).scalar_subquery()
    return sa.cast(read, array)


def _among(column: sa.ColumnElement, name: str, arrays: bool) -> sa.ColumnElement[bool]:
    if arrays:
        return column == sa.any_(_array(name, column.type))
    listed = sa.func.json_each(sa.bindparam(name, type_=sa.String)).table_valued("value")
    return column.in_(sa.select(listed.c.value))


def _unnest(table: sa.Table, columns: dict[str, str], name: str) -> Any:
    """Return ``unnest(%(a)s, %(b)s, …) AS name(a, b, …)``: the rows of column arrays, each
    array typed as its table column (parameter ``a`` fills table column ``columns["a"]``)."""
    arrays = [_array(param, table.c[column].type) for param, column in columns.items()]
    return sa.func.unnest(*arrays).table_valued(*columns).render_derived(name=name)


REFERRAL_FIELDS = (
    "id",
    "program_id",
    "referrer_id",
    "referee_id",
    "clicked_at",
    "created_at",
    "review_status",
    "net_cents",
    "share_base_cents",
    "share_accrued_cents",
    "rewarded_cents",
    "event_count",
    "last_event_at",
    "blocked_tier_ids",
)
PROGRAM_FIELDS = (
    "referee_kind",
    "hold_days",
    "currency",
    "referrer_cap_cents",
    "referee_cap_cents",
)
TIER_FIELDS = (
    "id",
    "threshold_cents",
    "reward_kind",
    "reward_amount",
    "share_months",
    "share_cap_cents",
)
# Where a row of ``concerned`` turns from the referral and its program to the tier.
TIER_START = len(REFERRAL_FIELDS) + len(PROGRAM_FIELDS)


def _members(ids: str, externals: str, arrays: bool) -> sa.CompoundSelect:
    """Return the ids of the members named by id (parameter ``ids``, not checked: a referral
    names a member) or by marketplace id (``externals``)."""
    if arrays:
        listed = sa.select(sa.func.unnest(_array(ids, sa.Integer)))
    else:
        by_id = sa.func.json_each(sa.bindparam(ids, type_=sa.String)).table_valued("value")
        listed = sa.select(by_id.c.value)
    by_external = sa.select(_users.c.id).where(_among(_users.c.external_id, externals, arrays))
    return sa.union_all(listed, by_external)


def _one_of(column: sa.ColumnElement, values: sa.Select | sa.CompoundSelect, arrays: bool) -> Any:
    """Return ``column`` among the values a subquery lists: on PostgreSQL ``= ANY(ARRAY(…))``,
    an array computed once before the scan (an InitPlan), not a join (see ``_concerned``)."""
    if arrays:
        return column == sa.any_(sa.func.array(values.scalar_subquery()))
    return column.in_(values)


def _concerned(arrays: bool) -> sa.CTE:
    """Return the referrals the events may count for, locked in id order: those of client
    programs whose referee pays, and of freelancer programs whose referee is paid.

    The locking query reads the referrals table alone; on PostgreSQL the members and programs
    it matches are arrays computed before it runs (InitPlans), not joins. After waiting for a
    referral's lock, PostgreSQL re-checks the referral's newest version against the query by
    running the query's plan again for that one row (EvalPlanQual). When the members were a
    semi-join on a UNION ALL (named by id or by marketplace id) that the planner ran as a
    join on the distinct members, that re-check lost the row for some referrals: the lock
    was taken, the referral not returned, and the batch stored its events without counting
    them (``tests/referrals/test_spend_locking.py``). The referrals' programs and tiers are
    joined to the locked rows afterwards (``_opening``).
    """
    referee = _referrals.c.referee_id
    payers = _members("payers", "payer_externals", arrays)
    payees = _members("payees", "payee_externals", arrays)
    clients, freelancers = (
        sa.select(_programs.c.id).where(_programs.c.referee_kind == kind.value)
        for kind in (RefereeKind.CLIENT, RefereeKind.FREELANCER)
    )
    return (
        sa.select(*(_referrals.c[name] for name in REFERRAL_FIELDS))
        .where(
            # Every party named, first: the referrals found by their referee index.
            _one_of(referee, _members("user_ids", "externals", arrays), arrays),
            sa.or_(
                sa.and_(
                    _one_of(referee, payers, arrays),
                    _one_of(_referrals.c.program_id, clients, arrays),
                ),
                sa.and_(
                    _one_of(referee, payees, arrays),
                    _one_of(_referrals.c.program_id, freelancers, arrays),
                ),
            ),
        )
        .order_by(_referrals.c.id)
        .with_for_update()
        .cte("concerned")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


def _opening(arrays: bool) -> sa.CompoundSelect:
    """Return the batch's first statement: its referrals locked ("r": a row per tier, see
    ``CONCERNED``), and the stored events ("e"), the members named by id ("u") and by
    marketplace id ("x") among those it names. One round trip; each kind of row fills its
    own columns of the union and leaves the others NULL.

    The lookups read the statement's snapshot, taken before any wait for the locks: an event
    another transaction stored meanwhile then makes the insert fail (EventRace, and the
    retry finds it), and nothing else read here changes under a referral's lock.
    """
    locked = _concerned(arrays)
    concerned = (
        sa.select(
            *locked.c,
            *(_programs.c[name] for name in PROGRAM_FIELDS),
            *(_tiers.c[name] for name in TIER_FIELDS),
            _tiers.c.position,
        )
        .select_from(
            locked.join(_programs, _programs.c.id == locked.c.program_id).outerjoin(
                _tiers, _tiers.c.program_id == _programs.c.id
            )
        )
        .subquery("concerned")
    )
    layout = [(f"r{i}", column.type) for i, column in enumerate(concerned.c)]
    layout += [
        ("event_id", _events.c.event_id.type),
        ("body_hash", _events.c.body_hash.type),
        ("kind", _events.c.kind.type),
        ("attributed", _events.c.attributed.type),
        ("received_at", _events.c.received_at.type),
        ("user_id", _users.c.id.type),
        ("external_id", _users.c.external_id.type),
    ]

    def row(tag: str, values: dict[str, Any]) -> list:
        # Typed NULLs: PostgreSQL matches a union's types branch by branch (an untyped NULL
        # would be text), and the first branch's types decide how the values are read.
        return [sa.literal_column(f"'{tag}'")] + [
            values.get(name, sa.cast(sa.null(), type_)) for name, type_ in layout
        ]

    return sa.union_all(
        sa.select(*row("r", {f"r{i}": c for i, c in enumerate(concerned.c)})),
        sa.select(
            *row(
                "e",
                {
                    name: _events.c[name]
                    for name in ("event_id", "body_hash", "kind", "attributed", "received_at")
                },
            )
        ).where(_among(_events.c.event_id, "ids", arrays)),
        sa.select(*row("u", {"user_id": _users.c.id})).where(
            _among(_users.c.id, "user_ids", arrays)
        ),
        sa.select(*row("x", {"user_id": _users.c.id, "external_id": _users.c.external_id})).where(
            _among(_users.c.external_id, "externals", arrays)
        ),
    )


# The columns of an "r" row of the opening statement: the referral's, then its program's,
# then one tier's and the tier's position.
CONCERNED = len(REFERRAL_FIELDS) + len(PROGRAM_FIELDS) + len(TIER_FIELDS) + 1


LIVE_FIELDS = ("id", "live_key", "tier_id", "status", "kind", "amount")


def _live_rewards(arrays: bool) -> sa.Select:
    return sa.select(*(_rewards.c[name] for name in LIVE_FIELDS)).where(
        _among(_rewards.c.live_key, "keys", arrays)
    )


@functools.cache
def for_dialect(dialect: str) -> Statements:
    """Return the batch's statements for the dialect (``postgresql`` or ``sqlite``)."""
    arrays = dialect == "postgresql"
    insert = postgresql.insert if arrays else sqlite.insert
    if arrays:
        total = _unnest(_referrals, TOTAL_COLUMNS, "total")
        rid, values = total.c.rid, {c: total.c[p] for p, c in TOTAL_COLUMNS.items() if p != "rid"}
    else:  # executemany, one referral per execution
        params = {p: sa.bindparam(p, type_=_referrals.c[c].type) for p, c in TOTAL_COLUMNS.items()}
        rid, values = params.pop("rid"), {TOTAL_COLUMNS[p]: b for p, b in params.items()}
    write_totals = sa.update(_referrals).where(_referrals.c.id == rid).values(values)

    def rows_of(table: sa.Table, columns: Sequence[str], name: str) -> Any:
        """Return an INSERT of the rows: from an unnest of arrays, or (SQLite, executemany)
        the VALUES of one row (SQLite's parser takes ``INSERT … SELECT … ON CONFLICT``'s ON
        for a join's)."""
        if arrays:
            rows = sa.select(*_unnest(table, {c: c for c in columns}, name).c)
            return insert(table).from_select(columns, rows)
        return insert(table).values({c: sa.bindparam(c, type_=table.c[c].type) for c in columns})

    new_events = rows_of(_events, EVENT_COLUMNS, "new")
    deltas = rows_of(_balances, BALANCE_COLUMNS, "delta")
    upsert_balances = deltas.on_conflict_do_update(
        index_elements=["payer_key", "payee_key"],
        set_={
            "paid_cents": _balances.c.paid_cents + deltas.excluded.paid_cents,
            "refunded_cents": _balances.c.refunded_cents + deltas.excluded.refunded_cents,
        },
    )
    new_rewards = rows_of(_rewards, REWARD_COLUMNS, "reward")
    writes = None
    if arrays:
        stored = (
            new_events.on_conflict_do_nothing(index_elements=["event_id"])
            .returning(_events.c.id, _events.c.event_id)
            .cte("stored")
        )
        live = _live_rewards(arrays).subquery("live")
        writes = sa.union_all(
            sa.select(sa.literal_column("'e'"), stored.c.id, stored.c.event_id, *[sa.null()] * 4),
            sa.select(sa.literal_column("'w'"), *live.c),
        ).add_cte(upsert_balances.cte("balances"), write_totals.cte("totals"))
        new_rewards = new_rewards.returning(*(_rewards.c[name] for name in REWARD_RETURNED))
    return Statements(
        arrays=arrays,
        opening=Prepared(_opening(arrays)),
        live_rewards=Prepared(_live_rewards(arrays)),
        writes=Prepared(writes) if writes is not None else None,
        upsert_balances=Prepared(upsert_balances),
        write_totals=Prepared(write_totals),
        insert_rewards=Prepared(new_rewards),
        last_reward_id=Prepared(sa.select(sa.func.coalesce(sa.func.max(_rewards.c.id), 0))),
        approved_after=Prepared(
            sa.select(*(_rewards.c[name] for name in REWARD_RETURNED))
            .where(
                _rewards.c.id > sa.bindparam("after", type_=sa.Integer),
                _rewards.c.status == "approved",
            )
            .order_by(_rewards.c.id)
        ),
    )
