"""Reading a board: every page holds the threads it would with a plain OFFSET, whichever end
of the board it is skipped to from."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum import unread
from forum.accounts import sessions
from forum.boards import posting, reading
from forum.boards.models import Thread
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import removals, threads
from tests.conftest import make_user


@pytest.mark.parametrize("per_page", [3, 4, 7])
@pytest.mark.parametrize("viewer_kind", ["guest", "moderator"])
def test_every_page_holds_the_threads_of_a_plain_offset(
    app, board, moderator, per_page: int, viewer_kind: str
) -> None:
    author = make_user()
    start = utcnow() - timedelta(days=1)
    made = []
    for n in range(20):
        thread = posting.create_thread(db.session, author, board, f"Thread {n}", "body")
        thread.last_post_at = start + timedelta(minutes=n % 7)  # ties: the id decides
        made.append(thread)
    db.session.flush()
    for thread in (made[2], made[11]):
        threads.set_flag(db.session, moderator, thread.id, threads.Action.PIN_THREAD)
    first_post = db.session.scalar(
        sa.select(posting.Post.id).where(posting.Post.thread_id == made[5].id)
    )
    removals.remove_post(db.session, moderator, first_post, "spam")
    db.session.flush()
    db.session.refresh(board)
    viewer = moderator if viewer_kind == "moderator" else None
    visible = sa.select(Thread.id).where(Thread.board_id == board.id)
    if viewer is None:
        visible = visible.where(Thread.removed_at.is_(None))
    expected = list(
        db.session.scalars(
            visible.order_by(Thread.pinned.desc(), Thread.last_post_at.desc(), Thread.id.desc())
        )
    )
    assert len(expected) == (20 if viewer else 19)
    pages = -(-len(expected) // per_page)
    for page in range(1, pages + 2):  # and one past the end
        shown = reading.board_threads(db.session, viewer, board, page, per_page)
        ids = [row.id for row in shown.items]
        assert ids == expected[(page - 1) * per_page : page * per_page], page
        # The board and its threads in one statement (PostgreSQL, a guest's): the same.
        one = reading.board_page(db.session, viewer, board.slug, page, per_page).threads
        assert [tuple(row) for row in one.items] == [tuple(row) for row in shown.items], page
        assert (one.number, one.per_page, one.total) == (page, per_page, shown.total)


@pytest.mark.parametrize("viewer_kind", ["guest", "member", "moderator"])
def test_pages_read_on_the_driver_give_what_sqlalchemy_gives(
    app, board, member, moderator, viewer_kind: str
) -> None:
    # The board's threads and a thread's posts run on the driver's cursor (Prepared.all):
    # the same values, of the same types (aware UTC times, booleans, names, a member's read
    # marks and kudos), in the same order, as SQLAlchemy's execution of the same statement.
    viewer = {"guest": None, "member": member, "moderator": moderator}[viewer_kind]
    author, editor = make_user(), make_user()
    thread = posting.create_thread(db.session, author, board, "Read me", "first")
    for n in range(4):
        post = posting.reply(db.session, editor, thread, f"reply {n}")
    posting.edit_post(db.session, editor, post, "edited")
    posting.give_kudos(db.session, member, post)
    threads.set_flag(db.session, moderator, thread.id, threads.Action.PIN_THREAD)
    other = posting.create_thread(db.session, make_user(), board, "Removed", "body")
    removals.remove_post(
        db.session,
        moderator,
        db.session.scalar(sa.select(posting.Post.id).where(posting.Post.thread_id == other.id)),
        "spam",
    )
    posting.create_thread(db.session, author, board, "Plain", "body")
    unread.mark_read(db.session, member.id, thread.id, 2)
    db.session.commit()
    db.session.refresh(board)
    moderator_view = viewer is moderator
    for from_end in (False, True):
        statement = reading._board_threads_statement(
            moderator_view, viewer is not None, from_end, db.engine.dialect.name == "postgresql"
        )
        params = {"board_id": board.id, "limit": 3, "offset": 0}
        if viewer is not None:
            params["viewer_id"] = viewer.id
        expected = db.session.execute(statement, params).all()
        found = reading._board_threads_prepared(
            moderator_view, viewer is not None, from_end, db.engine.dialect.name == "postgresql"
        ).all(db.session.connection(), params)
        assert len(found) == (3 if moderator_view else 2)  # the removed thread: moderators
        assert [tuple(row) for row in found] == [tuple(row) for row in expected]
        assert [type(value) for value in found[0]] == [type(value) for value in expected[0]]
        assert [row.last_post_at for row in found] == [row.last_post_at for row in expected]
        assert all(row.last_post_at.utcoffset() == timedelta(0) for row in found)
    params = {
        "thread_id": thread.id,
        "first": 1,
        "last": 20,
        "viewer_id": viewer.id if viewer is not None else None,
    }
    expected = db.session.execute(reading._thread_posts_statement(), params).all()
    found = reading.thread_posts(db.session, viewer, thread, 1, 20).items
    assert len(found) == 5
    assert [tuple(row) for row in found] == [tuple(row) for row in expected]
    assert [type(value) for value in found[-1]] == [type(value) for value in expected[-1]]
    assert found[-1].number == 5 and found[-1].edited_at is not None
    assert (found[-1].kudos_id is not None) == (viewer is member)


@pytest.mark.parametrize("viewer_kind", ["guest", "member", "moderator"])
@pytest.mark.parametrize("page", [1, 2, 3])
def test_a_page_read_in_one_statement_is_the_page_read_in_two(
    app, board, member, moderator, viewer_kind: str, page: int
) -> None:
    # On PostgreSQL a board page (its board and threads) and a thread page (its thread and
    # posts) are one statement (reading.HeadAndRows) for a guest and for the member a
    # session claims: the same rows, of the same types, as the two statements read them.
    viewer = {"guest": None, "member": member, "moderator": moderator}[viewer_kind]
    author = make_user()
    thread = posting.create_thread(db.session, author, board, "Read me", "first")
    for n in range(6):
        post = posting.reply(db.session, author, thread, f"reply {n}")
        if n % 2:
            posting.give_kudos(db.session, member, post)
            posting.give_kudos(db.session, moderator, post)
    posting.edit_post(db.session, author, post, "edited")
    for n in range(6):
        other = posting.create_thread(db.session, author, board, f"Thread {n}", "body")
    threads.set_flag(db.session, moderator, other.id, threads.Action.PIN_THREAD)
    removals.remove_post(
        db.session,
        moderator,
        db.session.scalar(sa.select(posting.Post.id).where(posting.Post.thread_id == other.id)),
        "spam",
    )
    unread.mark_read(db.session, member.id, thread.id, 3)
    unread.mark_read(db.session, moderator.id, thread.id, 2)
    db.session.commit()
    claim = None
    if viewer is not None:
        sessions.start(db.session, viewer, "pytest", remember=False)
        claim = sessions.claim_of(viewer.get_id())
        db.session.commit()

    def accept(claimed, user):  # noqa: ANN001, ANN202
        return sessions.accept(claimed, user)

    if claim is None:
        board_shown = reading.board_page(db.session, None, board.slug, page, 2)
        thread_shown, posts = reading.thread_page(db.session, None, thread.id, page, 3)
    else:
        found, board_shown = reading.board_page_for_claim(
            db.session, claim, board.slug, page, 2, accept
        )
        assert found is viewer
        found, thread_shown, posts = reading.thread_page_for_claim(
            db.session, claim, thread.id, page, 3, accept
        )
        assert found is viewer
    db.session.refresh(board)
    board_expected = reading.board_for_viewer(db.session, viewer, board.slug)
    assert (board_shown.board, board_shown.watching, board_shown.bell) == board_expected
    expected = reading.board_threads(db.session, viewer, board, page, 2)
    assert [tuple(row) for row in board_shown.threads.items] == [
        tuple(row) for row in expected.items
    ]
    assert board_shown.threads.total == expected.total
    assert board_shown.threads.items, "every page here has threads (page 3: the older half)"
    assert [type(value) for value in board_shown.threads.items[0]] == [
        type(value) for value in expected.items[0]
    ]
    assert thread_shown == reading.thread_for_viewer(db.session, viewer, thread.id)
    expected = reading.thread_posts(db.session, viewer, thread_shown.thread, page, 3)
    assert [tuple(row) for row in posts.items] == [tuple(row) for row in expected.items]
    assert [type(value) for value in posts.items[0]] == [type(value) for value in expected.items[0]]
    assert posts.total == expected.total == 7
    kudos = [row.kudos_id is not None for row in posts.items]
    assert any(kudos) == (viewer is not None)
