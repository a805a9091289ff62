"""Clicks: coarse user-agent classes, crawlers and floods flagged as bots, counts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forum.database import utcnow
from forum.extensions import db
from referrals import clicks
from tests.referrals.factories import make_link, make_program

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (IPHONE, ("mobile", False)),
        (FIREFOX, ("desktop", False)),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", ("tablet", False)),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36", ("mobile", False)),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ("bot", True)),
        ("facebookexternalhit/1.1", ("bot", True)),
        ("Slackbot-LinkExpanding 1.0", ("bot", True)),
        ("curl/8.5.0", ("bot", True)),
        ("python-requests/2.32", ("bot", True)),
        ("Mozilla/5.0 HeadlessChrome/120.0", ("bot", True)),
        ("", ("unknown", False)),
        (None, ("unknown", False)),
    ],
)
def test_agent_classes(agent, expected) -> None:
    assert clicks.classify_agent(agent) == expected


def test_crawlers_are_recorded_as_bots(app) -> None:
    link = make_link(make_program())
    click = clicks.record_click(db.session, link, "h1", "Googlebot/2.1", None, utcnow(), 20)
    assert (click.is_bot, click.bot_reason, click.agent_class) == (True, "crawler", "bot")
    assert clicks.click_counts(db.session, link.id) == (0, 1)


def test_a_flood_from_one_address_is_flagged_until_it_calms_down(app) -> None:
    link = make_link(make_program())
    now = utcnow()
    made = [clicks.record_click(db.session, link, "same", FIREFOX, None, now, 3) for _ in range(5)]
    assert [c.bot_reason for c in made] == [None, None, None, "flood", "flood"]
    other = clicks.record_click(db.session, link, "another", FIREFOX, None, now, 3)
    assert not other.is_bot
    later = clicks.record_click(
        db.session, link, "same", FIREFOX, None, now + timedelta(minutes=2), 3
    )
    assert not later.is_bot
    assert clicks.click_counts(db.session, link.id) == (5, 2)


def test_following_records_the_click_and_answers_the_link(app) -> None:
    link = make_link(make_program())
    followed = clicks.follow(
        db.session.connection(), link.code.upper(), "h", FIREFOX, None, utcnow(), 20
    )
    assert followed is not None
    found, click = followed
    assert (found.id, found.program_id, found.target) == (link.id, link.program_id, link.target)
    assert not click.is_bot
    crawled = clicks.follow(
        db.session.connection(), link.code, "h", "Googlebot/2.1", None, utcnow(), 20
    )
    assert crawled is not None and crawled[1].is_bot
    assert (
        clicks.follow(db.session.connection(), "no-such-code", "h", FIREFOX, None, utcnow(), 20)
        is None
    )
    assert clicks.click_counts(db.session, link.id) == (1, 1)


@pytest.mark.databases("postgresql")
def test_a_clicks_commit_does_not_wait_for_the_disk(app) -> None:
    link = make_link(make_program())
    assert (
        clicks.follow(db.session.connection(), link.code, "h", FIREFOX, None, utcnow(), 20)
        is not None
    )
    setting = db.session.connection().exec_driver_sql("SHOW synchronous_commit").scalar()
    assert setting == "off"  # set by the click's own statement, for its transaction only
