"""Authorization on the server: every moderation and admin route, walked as every kind of user.

And whatever URL a member tries, removed content and moderators-only boards stay hidden.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from forum.accounts.models import Role, User
from forum.boards import posting
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import removals
from forum.moderation.models import ModerationAction, Report
from tests.conftest import Browser, csrf_token, make_board, make_user
from tests.forum.moderation.conftest import make_thread

ROLES = ["anonymous", "member", "suspended", "moderator", "admin"]
FUTURE = (utcnow() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")


def staff_only(ok: int) -> dict[str, int]:
    return {"anonymous": 302, "member": 403, "suspended": 403, "moderator": ok, "admin": ok}


def admin_only(ok: int) -> dict[str, int]:
    return {"anonymous": 302, "member": 403, "suspended": 403, "moderator": 403, "admin": ok}


def members(ok: int) -> dict[str, int]:
    return {"anonymous": 302, "member": ok, "suspended": 403, "moderator": ok, "admin": ok}


# (method, path, form data, expected status by role). {post}, {first}, {thread}, {board},
# {target} are filled in per test: a reply and the first post of the target's thread.
ROUTES: list[tuple[str, str, dict[str, str], dict[str, int]]] = [
    ("GET", "/moderation/", {}, staff_only(200)),
    ("POST", "/moderation/reports/{post}/resolve",
     {"r{post}-resolution": "dismissed", "r{post}-note": "fine", "r{post}-up_to": "999999999"},
     staff_only(302)),
    ("POST", "/moderation/reports/{post}/remove", {"x{post}-reason": "Spam"}, staff_only(302)),
    ("GET", "/moderation/posts/{post}/remove", {}, staff_only(200)),
    ("POST", "/moderation/posts/{post}/remove", {"reason": "Spam"}, staff_only(302)),
    ("POST", "/moderation/posts/{first}/remove", {"reason": "Spam"}, staff_only(302)),
    ("POST", "/moderation/posts/{post}/restore", {}, staff_only(302)),
    ("POST", "/moderation/threads/{thread}/lock", {}, staff_only(302)),
    ("POST", "/moderation/threads/{thread}/unlock", {}, staff_only(302)),
    ("POST", "/moderation/threads/{thread}/pin", {}, staff_only(302)),
    ("POST", "/moderation/threads/{thread}/unpin", {}, staff_only(302)),
    ("GET", "/moderation/threads/{thread}/move", {}, staff_only(200)),
    ("POST", "/moderation/threads/{thread}/move", {"board": "{board}", "reason": "Fit"},
     staff_only(302)),
    ("GET", "/moderation/members/{target}", {}, staff_only(200)),
    ("POST", "/moderation/members/{target}/suspend",
     {"suspend-until": FUTURE, "suspend-reason": "Rude"}, staff_only(302)),
    ("POST", "/moderation/members/{target}/ban", {"ban-reason": "Scam"}, staff_only(302)),
    ("POST", "/moderation/members/{target}/lift", {}, staff_only(302)),
    ("GET", "/moderation/log", {}, staff_only(200)),
    ("GET", "/moderation/log?action=ban&actor=mod&member={target}", {}, staff_only(200)),
    ("GET", "/admin/roles", {}, admin_only(200)),
    ("POST", "/admin/roles", {"username": "{target}", "role": "moderator"}, admin_only(302)),
    ("GET", "/posts/{post}/report", {}, members(200)),
    ("POST", "/posts/{post}/report", {"reason": "spam"}, members(302)),
]  # fmt: skip


def _actor(role: str) -> User | None:
    if role == "anonymous":
        return None
    if role == "suspended":
        user = make_user("walker")
        user.suspended_until = utcnow() + timedelta(days=3)
        return user
    return make_user("walker", role=Role(role) if role != "member" else Role.MEMBER)


def _fill(text: str, values: dict[str, Any]) -> str:
    return text.format(**values)


def _acts_logged() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(ModerationAction)) or 0


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "data", "expected"), ROUTES,
                         ids=[f"{m} {p}" for m, p, _, _ in ROUTES])  # fmt: skip
def test_authorization_walk(app, role, method, path, data, expected) -> None:
    target = make_user("target")
    board = make_board("general")
    other = make_board("other")
    thread, posts = make_thread(target, board, [target])
    db.session.add(Report(post_id=posts[1].id, reporter_id=make_user("reporter").id,
                          reason="spam"))  # fmt: skip
    if path.endswith("/restore"):
        removals.remove_post(db.session, make_user("remover", role=Role.MODERATOR),
                             posts[1].id, "Spam")  # fmt: skip
    if path.endswith("/unlock"):
        thread.locked = True
    if path.endswith("/unpin"):
        thread.pinned = True
    if path.endswith("/lift"):
        target.banned_at = utcnow()
    actor = _actor(role)
    db.session.flush()
    values = {"post": posts[1].id, "first": posts[0].id, "thread": thread.id, "board": other.id,
              "target": target.username}  # fmt: skip
    acts_before = _acts_logged()
    client = app.test_client()
    browser = Browser(client)
    if actor is not None:
        browser.sign_in(actor)
    token = csrf_token(client, "/sign-in" if actor is None else "/")
    url = _fill(path, values)
    if method == "GET":
        response = client.get(url)
    else:
        form = {_fill(k, values): _fill(v, values) for k, v in data.items()}
        response = client.post(url, data={"csrf_token": token, **form})

    assert response.status_code == expected[role], response.get_data(as_text=True)[:2000]
    if expected[role] == 302:
        signing_in = "/sign-in" in response.location
        assert signing_in == (role == "anonymous"), response.location
    db.session.expire_all()
    refused = expected[role] in (302, 403) and role in ("anonymous", "member", "suspended")
    if refused and not (path.startswith("/posts/") and role == "member"):
        # Refused: nothing changed, nothing logged.
        assert _acts_logged() == acts_before
        assert db.session.get(User, target.id).role == "member"
        still_removed = path.endswith("/restore")
        assert db.session.get(type(posts[1]), posts[1].id).is_removed == still_removed
    staff_act = path.startswith(("/moderation", "/admin")) and role in ("moderator", "admin")
    if method == "POST" and staff_act and expected[role] == 302:
        assert _acts_logged() > acts_before


@pytest.fixture
def hidden_world(app, board) -> dict[str, Any]:
    """A removed reply, a removed thread and a thread in a moderators-only board."""
    author = make_user("author")
    moderator = make_user("staffer", role=Role.MODERATOR)
    lounge = make_board("lounge", moderators_only=True)
    visible, visible_posts = make_thread(author, board, [author, author], title="Visible thread")
    gone, gone_posts = make_thread(author, board, [author], title="Gone thread")
    posting.edit_post(db.session, author, gone_posts[0], "GONE-BODY")
    secret, secret_posts = make_thread(moderator, lounge, [moderator], title="Staff only")
    posting.edit_post(db.session, author, visible_posts[1], "SECRET-REPLY body")
    removals.remove_post(db.session, moderator, visible_posts[1].id, "Spam")
    removals.remove_post(db.session, moderator, gone_posts[0].id, "Scam")
    db.session.flush()
    return {"author": author, "visible": visible, "visible_posts": visible_posts, "gone": gone,
            "gone_posts": gone_posts, "secret": secret, "secret_posts": secret_posts}  # fmt: skip


@pytest.mark.parametrize("viewer", ["anonymous", "member", "suspended", "author"])
def test_members_never_see_removed_content_or_hidden_boards(app, hidden_world, viewer) -> None:
    w = hidden_world
    browser = Browser(app.test_client())
    if viewer == "author":
        browser.sign_in(w["author"])
    elif viewer != "anonymous":
        browser.sign_in(_actor(viewer))
    removed = w["visible_posts"][1]
    secret_words = ("SECRET-REPLY", "Gone thread", "GONE-BODY", "Staff only",
                    "Reply 1 by staffer", "Question by staffer")  # fmt: skip

    pages = [
        ("/", 200), ("/b/general", 200), ("/b/general?page=1", 200),
        (f"/t/{w['visible'].id}", 200), (f"/t/{w['visible'].id}?page=1", 200),
        (f"/posts/{removed.id}", 302), (f"/posts/{removed.id}/revisions", 404),
        (f"/t/{w['gone'].id}", 410), (f"/t/{w['gone'].id}?page=2", 410),
        (f"/posts/{w['gone_posts'][0].id}", 410), (f"/posts/{w['gone_posts'][1].id}", 410),
        (f"/posts/{w['gone_posts'][1].id}/revisions", 404),
        ("/b/lounge", 404), ("/b/lounge?page=2", 404),
        (f"/t/{w['secret'].id}", 404), (f"/posts/{w['secret_posts'][1].id}", 404),
        (f"/posts/{w['secret_posts'][0].id}/revisions", 404), ("/u/author", 200),
        ("/u/staffer", 200),
        # Search finds the words of every hidden post for a moderator; for members, none.
        ("/search?q=body", 200), ("/search?q=Question", 200), ("/search?q=thread", 200),
    ]  # fmt: skip
    if viewer != "anonymous":
        pages += [
            # A suspended member is refused the reply form itself (saying until when).
            (f"/t/{w['visible'].id}/reply?quote={removed.id}",
             403 if viewer == "suspended" else 200),
            (f"/t/{w['gone'].id}/reply", 404), ("/b/lounge/new", 404),
            (f"/posts/{w['secret_posts'][1].id}/report", 404),
            (f"/posts/{w['gone_posts'][1].id}/report", 404),
            (f"/posts/{w['secret_posts'][1].id}/edit", 404),
            # Not even its author gets a removed post back through the edit or report form.
            (f"/posts/{removed.id}/edit", 403), (f"/posts/{removed.id}/report", 403),
        ]  # fmt: skip
    for path, status in pages:
        response = browser.get(path)
        assert response.status_code == status, (path, response.status_code)
        html = response.get_data(as_text=True)
        for words in secret_words:
            assert words not in html, (path, words)
        if response.status_code == 302:
            landing = browser.get(response.location).get_data(as_text=True)
            assert "This post was removed by a moderator: Spam." in landing
            assert "SECRET-REPLY" not in landing
