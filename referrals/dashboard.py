"""A referrer's dashboard: totals, per-day series and per-link counts, aggregated in SQL.

Every function here costs a fixed number of queries, whatever the number of links, clicks,
referrals or rewards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from forum.accounts.models import User
from referrals.models import (
    MONEY_KINDS,
    Click,
    Link,
    Referral,
    Reward,
    RewardStatus,
)

PERIODS = (30, 90)
REFERRALS_PER_PAGE = 25


@dataclass(frozen=True)
class Totals:
    clicks: int
    unique_visitors: int
    sign_ups: int
    referee_spend_cents: int
    # Money (cash, credit, revenue share) by reward status, and how many rewards of any kind.
    reward_cents: dict[str, int]
    reward_counts: dict[str, int]

    @property
    def conversion_percent(self) -> float | None:
        """Return sign-ups per unique visitor, in percent (None before any visitor)."""
        if not self.unique_visitors:
            return None
        return round(100 * self.sign_ups / self.unique_visitors, 1)


@dataclass(frozen=True)
class Day:
    day: date
    clicks: int
    sign_ups: int
    rewards: int
    reward_cents: int


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def utc_day(session: Session, column: Any) -> Any:
    """Return an SQL expression for the UTC calendar day of a timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)  # SQLite stores UTC without a zone


def totals(session: Session, referrer_id: int) -> Totals:
    """Return the referrer's totals over all time (three queries)."""
    clicks, visitors = session.execute(
        sa.select(sa.func.count(Click.id), sa.func.count(sa.distinct(Click.address_hash)))
        .join(Link, Link.id == Click.link_id)
        .where(Link.referrer_id == referrer_id, Click.is_bot.is_(False))
    ).one()
    sign_ups, spend = session.execute(
        sa.select(
            sa.func.count(Referral.id), sa.func.coalesce(sa.func.sum(Referral.net_cents), 0)
        ).where(Referral.referrer_id == referrer_id)
    ).one()
    money = sa.case((Reward.kind.in_([k.value for k in MONEY_KINDS]), Reward.amount), else_=0)
    by_status = session.execute(
        sa.select(Reward.status, sa.func.count(Reward.id), sa.func.coalesce(sa.func.sum(money), 0))
        .where(Reward.referrer_id == referrer_id)
        .group_by(Reward.status)
    ).all()
    statuses = [s.value for s in RewardStatus]
    counts = dict.fromkeys(statuses, 0) | {status: count for status, count, _ in by_status}
    cents = dict.fromkeys(statuses, 0) | {status: int(total) for status, _, total in by_status}
    return Totals(clicks, visitors, sign_ups, int(spend), cents, counts)


def daily(session: Session, referrer_id: int, days: int, now: datetime) -> list[Day]:
    """Return one Day per UTC day of the last ``days`` days (today included), oldest first,
    with the clicks by people, sign-ups, and rewards created that day (three queries)."""
    today = now.date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    click_day = utc_day(session, Click.clicked_at)
    clicks = dict(
        session.execute(
            sa.select(click_day, sa.func.count(Click.id))
            .join(Link, Link.id == Click.link_id)
            .where(
                Link.referrer_id == referrer_id,
                Click.is_bot.is_(False),
                Click.clicked_at >= since,
            )
            .group_by(click_day)
        ).all()
    )
    signup_day = utc_day(session, Referral.created_at)
    sign_ups = dict(
        session.execute(
            sa.select(signup_day, sa.func.count(Referral.id))
            .where(Referral.referrer_id == referrer_id, Referral.created_at >= since)
            .group_by(signup_day)
        ).all()
    )
    reward_day = utc_day(session, Reward.created_at)
    money = sa.case((Reward.kind.in_([k.value for k in MONEY_KINDS]), Reward.amount), else_=0)
    reward_rows = session.execute(
        sa.select(reward_day, sa.func.count(Reward.id), sa.func.coalesce(sa.func.sum(money), 0))
        .where(Reward.referrer_id == referrer_id, Reward.created_at >= since)
        .group_by(reward_day)
    ).all()
    clicks = {_as_date(k): v for k, v in clicks.items()}
    sign_ups = {_as_date(k): v for k, v in sign_ups.items()}
    rewards = {_as_date(k): (count, int(cents)) for k, count, cents in reward_rows}
    return [
        Day(
            day,
            clicks.get(day, 0),
            sign_ups.get(day, 0),
            rewards.get(day, (0, 0))[0],
            rewards.get(day, (0, 0))[1],
        )
        for day in (first + timedelta(days=n) for n in range(days))
    ]


@dataclass(frozen=True)
class LinkRow:
    link: Link
    clicks: int
    sign_ups: int


def link_rows(session: Session, referrer_id: int) -> list[LinkRow]:
    """Return the referrer's links, newest first, each with its clicks by people and sign-ups
    (three queries)."""
    links = session.scalars(
        sa.select(Link)
        .where(Link.referrer_id == referrer_id)
        .options(selectinload(Link.program))
        .order_by(Link.id.desc())
    ).all()
    clicks = dict(
        session.execute(
            sa.select(Click.link_id, sa.func.count(Click.id))
            .join(Link, Link.id == Click.link_id)
            .where(Link.referrer_id == referrer_id, Click.is_bot.is_(False))
            .group_by(Click.link_id)
        ).all()
    )
    sign_ups = dict(
        session.execute(
            sa.select(Referral.link_id, sa.func.count(Referral.id))
            .where(Referral.referrer_id == referrer_id)
            .group_by(Referral.link_id)
        ).all()
    )
    return [LinkRow(link, clicks.get(link.id, 0), sign_ups.get(link.id, 0)) for link in links]


@dataclass(frozen=True)
class ReferralPage:
    referrals: list[Referral]
    number: int
    pages: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def referral_page(
    session: Session, referrer: User, number: int, per_page: int = REFERRALS_PER_PAGE
) -> ReferralPage:
    """Return one page of the referrer's referrals, newest first, with the referee and program
    loaded (a fixed number of queries)."""
    count = session.scalar(
        sa.select(sa.func.count(Referral.id)).where(Referral.referrer_id == referrer.id)
    )
    pages = max(1, -(-(count or 0) // per_page))
    number = min(max(1, number), pages)
    referrals = session.scalars(
        sa.select(Referral)
        .where(Referral.referrer_id == referrer.id)
        .options(selectinload(Referral.referee), selectinload(Referral.program))
        .order_by(Referral.id.desc())
        .limit(per_page)
        .offset((number - 1) * per_page)
    ).all()
    return ReferralPage(list(referrals), number, pages)
