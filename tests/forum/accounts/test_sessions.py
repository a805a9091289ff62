"""Server-side sessions: signing out, password changes and bans end them for real."""

from __future__ import annotations

from forum.accounts import sessions
from forum.database import utcnow
from forum.extensions import db
from tests.conftest import (
    TEST_PASSWORD,
    Browser,
    cookies_of,
    csrf_token,
    make_user,
    replay_cookies,
)


def test_load_accepts_live_sessions_only(app) -> None:
    user = make_user()
    token = sessions.start(db.session, user, "pytest", remember=False)
    session_id = user.get_id()
    assert session_id.endswith(token)
    assert sessions.load(db.session, session_id) == user
    assert sessions.load(db.session, session_id[:-1] + "x") is None
    assert sessions.load(db.session, "garbage") is None
    assert sessions.load(db.session, "1.0.") is None
    sessions.end(db.session, user)
    assert sessions.load(db.session, session_id) is None


def test_signing_out_ends_the_session_on_the_server(app, member) -> None:
    browser = Browser(app.test_client()).sign_in(member)
    stolen = cookies_of(browser.client)
    browser.post("/sign-out")
    thief = replay_cookies(app, stolen)
    assert "Sign out" not in thief.get("/").get_data(as_text=True)
    assert thief.get("/account").status_code == 302


def test_remember_me_cookie_dies_with_the_session(app, member) -> None:
    client = app.test_client()
    browser = Browser(client)
    token = csrf_token(client, "/sign-in")
    client.post(
        "/sign-in",
        data={"csrf_token": token, "login": "ann", "password": TEST_PASSWORD, "remember": "y"},
    )
    remember = cookies_of(client)["remember_token"]
    browser._token = None
    browser.post("/sign-out")
    thief = replay_cookies(app, {"remember_token": remember})
    assert "Sign out" not in thief.get("/").get_data(as_text=True)


def test_password_change_ends_other_sessions_but_not_this_one(app, member) -> None:
    laptop = Browser(app.test_client()).sign_in(member)
    phone = Browser(app.test_client()).sign_in(member)
    response = laptop.post(
        "/account",
        {"current_password": TEST_PASSWORD, "new_password": "brand new secret",
         "confirm": "brand new secret"},
    )  # fmt: skip
    assert response.status_code == 302
    assert "Sign out" in laptop.get("/").get_data(as_text=True)
    assert "Sign out" not in phone.get("/").get_data(as_text=True)


def test_password_change_errors_are_shown_on_the_form(app, member) -> None:
    browser = Browser(app.test_client()).sign_in(member)
    response = browser.post(
        "/account",
        {"current_password": "wrong one", "new_password": "brand new secret",
         "confirm": "brand new secret"},
    )  # fmt: skip
    assert response.status_code == 422
    assert "That is not your current password." in response.get_data(as_text=True)


def test_account_page_lists_and_ends_other_sessions(app, member) -> None:
    laptop = Browser(app.test_client()).sign_in(member)
    phone = Browser(app.test_client()).sign_in(member)
    page = laptop.get("/account").get_data(as_text=True)
    assert page.count("(this browser)") == 1
    assert "Sign out all other sessions" in page
    laptop.post("/account/sessions/end-others")
    assert "Sign out" not in phone.get("/").get_data(as_text=True)
    assert "Sign out" in laptop.get("/").get_data(as_text=True)


def test_one_member_cannot_end_anothers_session(app, member, other_member) -> None:
    Browser(app.test_client()).sign_in(other_member)
    victim_session = sessions.active(db.session, other_member)[0]
    attacker = Browser(app.test_client()).sign_in(member)
    assert attacker.post(f"/account/sessions/{victim_session.id}/end").status_code == 404
    db.session.refresh(victim_session)
    assert victim_session.revoked_at is None


def test_a_ban_stops_existing_sessions_at_the_next_request(app, member) -> None:
    browser = Browser(app.test_client()).sign_in(member)
    member.banned_at = utcnow()
    db.session.commit()
    assert "Sign out" not in browser.get("/").get_data(as_text=True)
