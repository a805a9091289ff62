"""The click lane: a session-less visitor's /r/<code> answered before Flask, exactly as the
view answers a signed-in member's."""

from __future__ import annotations

import os
import threading
import time

import pytest
import sqlalchemy as sa
from flask import has_request_context
from werkzeug.http import dump_cookie

from forum.database import utcnow
from forum.extensions import db
from referrals import attribution, clicks, following
from referrals.models import Click, MemberAddress
from tests.conftest import Browser, make_user
from tests.referrals.factories import make_link, make_program

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _visitor(app, address: str = "198.51.100.30"):  # noqa: ANN001, ANN202
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": address, "HTTP_USER_AGENT": FIREFOX})
    return client


def _clicks() -> list[Click]:
    db.session.rollback()  # a fresh look: the lane commits on a connection of its own
    return list(db.session.scalars(sa.select(Click).order_by(Click.id)))


@pytest.fixture
def served_by(monkeypatch) -> list[str]:  # noqa: ANN001
    """Which of the two recorded each click: "lane" (before Flask) or "view"."""
    served: list[str] = []
    real_follow = clicks.follow

    def follow(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        served.append("view" if has_request_context() else "lane")
        return real_follow(*args, **kwargs)

    monkeypatch.setattr(clicks, "follow", follow)
    return served


# The lane takes connections of its own from the engine, so its tests commit (committed_app);
# under the ``app`` fixture's one pinned connection it hands every click to the view.


def test_the_lane_and_the_view_answer_alike(committed_app, served_by) -> None:
    app = committed_app
    link = make_link(make_program(), code="alike", target="/b/clients")
    member = make_user("ann")
    db.session.commit()
    lane = _visitor(app).get("/r/alike")
    browser = Browser(_visitor(app, "198.51.100.31")).sign_in(member)
    view = browser.get("/r/alike")
    assert served_by == ["lane", "view"]
    for response in (lane, view):
        assert (response.status_code, response.location) == (302, "/b/clients")
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert response.headers["X-Frame-Options"] == "DENY"
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith(f"{attribution.COOKIE_NAME}=")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert f"Max-Age={link.program.attribution_days * 86400}" in cookie
    lane_click, view_click = _clicks()
    assert lane_click.visitor_id is None and view_click.visitor_id == member.id
    assert not lane_click.is_bot and not view_click.is_bot
    # Only the view knows the member: the address they clicked from is theirs now.
    assert db.session.scalar(sa.select(MemberAddress.user_id)) == member.id
    # The cookie names the click the lane committed.
    signed = lane.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    remembered = attribution.read_attribution(app.config["SECRET_KEY"], signed, 3600)
    assert (remembered.link_id, remembered.click_id) == (link.id, lane_click.id)


def test_the_lane_sends_unknown_codes_home_with_no_cookie(committed_app, served_by) -> None:
    response = _visitor(committed_app).get("/r/nothing-here")
    assert served_by == ["lane"]
    assert (response.status_code, response.location) == (302, "/")
    assert "Set-Cookie" not in response.headers
    assert _clicks() == []


def test_the_lane_flags_crawlers_and_floods_as_the_view_does(committed_app, served_by) -> None:
    make_link(make_program(), code="crawled")
    db.session.commit()
    crawler = committed_app.test_client()
    crawler.environ_base["HTTP_USER_AGENT"] = "Googlebot/2.1"
    assert "Set-Cookie" not in crawler.get("/r/crawled").headers
    limit = committed_app.config["REFERRALS_CLICK_FLOOD_LIMIT"]
    flood = [_visitor(committed_app).get("/r/crawled") for _ in range(limit + 1)]
    assert "Set-Cookie" in flood[0].headers and "Set-Cookie" not in flood[-1].headers
    assert set(served_by) == {"lane"}
    assert [c.bot_reason for c in _clicks()] == ["crawler"] + [None] * limit + ["flood"]


def test_what_the_lane_does_not_serve_reaches_flask(committed_app, served_by) -> None:
    make_link(make_program(), code="posted")
    db.session.commit()
    client = _visitor(committed_app)
    assert client.post("/r/posted").status_code in (400, 405)  # no click on a POST
    assert client.get("/r/").status_code == 404
    assert client.get("/r/posted/extra").status_code == 404
    assert client.head("/r/posted").status_code == 302  # Flask's GET view answers HEAD
    assert served_by == ["view"]
    assert len(_clicks()) == 1


def test_a_failure_in_the_lane_is_answered_by_the_view(committed_app, monkeypatch) -> None:
    make_link(make_program(), code="flaky")
    db.session.commit()
    real_follow = clicks.follow
    lane_calls = []

    def follow_failing_outside_requests(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not has_request_context():  # the lane's call; the view's runs in a request
            lane_calls.append(1)
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real_follow(*args, **kwargs)

    monkeypatch.setattr(clicks, "follow", follow_failing_outside_requests)
    response = _visitor(committed_app).get("/r/flaky")
    assert lane_calls == [1]
    assert response.status_code == 302 and response.headers["Set-Cookie"]
    assert len(_clicks()) == 1  # counted once, by the view


def test_the_lanes_transaction_ends_with_its_block(committed_app) -> None:
    link = make_link(make_program(), code="own")
    db.session.commit()
    with db.engine.connect() as connection:
        with clicks.own_transaction(connection):
            assert clicks.follow(connection, "own", "h", FIREFOX, None, utcnow(), 20)
        assert not connection.in_transaction()
        driver = connection.connection.driver_connection
        postgresql = connection.dialect.name == "postgresql"
        if postgresql:
            from psycopg.pq import TransactionStatus

            # One statement in autocommit: committed, nothing open, and the connection goes
            # back to the pool as it came (transactions for whoever takes it next).
            assert driver.info.transaction_status == TransactionStatus.IDLE
            assert driver.autocommit is False
        else:
            assert not driver.in_transaction
        with pytest.raises(RuntimeError), clicks.own_transaction(connection):
            assert clicks.follow(connection, "own", "h2", FIREFOX, None, utcnow(), 20)
            raise RuntimeError("after the click")
    # SQLite's block is a transaction, rolled back; PostgreSQL's statement was its own.
    assert [c.link_id for c in _clicks()] == [link.id] * (2 if postgresql else 1)


def test_with_the_sessions_connection_pinned_the_view_answers(app, served_by) -> None:
    make_link(make_program(), code="pinned")
    response = _visitor(app).get("/r/pinned")
    assert response.status_code == 302 and response.headers["Set-Cookie"]
    assert served_by == ["view"]


def test_the_lane_is_in_front_of_flask(app) -> None:
    lane = app.wsgi_app
    while not isinstance(lane, following.ClickLane):
        lane = lane.app  # security headers, then the proxy fix when there is one
    assert lane.wsgi_app.__self__ is app  # Flask's own wsgi_app behind it


@pytest.mark.parametrize("secure", [False, True])
@pytest.mark.parametrize("days", [1, 30, 365])
def test_the_lanes_cookie_is_the_one_dump_cookie_makes(secure, days) -> None:
    value = attribution.sign_attribution(
        "key", attribution.Attribution(7, 8, 9_000_000_001, utcnow())
    )
    options = following.cookie_options({"SESSION_COOKIE_SECURE": secure})
    while True:  # both within one second (the expiry is to the second)
        second = int(time.time())
        lane = following.attribution_cookie(value, days * 86400, secure)
        view = dump_cookie(
            attribution.COOKIE_NAME, value, max_age=days * 86400, path="/", **options
        )
        if int(time.time()) == second:
            break
    assert lane == view


def _lane(app):  # noqa: ANN001, ANN202
    lane = app.wsgi_app
    while not isinstance(lane, following.ClickLane):
        lane = lane.app
    return lane


def test_the_lane_keeps_its_connection_and_lets_a_broken_one_go(committed_app, served_by) -> None:
    make_link(make_program(), code="kept")
    db.session.commit()
    lane = _lane(committed_app)
    assert _visitor(committed_app).get("/r/kept").status_code == 302
    (held,) = lane._held.values()
    assert _visitor(committed_app, "198.51.100.32").get("/r/kept").status_code == 302
    assert list(lane._held.values()) == [held]  # the same connection, not the pool's next
    if held.dialect.name == "postgresql":
        assert held.driver.autocommit  # the lane's own: its one statement commits itself
    held.driver.close()  # as a server restart or an idle timeout would
    broken = _visitor(committed_app, "198.51.100.33").get("/r/kept")
    assert broken.status_code == 302 and broken.headers["Set-Cookie"]
    assert lane._held == {}  # let go; the view answered and counted the click
    assert _visitor(committed_app, "198.51.100.34").get("/r/kept").status_code == 302
    # (On PostgreSQL the lane's follow ran and failed; on SQLite its BEGIN failed first.)
    assert served_by in (["lane", "lane", "lane", "view", "lane"], ["lane", "lane", "view", "lane"])
    assert len(_clicks()) == 4
    (again,) = lane._held.values()
    assert again is not held


def test_the_connection_of_a_thread_that_ended_is_let_go(committed_app) -> None:
    make_link(make_program(), code="threads")
    db.session.commit()
    lane = _lane(committed_app)

    def click(address: str) -> None:
        assert _visitor(committed_app, address).get("/r/threads").status_code == 302

    for key in list(lane._held):  # (from earlier tests)
        lane._let_go(key)
    worker = threading.Thread(target=click, args=("198.51.100.40",))
    worker.start()
    worker.join()
    (ended,) = lane._held.values()  # the ended thread's connection, still held
    click("198.51.100.41")  # this thread's first click looks at the living threads
    assert ended not in lane._held.values() and len(lane._held) == 1
    assert ended.connection.dbapi_connection is None or _closed(ended)
    assert len(_clicks()) == 2


def _closed(connection) -> bool:  # noqa: ANN001
    driver = connection.driver
    if connection.dialect.name == "postgresql":
        return driver.closed
    try:
        driver.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - sqlite3.ProgrammingError: a closed database
        return True
    return False


def test_a_process_closes_only_its_own_held_connections() -> None:
    class Closing:
        closed = 0

        def close(self) -> None:
            Closing.closed += 1

    mine, parents = Closing(), Closing()
    held = {(os.getpid(), 1): mine, (os.getpid() + 1, 1): parents}
    following._close_held(held)
    # A forked worker inherits its parent's connections (the same sockets): left alone.
    assert held == {(os.getpid() + 1, 1): parents} and Closing.closed == 1
