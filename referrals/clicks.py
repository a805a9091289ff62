"""Clicks on referral links: recorded always, counted only when a person (not a bot) made them."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

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


def classify_agent(user_agent: str | None) -> tuple[str, bool]:
    """Return a coarse class for a user agent (bot, mobile, tablet, desktop or unknown) and
    whether it is a known crawler."""
    agent = (user_agent or "").lower()
    if not agent:
        return "unknown", False
    if any(marker in agent for marker in CRAWLER_MARKERS):
        return "bot", True
    if "ipad" in agent or "tablet" in agent:
        return "tablet", False
    if "mobi" in agent or "android" in agent or "iphone" in agent:
        return "mobile", False
    return "desktop", False


def record_click(
    session: Session,
    link: Link,
    address_hash: str,
    user_agent: str | None,
    visitor_id: int | None,
    now: datetime,
    flood_limit: int,
) -> Click:
    """Record a click on the link and return it, flagged as a bot's when the agent is a known
    crawler or the address already clicked ``flood_limit`` times within the last minute."""
    agent_class, crawler = classify_agent(user_agent)
    bot_reason = "crawler" if crawler else None
    if bot_reason is None:
        recent = (
            sa.select(Click.id)
            .where(Click.address_hash == address_hash, Click.clicked_at > now - FLOOD_WINDOW)
            .limit(flood_limit)
        )  # counting stops at the limit, however long the flood
        if session.scalar(sa.select(sa.func.count()).select_from(recent.subquery())) >= flood_limit:
            bot_reason = "flood"
    click = Click(
        link_id=link.id,
        clicked_at=now,
        address_hash=address_hash,
        agent_class=agent_class,
        is_bot=bot_reason is not None,
        bot_reason=bot_reason,
        visitor_id=visitor_id,
    )
    session.add(click)
    session.flush()
    return click


def click_counts(session: Session, link_id: int) -> tuple[int, int]:
    """Return the link's clicks by people and by bots."""
    rows = session.execute(
        sa.select(Click.is_bot, sa.func.count())
        .where(Click.link_id == link_id)
        .group_by(Click.is_bot)
    )
    counts = {is_bot: count for is_bot, count in rows}
    return counts.get(False, 0), counts.get(True, 0)
