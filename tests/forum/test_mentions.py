"""@mentions in posts: linked to existing members, case-insensitive, never inside code."""

from __future__ import annotations

import sqlalchemy as sa
from flask import url_for

from forum import mentions
from forum.boards import posting
from forum.extensions import db
from forum.notifications.models import Notification
from tests.conftest import make_user


def _notified(user) -> list[str]:  # noqa: ANN001
    return list(
        db.session.scalars(sa.select(Notification.kind).where(Notification.recipient_id == user.id))
    )


def test_profile_path_matches_the_profile_route(app) -> None:
    with app.test_request_context():
        assert mentions.profile_path("Ann.B") == url_for("accounts.profile", username="Ann.B")


def test_candidates_are_keys_without_duplicates(app) -> None:
    assert mentions.candidate_keys("@Ann @ann `@Ben` x@y.z @c") == ["ann", "ben"]


def test_candidates_are_capped(app) -> None:
    body = " ".join(f"@user{n}" for n in range(mentions.MAX_MENTIONS + 10))
    assert len(mentions.candidate_keys(body)) == mentions.MAX_MENTIONS


def test_a_post_links_and_notifies_existing_members_in_any_case(
    member, other_member, board
) -> None:
    thread = posting.create_thread(
        db.session, member, board, "Hello", "Thanks @BEN and @ghost, see `@ann` in code"
    )
    html = db.session.scalar(
        sa.text("SELECT body_html FROM posts WHERE thread_id = :t"), {"t": thread.id}
    )
    assert '<a href="/u/ben" class="mention" rel="nofollow ugc noopener">@BEN</a>' in html
    assert "@ghost" in html and "/u/ghost" not in html
    assert "<code>@ann</code>" in html
    assert _notified(other_member) == ["mention"]
    assert _notified(member) == []  # "@ann" in code, and the author anyway


def test_mentioning_yourself_notifies_nobody(member, board) -> None:
    posting.create_thread(db.session, member, board, "Note to self", "@ann remember this")
    assert _notified(member) == []


def test_an_edit_notifies_only_newly_mentioned_members(member, other_member, board) -> None:
    third = make_user("cyd")
    thread = posting.create_thread(db.session, member, board, "Hello", "Hi @ben")
    first_post = db.session.scalar(
        sa.select(posting.Post).where(posting.Post.thread_id == thread.id)
    )
    posting.edit_post(db.session, member, first_post, "Hi @ben and @cyd")
    posting.edit_post(db.session, member, first_post, "Hi @ben and @cyd, again")
    assert _notified(other_member) == ["mention"]
    assert _notified(third) == ["mention"]
