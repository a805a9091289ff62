"""Signed-cookie sessions: a cookie verified once opens again from memory, exactly as
verifying it again would (its signature, its keys, its age)."""

from __future__ import annotations

import time
import uuid

import pytest
from flask import Flask

from forum.sessions import CachedSerializerSessionInterface

# Unique to this run: the app (and the cookies it remembers) lives for the whole session.
TOKEN = f"1.0.{uuid.uuid4().hex}"


def _cookie(app: Flask, data: dict) -> str:
    interface = app.session_interface
    return interface.get_signing_serializer(app).dumps(data)


def _open(app: Flask, cookie: str) -> dict:
    name = app.config["SESSION_COOKIE_NAME"]
    with app.test_request_context(headers={"Cookie": f"{name}={cookie}"}) as context:
        return dict(app.session_interface.open_session(app, context.request))


@pytest.fixture
def counted_loads(app: Flask, monkeypatch) -> list[str]:  # noqa: ANN001
    assert isinstance(app.session_interface, CachedSerializerSessionInterface)
    serializer = app.session_interface.get_signing_serializer(app)
    calls: list[str] = []
    loads = serializer.loads

    def counting(cookie, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(cookie)
        return loads(cookie, *args, **kwargs)

    monkeypatch.setattr(serializer, "loads", counting)
    return calls


def test_a_verified_cookie_opens_again_without_verifying(app, counted_loads) -> None:
    cookie = _cookie(app, {"_user_id": TOKEN, "csrf_token": "abc", "_fresh": True})
    first, again = _open(app, cookie), _open(app, cookie)
    assert first == again == {"_user_id": TOKEN, "csrf_token": "abc", "_fresh": True}
    assert counted_loads == [cookie]


def test_a_changed_cookie_is_verified_and_refused(app, counted_loads) -> None:
    cookie = _cookie(app, {"_user_id": TOKEN, "test": "changed"})
    assert _open(app, cookie) == {"_user_id": TOKEN, "test": "changed"}
    tampered = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
    assert _open(app, tampered) == {}
    # (Entering a request context opens its session too: each _open opens twice.)
    assert counted_loads.count(cookie) == 1 and counted_loads.count(tampered) == 2


def test_a_remembered_cookie_still_expires(app, monkeypatch) -> None:
    cookie = _cookie(app, {"_user_id": TOKEN})
    assert _open(app, cookie) == {"_user_id": TOKEN}
    lifetime = app.permanent_session_lifetime.total_seconds()
    later = time.time() + lifetime + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert _open(app, cookie) == {}


def test_a_remembered_cookie_is_refused_after_the_key_changes(app, monkeypatch) -> None:
    cookie = _cookie(app, {"_user_id": TOKEN})
    assert _open(app, cookie) == {"_user_id": TOKEN}
    monkeypatch.setattr(app, "secret_key", "another key")
    assert _open(app, cookie) == {}


def test_each_request_changes_its_own_copy(app, counted_loads) -> None:
    cookie = _cookie(app, {"_user_id": TOKEN, "test": "copy"})
    name = app.config["SESSION_COOKIE_NAME"]
    with app.test_request_context(headers={"Cookie": f"{name}={cookie}"}) as context:
        opened = app.session_interface.open_session(app, context.request)
        opened["_user_id"] = "2.0.other"
    assert _open(app, cookie) == {"_user_id": TOKEN, "test": "copy"}
    # A session with a list (flashed messages) is never remembered: it could change in place.
    flashed = _cookie(app, {"_flashes": [["info", TOKEN]]})
    assert _open(app, flashed) == _open(app, flashed) == {"_flashes": [["info", TOKEN]]}
    assert counted_loads.count(flashed) == 4
