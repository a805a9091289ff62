"""Watching threads and boards, and what "watching" means for the member."""

from __future__ import annotations

from forum import watching
from forum.boards import posting
from forum.extensions import db
from forum.notifications.models import NotificationSettings
from tests.conftest import make_board, make_user


def test_starting_a_thread_watches_it(member, board) -> None:
    thread = posting.create_thread(db.session, member, board, "Thread", "Body")
    assert watching.is_watching_thread(db.session, member, thread)


def test_the_setting_turns_watching_on_post_off(member, board) -> None:
    db.session.add(NotificationSettings(user_id=member.id, watch_on_post=False))
    thread = posting.create_thread(db.session, member, board, "Thread", "Body")
    assert not watching.is_watching_thread(db.session, member, thread)
    watching.set_thread_watch(db.session, member, thread, True)
    assert watching.is_watching_thread(db.session, member, thread)


def test_a_board_watch_covers_its_threads_unless_one_is_unwatched(member, board) -> None:
    thread = posting.create_thread(db.session, make_user(), board, "Thread", "Body")
    elsewhere = posting.create_thread(db.session, make_user(), make_board(), "Other", "Body")
    assert not watching.is_watching_board(db.session, member, board)
    watching.set_board_watch(db.session, member, board, True)
    watching.set_board_watch(db.session, member, board, True)  # twice is fine
    assert watching.is_watching_board(db.session, member, board)
    assert watching.is_watching_thread(db.session, member, thread)
    assert not watching.is_watching_thread(db.session, member, elsewhere)
    watching.set_thread_watch(db.session, member, thread, False)
    assert not watching.is_watching_thread(db.session, member, thread)


def test_guests_watch_nothing(board) -> None:
    thread = posting.create_thread(db.session, make_user(), board, "Thread", "Body")
    assert not watching.is_watching_thread(db.session, None, thread)
    assert not watching.is_watching_board(db.session, None, board)
