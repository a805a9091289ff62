"""Following a referral link (``/r/<code>``): count the click, sign the attribution cookie,
answer where to go. Served by the ``follow`` view, and for visitors without a session by
``ClickLane`` before Flask's request machinery: the busiest request of the site."""

from __future__ import annotations

import functools
import html
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from werkzeug.http import http_date

from forum.database import PooledDriverConnection, utcnow
from forum.extensions import db
from forum.redirects import safe_local_path
from referrals import addresses, attribution, clicks
from referrals.links import FollowedLink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClickAnswer:
    """Where a followed link sends the visitor, and the attribution cookie to set (None for
    an unknown code or a bot's click)."""

    location: str
    cookie: str | None = None
    cookie_max_age: int = 0


def follow_link(
    session: Session,
    config: Mapping[str, Any],
    code: str,
    address: str | None,
    user_agent: str | None,
    visitor_id: int | None,
    home: str,
) -> ClickAnswer:
    """Record a click on the link with this code and commit it; answer the link's page and
    the signed attribution, or ``home`` (recording nothing) when no followable link has it.

    The session's transaction must take the write lock (``start_writing``): it writes.
    """
    now = utcnow()
    hashed = addresses.address_hash(config["SECRET_KEY"], address)
    followed = clicks.follow(
        session.connection(),
        code,
        hashed,
        user_agent,
        visitor_id,
        now,
        config["REFERRALS_CLICK_FLOOD_LIMIT"],
    )
    if followed is None:
        return ClickAnswer(home)
    if visitor_id is not None:
        addresses.remember_address(session, visitor_id, hashed, now)
    session.commit()
    return _answer(config, followed, now, home)


def follow_link_as_visitor(
    connection: Connection | PooledDriverConnection,
    config: Mapping[str, Any],
    code: str,
    address: str | None,
    user_agent: str | None,
    home: str,
) -> ClickAnswer:
    """``follow_link`` for a visitor who is not signed in, on a ``connection`` of its own
    (no ORM session: its transaction bookkeeping cost as much as the click's statements),
    committed in ``clicks.own_transaction``."""
    now = utcnow()
    with clicks.own_transaction(connection):
        followed = clicks.follow(
            connection,
            code,
            addresses.address_hash(config["SECRET_KEY"], address),
            user_agent,
            None,
            now,
            config["REFERRALS_CLICK_FLOOD_LIMIT"],
        )
    if followed is None:
        return ClickAnswer(home)
    return _answer(config, followed, now, home)


def _answer(
    config: Mapping[str, Any],
    followed: tuple[FollowedLink, clicks.RecordedClick],
    now: datetime,
    home: str,
) -> ClickAnswer:
    link, click = followed
    location = _safe_target(link.target) or home
    if click.is_bot:
        return ClickAnswer(location)
    cookie = attribution.sign_attribution(
        config["SECRET_KEY"], attribution.Attribution(link.program_id, link.id, click.id, now)
    )
    return ClickAnswer(location, cookie, link.attribution_days * 86400)


@functools.lru_cache(maxsize=1024)
def _safe_target(target: str) -> str:
    # A link's target is checked again on the way out; links are few, their targets fewer.
    return safe_local_path(target, "")


def cookie_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """How the attribution cookie is set, by the view and the lane alike."""
    return {"httponly": True, "samesite": "Lax", "secure": config["SESSION_COOKIE_SECURE"]}


# The lane's cookie attributes, as ``dump_cookie`` writes them: the expiry moves once a second.
_COOKIE_ATTRIBUTES: dict[tuple[int, bool], tuple[int, str]] = {}


def attribution_cookie(value: str, max_age: int, secure: bool) -> str:
    """Return the ``Set-Cookie`` value ``dump_cookie`` makes of the attribution cookie with
    ``cookie_options`` (the same attributes, in its order, expiring ``max_age`` seconds from
    now), built once a second: ``dump_cookie`` (quoting, path quoting, the date) cost a
    twentieth of a click. ``value`` is a signed attribution: URL-safe base64 and dots, which
    a cookie carries unquoted."""
    second = int(time.time())
    found = _COOKIE_ATTRIBUTES.get((max_age, secure))
    if found is None or found[0] != second:
        attributes = "; ".join(
            [
                f"Expires={http_date(second + max_age)}",
                f"Max-Age={max_age}",
                *(["Secure"] if secure else []),
                "HttpOnly",
                "Path=/",
                "SameSite=Lax",
            ]
        )
        if len(_COOKIE_ATTRIBUTES) > 64:
            _COOKIE_ATTRIBUTES.clear()
        found = _COOKIE_ATTRIBUTES[(max_age, secure)] = (second, attributes)
    return f"{attribution.COOKIE_NAME}={value}; {found[1]}"


class ClickLane:
    """WSGI middleware answering ``GET /r/<code>`` for a visitor without a session.

    Such a visitor (most of them, and every crawler) needs nothing of Flask's request
    machinery: no session, no signed-in member, no form, no template. That machinery cost
    twice what the click itself does (a request context, session and cookies opened and
    saved, before/after hooks). The lane runs ``follow_link_as_visitor`` on a connection of
    its own, used straight on its driver (``PooledDriverConnection``: no app context, no
    SQLAlchemy ``Connection`` or ``Transaction``, whose bookkeeping and events cost more than
    SQLite's statements), and builds the redirect itself. The connection comes from the
    app's pool once per process and thread and is then kept (the pool's checkout and
    checkin, and on PostgreSQL switching autocommit on and off, were a tenth of a click):
    on PostgreSQL it stays in autocommit, and after any failure it is closed and the next
    click connects anew. Anything else, a visitor with
    a session cookie (their click is theirs, and their address remembered), or a failure
    before the click was committed, goes on to Flask's ``follow`` view.
    """

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        config = app.config
        self._session_cookies = (
            config["SESSION_COOKIE_NAME"],
            config.get("REMEMBER_COOKIE_NAME", "remember_token"),
        )
        self._engine: Engine | None = None
        # One connection per process and thread, held from its first click on (see _hold),
        # closed when the lane goes or the process ends.
        self._held: dict[tuple[int, int], PooledDriverConnection] = {}
        weakref.finalize(self, _close_held, self._held)
        self._locations: dict[tuple[str, str], str] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if (
            not path.startswith("/r/")
            or environ.get("REQUEST_METHOD") != "GET"
            or "/" in path[3:]
            or len(path) == 3
        ):
            return self.wsgi_app(environ, start_response)
        cookies = environ.get("HTTP_COOKIE", "")
        if cookies and any(name in cookies for name in self._session_cookies):
            return self.wsgi_app(environ, start_response)
        if db.session.session_factory.kw.get("bind") is not None:
            # The app's session is bound to one connection (an outer transaction, as in the
            # tests' ``app`` fixture): the lane has no connection of its own to take.
            return self.wsgi_app(environ, start_response)
        config = self.app.config
        script_root = environ.get("SCRIPT_NAME", "")
        key = (os.getpid(), threading.get_ident())
        try:
            connection = self._held.get(key) or self._hold(key)
            answer = follow_link_as_visitor(
                connection,
                config,
                path[3:],
                environ.get("REMOTE_ADDR"),
                environ.get("HTTP_USER_AGENT"),
                script_root + "/",
            )
        except Exception:  # noqa: BLE001 - nothing was committed: the view answers (and logs)
            log.debug("the click lane handed /r/ on to the view", exc_info=True)
            self._let_go(key)
            return self.wsgi_app(environ, start_response)
        location = answer.location
        body = _redirect_body(location)
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Location", location),
            ("Cache-Control", "no-store"),
        ]
        if answer.cookie is not None:
            headers.append(
                (
                    "Set-Cookie",
                    attribution_cookie(
                        answer.cookie, answer.cookie_max_age, config["SESSION_COOKIE_SECURE"]
                    ),
                )
            )
        start_response("302 FOUND", headers)
        return [body]

    def _hold(self, key: tuple[int, int]) -> PooledDriverConnection:
        self._let_go_of_ended_threads()
        if self._engine is None:
            # Looked up once: Flask-SQLAlchemy finds an app's engine in its app context.
            with self.app.app_context():
                self._engine = db.engine
        connection = PooledDriverConnection(self._engine)
        connection.connection.detach()  # the lane's own from now on: the pool forgets it
        if connection.dialect.name == "postgresql":
            # Its one statement is its own transaction (clicks.own_transaction), and nothing
            # else runs on it.
            connection.driver.autocommit = True
        self._held[key] = connection
        return connection

    def _let_go_of_ended_threads(self) -> None:
        # A server that starts a thread per request (Flask's development server) would
        # otherwise keep a connection for every thread it ever ran. A new thread's first
        # click is rare, so looking at the living threads then costs nothing that matters.
        pid = os.getpid()
        alive = {thread.ident for thread in threading.enumerate()}
        for key in [key for key in self._held if key[0] == pid and key[1] not in alive]:
            self._let_go(key)

    def _let_go(self, key: tuple[int, int]) -> None:
        # After a failure the connection may be broken: the next click connects anew.
        connection = self._held.pop(key, None)
        if connection is not None:
            _close_quietly(connection)


def _close_held(held: dict[tuple[int, int], PooledDriverConnection]) -> None:
    # Only this process's own: a forked worker inherits its parent's (the same sockets),
    # which closing here would close for the parent too.
    pid = os.getpid()
    for key in [key for key in held if key[0] == pid]:
        _close_quietly(held.pop(key))


def _close_quietly(connection: PooledDriverConnection) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - already broken: nothing more to let go of
        log.debug("closing the click lane's connection failed", exc_info=True)


@functools.lru_cache(maxsize=1024)
def _redirect_body(location: str) -> bytes:
    # As Flask's redirect(): a page for the rare client that does not follow Location.
    escaped = html.escape(location)
    return (
        "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
        f'<p>You should be redirected automatically to the target URL: <a href="{escaped}">'
        f"{escaped}</a>. If not, click the link.\n"
    ).encode()
