"""Writing: moderator edits, replies that race a moderator's act on their thread, and what a
reply costs."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum.accounts.models import User
from forum.boards import posting
from forum.boards.models import Board, Post, PostRevision, Thread
from forum.database import WriteOutsideTransaction, reads_first, start_writing, utcnow
from forum.extensions import db, limiter
from forum.permissions import PermissionDenied
from forum.watching import BoardWatch, ThreadWatch
from tests.conftest import Browser, count_queries, make_board, make_user
from tests.forum.moderation.conftest import log_rows, make_thread


def test_a_moderator_edit_is_labelled_and_records_who_and_why(app, moderator, member, board):
    thread, posts = make_thread(member, board)
    mod = Browser(app.test_client()).sign_in(moderator)
    form = mod.get(f"/posts/{posts[0].id}/edit").get_data(as_text=True)
    assert "You are editing as a moderator" in form and "required for a moderator" in form
    edit = {"title": thread.title, "body": "Contact me on [removed]", "reason": "Removed an email"}
    response = mod.post(f"/posts/{posts[0].id}/edit", edit)
    assert response.status_code == 302
    page = Browser(app.test_client()).get(f"/t/{thread.id}").get_data(as_text=True)
    assert re.search(r"Edited <time[^>]*>[^<]+</time></a>\s*by mod \(moderator\)", page)
    revision = db.session.scalar(sa.select(PostRevision).where(PostRevision.number == 2))
    assert (revision.editor_id, revision.by_moderator, revision.reason) == (
        moderator.id,
        True,
        "Removed an email",
    )
    history = mod.get(f"/posts/{posts[0].id}/revisions").get_data(as_text=True)
    assert "by mod (moderator)" in history and "Removed an email" in history
    [entry] = log_rows()
    assert (entry.action, entry.actor_id, entry.target_user_id, entry.post_id) == (
        "edit_post",
        moderator.id,
        member.id,
        posts[0].id,
    )


def test_a_moderator_edit_needs_a_reason(app, moderator, member, board):
    _, posts = make_thread(member, board)
    mod = Browser(app.test_client()).sign_in(moderator)
    response = mod.post(f"/posts/{posts[0].id}/edit", {"title": "Paid outside?", "body": "new"})
    assert response.status_code == 422
    assert 'id="reason-error"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Post, posts[0].id).revision_count == 1
    assert log_rows() == []


def test_own_edits_are_not_moderator_acts(moderator, member, board):
    _, posts = make_thread(member, board)
    _, own = make_thread(moderator, board)
    posting.edit_post(db.session, member, posts[0], "my own words")
    posting.edit_post(db.session, moderator, own[0], "my own words too")
    assert not posts[0].edited_by_moderator and not own[0].edited_by_moderator
    assert log_rows() == []


def test_a_reply_racing_a_move_counts_on_the_new_board(member, other_member, board):
    thread, _ = make_thread(member, board)
    target = make_board("elsewhere")
    # A moderator moved it after this request loaded the thread (counts moved with it).
    db.session.execute(
        sa.update(Thread).where(Thread.id == thread.id).values(board_id=target.id)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    for board_id, delta in ((board.id, -1), (target.id, +1)):
        db.session.execute(
            sa.update(Board).where(Board.id == board_id).values(
                thread_count=Board.thread_count + delta, post_count=Board.post_count + delta)
        )  # fmt: skip
    assert thread.board_id == board.id  # stale
    posting.reply(db.session, other_member, thread, "replying anyway")
    db.session.expire_all()
    assert db.session.get(Board, target.id).post_count == 2
    assert db.session.get(Board, board.id).post_count == 0


def test_a_reply_racing_a_removal_is_refused(member, other_member, board):
    thread, _ = make_thread(member, board)
    db.session.execute(
        sa.update(Thread).where(Thread.id == thread.id).values(removed_at=sa.func.now())
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    assert thread.removed_at is None  # the request's copy does not know
    with pytest.raises(PermissionDenied, match="removed"):
        posting.reply(db.session, other_member, thread, "too late")


def test_a_reply_that_commits_late_does_not_take_the_boards_last_activity_back(
    member, other_member, board, monkeypatch
):
    # Two replies in two threads of a board: the one stamped earlier reaches the board's row
    # last (it waited on a lock). The board must still point at the newer one.
    first, _ = make_thread(member, board, title="Older")
    second, _ = make_thread(member, board, title="Newer")
    earlier = utcnow() + timedelta(seconds=10)
    later = earlier + timedelta(seconds=1)
    monkeypatch.setattr(posting, "utcnow", lambda: later)
    posting.reply(db.session, other_member, second, "stamped later, written first")
    monkeypatch.setattr(posting, "utcnow", lambda: earlier)
    posting.reply(db.session, other_member, first, "stamped earlier, written last")
    db.session.expire_all()
    refreshed = db.session.get(Board, board.id)
    assert (refreshed.last_thread_id, refreshed.last_post_at) == (second.id, later)
    assert refreshed.post_count == 4


def test_a_reply_is_the_row_as_stored_and_in_the_session(member, other_member, board):
    thread, posts = make_thread(member, board)
    post = posting.reply(
        db.session, other_member, thread, "Thanks, **that** worked", quoted_post=posts[0],
        submission_key="k" * 32,
    )  # fmt: skip
    db.session.flush()
    stored = db.session.execute(sa.select(Post.__table__).where(Post.id == post.id)).one()
    # Every column as stored, without a query to read it (it was not loaded by the ORM).
    with count_queries() as statements:
        assert {name: getattr(post, name) for name in stored._fields} == stored._asdict()
    assert statements == []
    assert db.session.get(Post, post.id) is post
    assert (post.author, post.thread) == (other_member, thread)
    assert post.quoted_post_id == posts[0].id and post.number == 2 and post.revision_count == 1


def test_new_posts_are_indexed_as_index_post_indexes_them(member, other_member, board):
    from tests.forum.search.test_backfill import _assert_indexed_as_the_write_path_indexes

    thread, _ = make_thread(member, board, title="Wire transfer fees")
    posting.reply(db.session, other_member, thread, "See [the fees](https://x.example) @ann")
    posting.reply(db.session, member, thread, "```\ncode words\n```\n\n> quoted _words_")
    db.session.flush()
    _assert_indexed_as_the_write_path_indexes()


def _statements_of_a_reply(browser: Browser, thread_id: int, body: str) -> list[str]:
    form = {"body": body, "submission_key": uuid.uuid4().hex}
    browser.token()  # (read from a page, before counting)
    with count_queries(prepared=True) as statements:
        response = browser.post(f"/t/{thread_id}/reply", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    return statements


def test_a_reply_costs_a_fixed_number_of_statements(app, member, other_member, board):
    quiet, _ = make_thread(member, board, title="Quiet")
    busy, _ = make_thread(member, board, [make_user() for _ in range(30)], title="Busy")
    for _ in range(20):  # watchers of the busy thread, and of its board
        db.session.add(ThreadWatch(thread_id=busy.id, user_id=make_user().id))
        db.session.add(BoardWatch(board_id=board.id, user_id=make_user().id))
    browser = Browser(app.test_client()).sign_in(other_member)
    small = _statements_of_a_reply(browser, quiet.id, "A plain reply, no mentions.")
    large = _statements_of_a_reply(browser, busy.id, "A plain reply, no **mentions**.")
    assert len(small) == len(large), (small, large)
    # The thread with the signed-in member, in one query; then under the write lock, on
    # SQLite: the post (which also checks the submission key), the thread's number and
    # counters, its revision, the author's and the board's counters, the search index, the
    # watch, the read mark, the watchers' fan-out; on PostgreSQL all of that is one
    # statement. Nothing for mentions or quotes when the body has none.
    expected = 10 if db.engine.dialect.name == "sqlite" else 2
    assert len(large) == expected, large
    assert not any("username_key IN" in statement for statement in large)


@pytest.mark.databases("sqlite")  # on PostgreSQL start_writing(keep_loaded=True) goes on
def test_a_reads_first_view_reads_outside_a_transaction_then_writes_in_one(committed_app):
    make_user("ann")
    db.session.commit()

    @reads_first
    def view() -> None:
        user = db.session.scalar(sa.select(User).where(User.username == "ann"))
        driver = db.session.connection().connection.driver_connection
        assert not driver.in_transaction  # the read began no transaction
        with pytest.raises(WriteOutsideTransaction):  # it would commit on its own
            db.session.execute(sa.update(User).values(post_count=5))
        start_writing(db.session, keep_loaded=True)
        assert driver.in_transaction  # BEGIN IMMEDIATE, on the same connection
        assert "post_count" in user.__dict__  # nothing was expired to be read again
        db.session.execute(sa.update(User).values(post_count=7))
        db.session.commit()

    with committed_app.test_request_context("/", method="POST"):
        view()
    db.session.rollback()
    assert db.session.scalar(sa.select(User.post_count).where(User.username == "ann")) == 7


@pytest.mark.databases("postgresql")
def test_the_reply_statement_stays_short_enough_for_psycopg_to_convert_it_once(app):
    # psycopg converts a statement's parameters anew each time when it is over this length:
    # written out, the reply's one statement stays under it (see _REPLY_POSTGRESQL).
    from psycopg import _queries

    compiled = str(posting._REPLY_POSTGRESQL.compile(dialect=db.engine.dialect))
    assert len(compiled.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH


@pytest.mark.parametrize("key", ["k" * 500, "a\x00b"])
def test_any_submission_key_a_client_sends_is_stored_and_still_tells_a_resubmission(
    app, member, board, key
):
    browser = Browser(app.test_client()).sign_in(member)
    form = {"title": "A question", "body": "Why?", "submission_key": key}
    first, again = (browser.post(f"/b/{board.slug}/new", form) for _ in range(2))
    assert first.status_code == again.status_code == 302
    assert first.location == again.location
    thread_id = db.session.scalar(sa.select(Thread.id))
    limiter.reset()  # (new members may post only so often)
    answer = {"body": "Because.", "submission_key": key + "-reply"}
    replies = [browser.post(f"/t/{thread_id}/reply", answer) for _ in range(2)]
    assert [reply.status_code for reply in replies] == [302, 302]
    assert replies[0].location == replies[1].location
    assert db.session.scalar(sa.select(sa.func.count(Post.id))) == 2
    stored = db.session.scalars(sa.select(Post.submission_key)).all()
    assert len(set(stored)) == 2
    assert all(len(stored_key) <= 64 and "\x00" not in stored_key for stored_key in stored)
