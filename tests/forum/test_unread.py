"""Unread tracking: thread lists mark what is new since you last read and jump to it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from forum import unread
from forum.boards import posting
from forum.extensions import db
from forum.unread import ThreadRead
from tests.conftest import Browser, make_user


def _mark(user, thread) -> int | None:  # noqa: ANN001
    return db.session.scalar(
        sa.select(ThreadRead.last_read_number).where(
            ThreadRead.user_id == user.id, ThreadRead.thread_id == thread.id
        )
    )


def test_marks_never_go_backwards(member, board) -> None:
    thread = posting.create_thread(db.session, make_user(), board, "Thread", "Body")
    unread.mark_read(db.session, member.id, thread.id, 5)
    unread.mark_read(db.session, member.id, thread.id, 3)
    assert _mark(member, thread) == 5
    unread.mark_read(db.session, member.id, thread.id, 7)
    assert _mark(member, thread) == 7


def test_writing_a_post_marks_the_thread_read_to_it(member, other_member, board) -> None:
    thread = posting.create_thread(db.session, member, board, "Thread", "Body")
    assert _mark(member, thread) == 1
    posting.reply(db.session, other_member, thread, "Reply")
    assert _mark(other_member, thread) == 2 and _mark(member, thread) == 1


def test_states_new_unread_and_read(member, board) -> None:
    author = make_user()
    never_opened = posting.create_thread(db.session, author, board, "Never opened", "Body")
    half_read = posting.create_thread(db.session, author, board, "Half read", "Body")
    for n in range(3):
        posting.reply(db.session, author, half_read, f"Reply {n}")
    read = posting.create_thread(db.session, author, board, "Read", "Body")
    old = posting.create_thread(db.session, author, board, "Old", "Body")
    old.last_post_at = datetime.now(UTC) - timedelta(days=30)
    unread.mark_read(db.session, member.id, half_read.id, 2)
    unread.mark_read(db.session, member.id, read.id, 1)
    db.session.flush()
    states = unread.unread_states(db.session, member, [never_opened, half_read, read, old])
    assert states[never_opened.id].is_new
    assert states[half_read.id].has_unread
    assert (states[half_read.id].unread_count, states[half_read.id].first_unread_number) == (2, 3)
    assert read.id not in states and old.id not in states
    assert unread.unread_states(db.session, None, [never_opened]) == {}


def test_board_page_shows_new_markers_and_links_to_the_first_unread_post(
    app, member, board
) -> None:
    author = make_user()
    thread = posting.create_thread(db.session, author, board, "Busy thread", "Body")
    per_page = app.config["POSTS_PER_PAGE"]
    for n in range(per_page + 4):
        posting.reply(db.session, author, thread, f"Reply {n}")
    fresh = posting.create_thread(db.session, author, board, "Fresh thread", "Body")
    db.session.commit()
    reader = Browser(app.test_client()).sign_in(member)
    html = reader.get("/b/general").get_data(as_text=True)
    assert re.search(r"Fresh thread</a>\s*<span class=\"tag tag-new\">New</span>", html)
    reader.get(f"/t/{thread.id}")  # reads page 1: posts 1..20
    assert _mark(member, thread) == per_page
    html = reader.get("/b/general").get_data(as_text=True)
    link = f'href="/t/{thread.id}?page=2#p{per_page + 1}"'
    assert link in html and "5 new" in html
    page_two = reader.get(f"/t/{thread.id}?page=2").get_data(as_text=True)
    assert f'id="p{per_page + 1}"' in page_two
    html = reader.get("/b/general").get_data(as_text=True)
    assert "5 new" not in html
    assert re.search(r"Fresh thread</a>\s*<span class=\"tag tag-new\">New</span>", html)
    reader.get(f"/t/{fresh.id}")
    assert "tag-new" not in reader.get("/b/general").get_data(as_text=True)


def test_guests_see_no_markers(client, board) -> None:
    posting.create_thread(db.session, make_user(), board, "Thread", "Body")
    db.session.commit()
    assert "tag-new" not in client.get("/b/general").get_data(as_text=True)
