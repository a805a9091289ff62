"""Fixtures and checks shared by the moderation tests."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from forum.accounts.models import User
from forum.boards import posting
from forum.boards.models import Board, Post, Thread
from forum.database import utcnow
from forum.extensions import db
from forum.moderation.models import ModerationAction
from tests.conftest import make_user


@pytest.fixture
def suspended(app: Flask) -> User:
    """A member suspended for a week."""
    user = make_user("sus")
    user.suspended_until = utcnow() + timedelta(days=7)
    db.session.flush()
    return user


def make_thread(
    author: User, board: Board, replies: list[User] | None = None, title: str = "Paid outside?"
) -> tuple[Thread, list[Post]]:
    """Create a thread with one reply per entry of ``replies``; return it and its posts."""
    body = f"Question by {author.username}"
    thread = posting.create_thread(db.session, author, board, title, body)
    for n, replier in enumerate(replies or [], start=1):
        posting.reply(db.session, replier, thread, f"Reply {n} by {replier.username}")
    posts = db.session.scalars(
        sa.select(Post).where(Post.thread_id == thread.id).order_by(Post.number)
    ).all()
    return thread, list(posts)


def log_rows(action: str | None = None) -> list[ModerationAction]:
    query = sa.select(ModerationAction).order_by(ModerationAction.id)
    if action:
        query = query.where(ModerationAction.action == action)
    return list(db.session.scalars(query))


def assert_counters_consistent() -> None:
    """Recount every counter from the rows and compare: what members can see, and only that."""
    db.session.expire_all()
    visible_post = sa.and_(Post.removed_at.is_(None), Thread.removed_at.is_(None))
    for board in db.session.scalars(sa.select(Board)):
        threads = db.session.scalars(
            sa.select(Thread).where(Thread.board_id == board.id, Thread.removed_at.is_(None))
        ).all()
        posts = db.session.scalar(
            sa.select(sa.func.count()).select_from(Post).join(Thread, Post.thread_id == Thread.id)
            .where(Thread.board_id == board.id, visible_post)
        )  # fmt: skip
        assert board.thread_count == len(threads), board
        assert board.post_count == posts, board
        latest = max(threads, key=lambda t: (t.last_post_at, t.id), default=None)
        assert board.last_thread_id == (latest.id if latest else None), board
        if latest is None:
            assert board.last_post_at is None
        else:
            assert abs(board.last_post_at - latest.last_post_at) < timedelta(seconds=1), board
    for thread in db.session.scalars(sa.select(Thread)):
        visible = db.session.scalars(
            sa.select(Post)
            .where(Post.thread_id == thread.id, Post.removed_at.is_(None))
            .order_by(Post.number)
        ).all()
        assert thread.reply_count == len([p for p in visible if p.number > 1]), thread
        if visible:
            assert abs(thread.last_post_at - visible[-1].created_at) < timedelta(seconds=1)
            assert thread.last_post_author_id == visible[-1].author_id, thread
    for user in db.session.scalars(sa.select(User)):
        count = db.session.scalar(
            sa.select(sa.func.count()).select_from(Post).join(Thread, Post.thread_id == Thread.id)
            .where(Post.author_id == user.id, visible_post)
        )  # fmt: skip
        assert user.post_count == count, user
