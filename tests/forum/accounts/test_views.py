"""Signing up, in and out through the pages."""

from __future__ import annotations

import sqlalchemy as sa

from forum.accounts.models import User
from forum.extensions import db
from forum.signals import member_signed_up
from tests.conftest import TEST_PASSWORD, csrf_token


def _sign_up(client, **overrides):  # noqa: ANN001, ANN003, ANN202
    data = {
        "csrf_token": csrf_token(client, "/sign-up"),
        "username": "Newbie",
        "email": "Newbie@Example.com",
        "password": TEST_PASSWORD,
        "confirm": TEST_PASSWORD,
        "kind": "both",
    }
    data.update(overrides)
    return client.post("/sign-up", data=data)


def test_sign_up_creates_a_member_and_signs_in(client) -> None:
    received = []

    def record(app, **kwargs) -> None:  # noqa: ANN001, ANN003
        received.append(kwargs["user"].username)

    member_signed_up.connect(record)
    try:
        response = _sign_up(client)
    finally:
        member_signed_up.disconnect(record)
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User))
    assert (user.username, user.email_key, user.hires, user.works) == (
        "Newbie",
        "newbie@example.com",
        True,
        True,
    )
    assert received == ["Newbie"]
    assert "Newbie" in client.get("/").get_data(as_text=True)


def test_sign_up_shows_field_errors_and_stores_nothing(client) -> None:
    response = _sign_up(client, email="not-an-email", confirm="different", kind="")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Invalid email address." in html and "The passwords differ." in html
    assert 'aria-invalid="true"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_sign_up_refuses_taken_username(client, member) -> None:
    response = _sign_up(client, username="ANN")
    assert response.status_code == 422
    assert "That username is taken." in response.get_data(as_text=True)


def test_sign_in_with_remember_me_and_sign_out(client, member) -> None:
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in",
        data={
            "csrf_token": token,
            "login": "ann@example.com",
            "password": TEST_PASSWORD,
            "remember": "y",
        },
    )
    assert response.status_code == 302
    assert any(c.key == "remember_token" for c in client._cookies.values())
    page = client.get("/").get_data(as_text=True)
    assert "Sign out" in page
    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})
    assert "Sign out" not in client.get("/").get_data(as_text=True)


def test_wrong_password_is_a_form_error(client, member) -> None:
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in", data={"csrf_token": token, "login": "ann", "password": "nope nope nope"}
    )
    assert response.status_code == 422
    assert "do not match" in response.get_data(as_text=True)


def test_banned_member_cannot_sign_in(app, signed_in, member) -> None:
    from forum.database import utcnow

    assert "Sign out" in signed_in.get("/").get_data(as_text=True)
    member.banned_at = utcnow()
    db.session.commit()
    assert "Sign out" not in signed_in.get("/").get_data(as_text=True)
    client = app.test_client()
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in", data={"csrf_token": token, "login": "ann", "password": TEST_PASSWORD}
    )
    assert response.status_code == 422 and "banned" in response.get_data(as_text=True)


def test_pages_carry_security_headers(client) -> None:
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # A shared cache must never keep a page: it may be a member's, even one ignoring Vary.
    assert response.headers["Cache-Control"] == "private"
    static = client.get("/static/townhall.css")
    static.close()
    assert static.headers["Cache-Control"] == "no-cache"  # Flask's own, kept


def test_session_cookie_is_httponly_and_lax(client, member) -> None:
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in", data={"csrf_token": token, "login": "ann", "password": TEST_PASSWORD}
    )
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
