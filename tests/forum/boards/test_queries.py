"""Pages cost a fixed number of queries, however many threads or posts they show."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from forum import unread
from forum.boards import posting
from forum.boards.models import Post
from forum.extensions import db
from tests.conftest import Browser, count_queries, make_board, make_user


def _queries_for(client, path: str) -> int:  # noqa: ANN001
    with count_queries(prepared=True) as statements:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(statements)


def thread_first_post(thread) -> Post:  # noqa: ANN001
    return db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id, Post.number == 1))


def _thread_with_replies(board, replies: int):  # noqa: ANN001, ANN202
    thread = posting.create_thread(db.session, make_user(), board, "Long thread", "first")
    for n in range(replies):
        author = make_user()
        post = posting.reply(db.session, author, thread, f"reply {n}")
        if n % 3 == 0:
            posting.give_kudos(db.session, make_user(), post)
        if n % 4 == 0:
            posting.edit_post(db.session, author, post, f"edited {n}")
    return thread


@pytest.mark.parametrize("signed_in_viewer", [False, True], ids=["guest", "member"])
def test_thread_page_queries_do_not_grow_with_posts(app, board, signed_in_viewer) -> None:
    short = _thread_with_replies(board, 2)
    long = _thread_with_replies(board, 45)
    client = app.test_client()
    if signed_in_viewer:
        Browser(client).sign_in(make_user("viewer"))
    db.session.commit()
    small = _queries_for(client, f"/t/{short.id}")
    full = _queries_for(client, f"/t/{long.id}")
    deep = _queries_for(client, f"/t/{long.id}?page=3")
    assert small == full == deep, (small, full, deep)
    # Guest: the thread, the posts (one statement on PostgreSQL, where each is a round trip).
    # Member: also the read mark's write (they come with the thread, as do their read mark,
    # watch state and bell; their kudos with the posts).
    reads = 1 if db.engine.dialect.name == "postgresql" else 2
    assert full == reads + (1 if signed_in_viewer else 0)


@pytest.mark.parametrize("signed_in_viewer", [False, True], ids=["guest", "member"])
def test_board_page_queries_do_not_grow_with_threads(app, signed_in_viewer) -> None:
    few, many = make_board("few"), make_board("many")
    client = app.test_client()
    viewer = make_user("viewer")
    for board, count in ((few, 2), (many, 35)):
        for n in range(count):
            thread = posting.create_thread(db.session, make_user(), board, f"Thread {n}", "body")
            posting.reply(db.session, make_user(), thread, "reply @viewer")
            if n % 2:
                # Some threads read, some with unread posts, some never opened.
                unread.mark_read(db.session, viewer.id, thread.id, 1 + n % 4 // 2)
    if signed_in_viewer:
        Browser(client).sign_in(viewer)
    db.session.commit()
    small = _queries_for(client, "/b/few")
    full = _queries_for(client, "/b/many")
    second = _queries_for(client, "/b/many?page=2")
    # The board, its threads, for a member too (the member, their watch button and the bell
    # come with the board, the unread marks with the threads): one statement on PostgreSQL,
    # where each is a round trip, except for a page in the board's older half (page 2 of
    # 35 threads), whose threads are walked to from the oldest, by the board's count.
    if db.engine.dialect.name == "postgresql":
        assert (small, full, second) == (1, 1, 2)
    else:
        assert small == full == second == 2


def test_notifications_page_queries_do_not_grow_with_notifications(app, board) -> None:
    member = make_user("reader")
    client = app.test_client()
    Browser(client).sign_in(member)
    thread = posting.create_thread(db.session, member, board, "Mine", "body")
    posting.reply(db.session, make_user(), thread, "one reply")
    db.session.commit()
    small = _queries_for(client, "/notifications")
    for n in range(15):
        posting.reply(db.session, make_user(), thread, f"reply {n}, @reader")
        posting.give_kudos(db.session, make_user(), thread_first_post(thread))
    db.session.commit()
    assert _queries_for(client, "/notifications") == small <= 6


def test_board_list_queries_do_not_grow_with_boards(app, client) -> None:
    for n in range(2):
        board = make_board(f"first-{n}")
        posting.create_thread(db.session, make_user(), board, "Thread", "body")
    db.session.commit()
    small = _queries_for(client, "/")
    for n in range(8):
        board = make_board(f"more-{n}")
        posting.create_thread(db.session, make_user(), board, "Thread", "body")
    db.session.commit()
    assert _queries_for(client, "/") == small <= 1
