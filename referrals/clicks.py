"""Clicks on referral links: recorded always, counted only when a person (not a bot) made them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from forum.database import PooledDriverConnection, Prepared, UTCDateTime, begin_writing
from referrals import links
from referrals.models import Click, Link

# Substrings of the user agents of crawlers, link previewers and scripts (lower case).
CRAWLER_MARKERS = (
    "bot",
    "crawl",
    "spider",
    "slurp",
    "facebookexternalhit",
    "embedly",
    "preview",
    "headless",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "httpclient",
    "go-http-client",
    "okhttp",
    "scrapy",
    "lighthouse",
    "pingdom",
    "monitor",
)
FLOOD_WINDOW = timedelta(minutes=1)
# Browsers' agents, by far the most clicks, classified once per process (bounded).
_AGENT_CACHE: dict[str, tuple[str, bool]] = {}
_AGENT_CACHE_MAX = 4096


def classify_agent(user_agent: str | None) -> tuple[str, bool]:
    """Return a coarse class for a user agent (bot, mobile, tablet, desktop or unknown) and
    whether it is a known crawler."""
    if not user_agent:
        return "unknown", False
    found = _AGENT_CACHE.get(user_agent)
    if found is None:
        found = _classify(user_agent)
        if len(_AGENT_CACHE) >= _AGENT_CACHE_MAX:
            _AGENT_CACHE.clear()
        _AGENT_CACHE[user_agent] = found
    return found


def _classify(user_agent: str) -> tuple[str, bool]:
    agent = user_agent.lower()
    if not agent:
        return "unknown", False
    if any(marker in agent for marker in CRAWLER_MARKERS):
        return "bot", True
    if "ipad" in agent or "tablet" in agent:
        return "tablet", False
    if "mobi" in agent or "android" in agent or "iphone" in agent:
        return "mobile", False
    return "desktop", False


@dataclass(frozen=True)
class RecordedClick:
    id: int
    is_bot: bool


_clicks = Click.__table__

# Built once: the statements of a click, with their values bound at execution.
_CLICK_COLUMNS = (
    "link_id",
    "clicked_at",
    "address_hash",
    "agent_class",
    "is_bot",
    "bot_reason",
    "visitor_id",
)
_RECENT = (
    sa.select(_clicks.c.id)
    .where(
        _clicks.c.address_hash == sa.bindparam("address_hash"),
        _clicks.c.clicked_at > sa.bindparam("since", type_=UTCDateTime),
    )
    .limit(sa.bindparam("flood_limit", type_=sa.Integer))
    .subquery("recent")
)  # counting stops at the limit, however long the flood
_FLOOD = (
    sa.select((sa.func.count() >= sa.bindparam("flood_limit", type_=sa.Integer)).label("flooded"))
    .select_from(_RECENT)
    .subquery("flood")
)


def _click_values(
    is_bot: sa.ColumnElement, bot_reason: sa.ColumnElement, link_id: sa.ColumnElement | None = None
) -> list:
    return [
        sa.bindparam("link_id", type_=_clicks.c.link_id.type) if link_id is None else link_id,
        sa.bindparam("clicked_at", type_=UTCDateTime),
        sa.bindparam("address_hash", type_=_clicks.c.address_hash.type),
        sa.bindparam("agent_class", type_=_clicks.c.agent_class.type),
        is_bot,
        bot_reason,
        sa.bindparam("visitor_id", type_=_clicks.c.visitor_id.type),
    ]


# A person's click: flagged as a flood when the address clicked too often in the last minute.
_INSERT_CHECKED = Prepared(
    sa.insert(_clicks)
    .from_select(
        _CLICK_COLUMNS,
        sa.select(
            *_click_values(
                sa.cast(_FLOOD.c.flooded, sa.Boolean),
                sa.case((_FLOOD.c.flooded, "flood"), else_=sa.null()),
            )
        ).select_from(_FLOOD),
    )
    .returning(_clicks.c.id, _clicks.c.is_bot)
)
# A known crawler's click: a bot's whatever the address did.
_INSERT_CRAWLER = Prepared(
    sa.insert(_clicks)
    .values(dict(zip(_CLICK_COLUMNS, _click_values(sa.true(), sa.literal("crawler")), strict=True)))
    .returning(_clicks.c.id, _clicks.c.is_bot)
)


# PostgreSQL: the whole click in one statement (one round trip instead of three): the link
# (links.followable's query), the click inserted when there is one (a crawler's as a bot's,
# a person's flagged when the address floods), and this transaction's commit told not to wait
# for the disk (see follow). A data-modifying WITH runs whether or not it is read.
def _follow_statement() -> sa.Select:
    link = links.FOLLOWABLE.cte("link")
    crawler = sa.bindparam("crawler", type_=sa.Boolean)
    flooded = sa.and_(sa.not_(crawler), _FLOOD.c.flooded)
    inserted = (
        sa.insert(_clicks)
        .from_select(
            _CLICK_COLUMNS,
            sa.select(
                *_click_values(
                    sa.or_(crawler, flooded),
                    sa.case((crawler, "crawler"), (flooded, "flood"), else_=sa.null()),
                    link.c.id,
                )
            ).select_from(link.join(_FLOOD, sa.true())),
        )
        .returning(_clicks.c.id, _clicks.c.is_bot)
        .cte("inserted")
    )
    relaxed = sa.select(
        sa.func.set_config("synchronous_commit", "off", sa.true()).label("setting")
    ).cte("relaxed")
    return sa.select(
        link.c.id,
        link.c.program_id,
        link.c.target,
        link.c.attribution_days,
        inserted.c.id,
        inserted.c.is_bot,
        relaxed.c.setting,
    ).select_from(link.join(inserted, sa.true()).join(relaxed, sa.true()))


_FOLLOW = Prepared(_follow_statement())


def follow(
    connection: Connection,
    code: str,
    address_hash: str,
    user_agent: str | None,
    visitor_id: int | None,
    now: datetime,
    flood_limit: int,
) -> tuple[links.FollowedLink, RecordedClick] | None:
    """Record a click on the followable link with this code, in the ``connection``'s
    transaction, and return the link and the click (see ``links.followable`` and ``record``),
    or None (and record nothing) when there is no such link.

    On PostgreSQL this is one statement, which also tells the transaction's commit not to
    wait for the write-ahead log to reach the disk (``synchronous_commit = off``, for this
    transaction only): a crash of the database server (not of Townhall) can lose the last
    fraction of a second of clicks, never corrupt or half-write one. The visitor's cookie
    carries the link and program, so a sign-up after a lost click is still attributed; only
    the click's count and evidence are gone. SQLite runs in WAL mode with
    ``synchronous=NORMAL`` (see forum.database), the same trade-off for every write there.
    On SQLite, where a statement costs no round trip, it is the two of ``followable`` and
    ``record``.
    """
    if connection.dialect.name != "postgresql":
        link = links.followable(connection, code, now)
        if link is None:
            return None
        click = record(connection, link.id, address_hash, user_agent, visitor_id, now, flood_limit)
        return link, click
    if not links.CODE_PATTERN.match(code):
        return None
    agent_class, crawler = classify_agent(user_agent)
    values = {
        "code_key": links.code_key(code),
        "now": now,
        "clicked_at": now,
        "address_hash": address_hash,
        "agent_class": agent_class,
        "visitor_id": visitor_id,
        "crawler": crawler,
        "since": now - FLOOD_WINDOW,
        "flood_limit": flood_limit,
    }
    rows = _FOLLOW.rows(connection, values)
    if not rows:
        return None
    (row,) = rows
    return links.FollowedLink(*row[:4]), RecordedClick(row[4], bool(row[5]))


@contextmanager
def own_transaction(connection: Connection | PooledDriverConnection) -> Iterator[None]:
    """The transaction of a click that ``follow`` records on a connection of its own (no
    ORM session), committed when the block ends without an error.

    On PostgreSQL ``follow`` is one statement, atomic by itself, so it runs in autocommit:
    the statement is its own transaction, one round trip instead of three (BEGIN, it,
    COMMIT), and its ``synchronous_commit = off`` holds for that transaction's commit. So
    the block must run nothing else. Elsewhere it is a transaction (on SQLite, BEGIN
    IMMEDIATE when the caller declared that it writes; always on a pool's
    ``PooledDriverConnection``, which no engine event sees).
    """
    if connection.dialect.name != "postgresql":
        if not isinstance(connection, PooledDriverConnection):
            with connection.begin():
                yield
            return
        driver = connection.connection.dbapi_connection
        begin_writing(driver)  # the write lock first, as every writing request takes it
        try:
            yield
        except BaseException:
            driver.rollback()
            raise
        driver.commit()
        return
    driver = connection.connection.dbapi_connection
    if driver.autocommit:  # the click lane's own connection, always in autocommit
        yield
        return
    driver.autocommit = True
    try:
        yield
    finally:
        if not driver.closed:  # (a dropped connection is discarded by the pool)
            driver.autocommit = False


def record(
    connection: Connection,
    link_id: int,
    address_hash: str,
    user_agent: str | None,
    visitor_id: int | None,
    now: datetime,
    flood_limit: int,
) -> RecordedClick:
    """Record a click on the link in one statement, on the session's ``connection``; return
    its id and whether it is a bot's: a known crawler's agent, or an address that already
    clicked ``flood_limit`` times within the last minute (checked by a subquery of the
    insert)."""
    agent_class, crawler = classify_agent(user_agent)
    values = {
        "link_id": link_id,
        "clicked_at": now,
        "address_hash": address_hash,
        "agent_class": agent_class,
        "visitor_id": visitor_id,
    }
    if crawler:
        statement = _INSERT_CRAWLER
    else:
        statement = _INSERT_CHECKED
        values.update(since=now - FLOOD_WINDOW, flood_limit=flood_limit)
    (row,) = statement.rows(connection, values)
    return RecordedClick(row[0], bool(row[1]))


def record_click(
    session: Session,
    link: Link,
    address_hash: str,
    user_agent: str | None,
    visitor_id: int | None,
    now: datetime,
    flood_limit: int,
) -> Click:
    """Record a click on the link (see ``record``) and return it as an entity."""
    recorded = record(
        session.connection(), link.id, address_hash, user_agent, visitor_id, now, flood_limit
    )
    return session.get(Click, recorded.id)


def click_counts(session: Session, link_id: int) -> tuple[int, int]:
    """Return the link's clicks by people and by bots."""
    rows = session.execute(
        sa.select(Click.is_bot, sa.func.count())
        .where(Click.link_id == link_id)
        .group_by(Click.is_bot)
    )
    counts = {is_bot: count for is_bot, count in rows}
    return counts.get(False, 0), counts.get(True, 0)
