"""Rate limits: sign-in per account and per address, sign-up per address, posting by age.

Limits count in Flask-Limiter's storage, which the ``app`` fixture resets for every test, so
each test starts from zero and can reach a limit deterministically.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import jsonify

from forum import create_app
from forum.boards.models import Post, Thread
from forum.database import utcnow
from forum.extensions import db, limiter
from tests.conftest import TEST_PASSWORD, Browser, csrf_token, make_user, require_redis

PROJECT = Path(__file__).resolve().parents[2]


def _sign_in(app, login: str, password: str, address: str = "203.0.113.7"):  # noqa: ANN001, ANN202
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    token = csrf_token(client, "/sign-in")
    return client.post("/sign-in", data={"csrf_token": token, "login": login,
                                         "password": password})  # fmt: skip


def test_failed_sign_ins_are_limited_per_account_whatever_the_address(app, member):
    db.session.commit()
    logins = ["ann", "ann@example.com", "ANN", "ann", "Ann@Example.com"]
    for n, login in enumerate(logins):  # 5 failures, from 5 addresses, by name and email
        assert _sign_in(app, login, "wrong password", f"198.51.100.{n}").status_code == 422
    blocked = _sign_in(app, "ann", TEST_PASSWORD, "192.0.2.99")
    assert blocked.status_code == 429
    html = blocked.get_data(as_text=True)
    assert "<h1>Slow down</h1>" in html
    assert "Too many failed sign-ins for this account" in html
    assert int(blocked.headers["Retry-After"]) > 0
    # Another account from the same addresses is not affected.
    make_user("otto")
    db.session.commit()
    assert _sign_in(app, "otto", TEST_PASSWORD, "198.51.100.1").status_code == 302


def test_failed_sign_ins_are_limited_per_address(app, member):
    db.session.commit()
    for n in range(10):
        assert _sign_in(app, f"nobody{n}", "guess", "203.0.113.50").status_code == 422
    blocked = _sign_in(app, "ann", TEST_PASSWORD, "203.0.113.50")
    assert blocked.status_code == 429
    assert "Too many failed sign-ins from your network" in blocked.get_data(as_text=True)
    assert _sign_in(app, "ann", TEST_PASSWORD, "203.0.113.51").status_code == 302


def test_successful_sign_ins_do_not_use_up_the_allowance(app, member):
    db.session.commit()
    for _ in range(12):
        assert _sign_in(app, "ann", TEST_PASSWORD).status_code == 302


def test_sign_ups_are_limited_per_address(app):
    def sign_up(n: int, address: str = "203.0.113.9"):  # noqa: ANN202
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        token = csrf_token(client, "/sign-up")
        return client.post("/sign-up", data={
            "csrf_token": token, "username": f"newbie{n}", "email": f"newbie{n}@example.com",
            "password": TEST_PASSWORD, "confirm": TEST_PASSWORD, "kind": "work"})  # fmt: skip

    assert [sign_up(n).status_code for n in range(5)] == [302] * 5
    blocked = sign_up(5)
    assert blocked.status_code == 429
    assert "Too many accounts were created from your network" in blocked.get_data(as_text=True)
    assert sign_up(6, "203.0.113.10").status_code == 302


def test_new_accounts_post_less_often_than_older_ones(app, board):
    newcomer = make_user("newcomer")
    browser = Browser(app.test_client()).sign_in(newcomer)
    thread = browser.post("/b/general/new", {"title": "Hello there", "body": "first"})
    assert thread.status_code == 302
    thread_id = db.session.scalar(sa.select(Thread.id))
    # Refused drafts do not count: only posts made do.
    assert browser.post(f"/t/{thread_id}/reply", {"body": " "}).status_code == 422
    assert [browser.post(f"/t/{thread_id}/reply", {"body": f"r{n}"}).status_code
            for n in range(2)] == [302, 302]  # fmt: skip
    blocked = browser.post(f"/t/{thread_id}/reply", {"body": "one more"})
    assert blocked.status_code == 429
    html = blocked.get_data(as_text=True)
    assert "during their first day" in html and "Your text was not posted" in html
    assert browser.post("/b/general/new", {"title": "Again", "body": "x"}).status_code == 429
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 3

    veteran = make_user("veteran")
    veteran.created_at = utcnow() - timedelta(days=2)
    old_hand = Browser(app.test_client()).sign_in(veteran)
    statuses = [old_hand.post(f"/t/{thread_id}/reply", {"body": f"v{n}"}).status_code
                for n in range(11)]  # fmt: skip
    assert statuses == [302] * 10 + [429]
    assert "You are posting too fast" in old_hand.post(
        f"/t/{thread_id}/reply", {"body": "again"}
    ).get_data(as_text=True)


def test_reports_are_limited_per_member(app, board):
    from tests.forum.moderation.conftest import make_thread

    author = make_user("author")
    reporter = make_user("reporter")
    posts = [make_thread(author, board, title=f"Thread {n}")[1][0] for n in range(11)]
    browser = Browser(app.test_client()).sign_in(reporter)
    statuses = [browser.post(f"/posts/{post.id}/report", {"reason": "spam"}).status_code
                for post in posts]  # fmt: skip
    assert statuses == [302] * 10 + [429]


def test_limited_api_requests_get_json():
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                      "RATELIMIT_STORAGE_URI": "memory://"})  # fmt: skip

    @app.get("/api/ping")
    @limiter.limit("2 per minute")
    def ping():  # noqa: ANN202
        return jsonify({"pong": True})

    limiter.reset()
    client = app.test_client()
    assert [client.get("/api/ping").status_code for _ in range(2)] == [200, 200]
    response = client.get("/api/ping")
    assert response.status_code == 429
    assert response.get_json() == {
        "code": 429, "status": "Too Many Requests",
        "message": "Too many requests. Please wait a little and try again.",
    }  # fmt: skip
    assert "Retry-After" in response.headers


REDIS_SCRIPT = textwrap.dedent(
    """
    import redis
    from flask import jsonify
    from forum import create_app
    from forum.extensions import limiter

    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    @app.get("/api/ping")
    @limiter.limit("2 per minute", key_func=lambda: "redis-check")
    def ping():
        return jsonify({"pong": True})

    try:
        limiter.reset()
    except redis.ConnectionError:
        pass
    client = app.test_client()
    print([client.get("/api/ping").status_code for _ in range(3)])
    try:
        keys = redis.Redis.from_url(app.config["RATELIMIT_STORAGE_URI"]).keys("*redis-check*")
        print(len(keys) > 0)
        limiter.reset()
    except redis.ConnectionError:
        print("unreachable")
    """
)


def _run_with_storage(url: str) -> list[str]:
    """Run REDIS_SCRIPT in a fresh process whose RATELIMIT_STORAGE_URI is ``url``."""
    env = {**os.environ, "RATELIMIT_STORAGE_URI": url}
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", REDIS_SCRIPT], cwd=PROJECT, env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\n")[:2]


def test_limits_are_shared_through_redis_when_configured():
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    require_redis(url)
    assert _run_with_storage(url) == ["[200, 200, 429]", "True"]


def test_limits_fall_back_to_memory_when_redis_is_down():
    # Nothing listens on port 1: requests still work, and limits still apply per process.
    assert _run_with_storage("redis://127.0.0.1:1/0") == ["[200, 200, 429]", "unreachable"]
