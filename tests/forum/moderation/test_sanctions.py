"""Sanctions: suspend until a date, ban, lift; the member's content stays."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from forum.accounts.models import Role, User
from forum.boards.models import Kudos, Post
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import removals, sanctions
from forum.moderation.errors import ModerationError
from forum.moderation.models import Report
from forum.permissions import PermissionDenied
from tests.conftest import TEST_PASSWORD, Browser, csrf_token, make_user
from tests.forum.moderation.conftest import log_rows, make_thread


@pytest.fixture
def mod(app, moderator) -> Browser:
    return Browser(app.test_client()).sign_in(moderator)


def _count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_suspended_member_reads_but_cannot_post_report_or_give_kudos(
    app, mod, member, other_member, board
):
    thread, posts = make_thread(other_member, board)
    browser = Browser(app.test_client()).sign_in(member)
    until = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    data = {"suspend-until": until.strftime("%Y-%m-%dT%H:%M"), "suspend-reason": "Rude replies"}
    response = mod.post("/moderation/members/ann/suspend", data)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, member.id).suspended_until == until

    page = browser.get(f"/t/{thread.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    when = until.strftime("%-d %b %Y, %H:%M UTC")
    assert "Your account is suspended until" in html and when in html
    assert f'action="/t/{thread.id}/reply"' not in html and "Give kudos" not in html
    for path, data in [(f"/t/{thread.id}/reply", {"body": "hello"}),
                       ("/b/general/new", {"title": "New topic", "body": "hi"})]:  # fmt: skip
        refused = browser.post(path, data)
        assert refused.status_code in (302, 403), path
        if refused.status_code == 302:
            refused = browser.get(refused.location)
        assert "suspended until" in refused.get_data(as_text=True), path
    assert browser.post(f"/posts/{posts[0].id}/kudos").status_code == 403
    assert browser.post(f"/posts/{posts[0].id}/report", {"reason": "spam"}).status_code == 403
    assert (_count(Post), _count(Kudos), _count(Report)) == (1, 0, 0)
    [entry] = log_rows("suspend")
    assert (entry.target_user_id, entry.reason) == (member.id, "Rude replies")
    assert entry.detail == f"until {when}"


def test_suspension_ends_by_itself(app, member, other_member, board):
    thread, _ = make_thread(other_member, board)
    member.suspended_until = utcnow() - timedelta(minutes=1)
    browser = Browser(app.test_client()).sign_in(member)
    assert "suspended" not in browser.get(f"/t/{thread.id}").get_data(as_text=True)
    assert browser.post(f"/t/{thread.id}/reply", {"body": "back"}).status_code == 302


@pytest.mark.parametrize(
    ("until", "message"),
    [("", "Choose when the suspension ends."), ("next tuesday", "Enter a date and time"),
     ("2001-01-01T10:00", "Choose a time in the future."),
     ("2999-01-01T10:00", "A suspension lasts at most five years")],
)  # fmt: skip
def test_suspension_dates_are_checked(mod, member, until, message):
    response = mod.post("/moderation/members/ann/suspend",
                        {"suspend-until": until, "suspend-reason": "rude"})  # fmt: skip
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="suspend-until-error">' + re.escape(message), html), html
    db.session.refresh(member)
    assert member.suspended_until is None and log_rows() == []


def test_every_sanction_needs_a_reason_except_lifting(mod, member):
    until = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert mod.post("/moderation/members/ann/suspend", {"suspend-until": until}).status_code == 422
    assert mod.post("/moderation/members/ann/ban", {"ban-reason": " "}).status_code == 422
    assert mod.post("/moderation/members/ann/lift", {}).status_code == 302
    db.session.refresh(member)
    assert not member.is_banned and member.suspended_until is None


def test_a_ban_stops_sign_in_and_open_sessions_at_the_next_request(app, mod, member, board):
    make_thread(member, board, title="My old thread")
    browser = Browser(app.test_client()).sign_in(member)
    assert "Sign out" in browser.get("/").get_data(as_text=True)
    assert mod.post("/moderation/members/ann/ban", {"ban-reason": "Scam links"}).status_code == 302
    # The open session is anonymous from its next request on.
    html = browser.get("/").get_data(as_text=True)
    assert "Sign out" not in html and "Sign in" in html
    token = csrf_token(browser.client, "/sign-in")
    response = browser.client.post("/b/general/new", data={"csrf_token": token, "title": "Hi",
                                                           "body": "still here"})  # fmt: skip
    assert response.status_code == 302 and "/sign-in" in response.location
    refused = browser.client.post("/sign-in", data={
        "csrf_token": token, "login": "ann", "password": TEST_PASSWORD})  # fmt: skip
    assert refused.status_code == 422
    assert "This account is banned and cannot sign in." in refused.get_data(as_text=True)
    # Their content stays, and still counts.
    assert "My old thread" in Browser(app.test_client()).get("/b/general").get_data(as_text=True)
    db.session.refresh(member)
    assert member.post_count == 1
    assert [e.detail for e in log_rows("ban")] == ["banned; signed out everywhere"]


def test_lifting_ends_ban_and_suspension(app, mod, moderator, member):
    sanctions.suspend(db.session, moderator, member.id, utcnow() + timedelta(days=2), "rude")
    sanctions.ban(db.session, moderator, member.id, "scam")
    assert "Banned since" in mod.get("/moderation/members/ann").get_data(as_text=True)
    response = mod.post("/moderation/members/ann/lift", {"lift-reason": "Appeal accepted"})
    assert response.status_code == 302
    assert "In good standing" in mod.get(response.location).get_data(as_text=True)
    db.session.expire_all()
    member = db.session.get(User, member.id)
    assert not member.is_banned and not member.is_suspended()
    assert Browser(app.test_client()).sign_in(member)  # can sign in again
    [entry] = log_rows("lift")
    assert entry.detail.startswith("lifted ban and suspension until")
    assert not sanctions.lift(db.session, moderator, member.id, "").changed


def test_a_second_suspension_replaces_the_first(moderator, member):
    first = utcnow() + timedelta(days=2)
    second = utcnow() + timedelta(days=10)
    sanctions.suspend(db.session, moderator, member.id, first, "rude")
    outcome = sanctions.suspend(db.session, moderator, member.id, second, "again")
    assert outcome.changed and "replaces until" in outcome.entry.detail
    assert member.suspended_until == second.replace(second=0, microsecond=0)
    same = sanctions.suspend(db.session, moderator, member.id, second, "again")
    assert not same.changed


def test_staff_and_oneself_cannot_be_sanctioned(mod, moderator, admin, member):
    other_mod = make_user("othermod", role=Role.MODERATOR)
    for name in ("othermod", "root", "mod"):
        response = mod.post(f"/moderation/members/{name}/ban", {"ban-reason": "power grab"})
        assert response.status_code == 403, name
    assert "Staff cannot be suspended" in mod.get("/moderation/members/othermod").get_data(
        as_text=True
    )
    assert "you cannot sanction yourself" in mod.get("/moderation/members/mod").get_data(
        as_text=True
    )
    with pytest.raises(PermissionDenied):
        sanctions.ban(db.session, admin, other_mod.id, "no")
    with pytest.raises(PermissionDenied):
        sanctions.ban(db.session, member, moderator.id, "no")
    assert log_rows() == []


def test_suspension_times_must_be_aware(moderator, member):
    with pytest.raises(ModerationError):
        sanctions.suspend(db.session, moderator, member.id, datetime(2999, 1, 1), "x")  # noqa: DTZ001
    assert sanctions.suspend(
        db.session, moderator, member.id, datetime.now(UTC) + timedelta(hours=1), "x"
    ).changed


def test_profiles_link_moderators_to_the_member_page(app, mod, member):
    sanctions.suspend(
        db.session, make_user("other_mod", role=Role.MODERATOR), member.id,
        utcnow() + timedelta(days=1), "rude",
    )  # fmt: skip
    html = mod.get("/u/ann").get_data(as_text=True)
    assert 'href="/moderation/members/ann"' in html and "Suspended until" in html
    public = Browser(app.test_client()).get("/u/ann").get_data(as_text=True)
    assert "/moderation/" not in public and "Suspended" not in public
    member_page = mod.get("/moderation/members/ann").get_data(as_text=True)
    assert "Suspended until" in member_page and "rude" in member_page
    assert mod.get("/moderation/members/nobody").status_code == 404


def test_profiles_mark_removed_posts_for_moderators_and_offer_no_sanction_on_staff(
    app, mod, moderator, member, board
):
    thread, [question] = make_thread(member, board, title="A thread that went")
    _, [kept] = make_thread(member, board, title="A thread that stays")
    removals.remove_post(db.session, moderator, question.id, "spam")
    db.session.commit()
    html = mod.get("/u/ann").get_data(as_text=True)
    assert "A thread that went" in html and "Thread removed" in html
    assert html.count("tag-removed") == 1  # the kept thread carries no mark
    assert 'href="/moderation/members/ann"' in html
    make_user("second_mod", role=Role.MODERATOR)
    staff = mod.get("/u/second_mod").get_data(as_text=True)
    assert "/moderation/members/second_mod" not in staff
