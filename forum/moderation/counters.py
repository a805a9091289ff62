"""Keeping the forum's counters true when moderators hide, show or move content.

Board.thread_count/post_count/last_post_at/last_thread_id, Thread.reply_count/last_post_at/
last_post_author_id and User.post_count count what members can see: posts that are not
removed, in threads that are not removed. Thread.reply_count ignores the thread's own removal,
so restoring a thread needs no recount of its replies.

Counters change with SQL expressions (``col = col - n``), never read-modify-write. Callers
hold the thread's row lock; rows are locked in one order everywhere (post, thread, users by
id, boards by id) so that concurrent moderators and posters never deadlock.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.boards.models import Board, Post, Thread


def lock_thread(session: Session, thread_id: int) -> Thread | None:
    """Return the thread, re-read under a row lock (PostgreSQL; SQLite serializes writers)."""
    return session.scalar(
        sa.select(Thread)
        .where(Thread.id == thread_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def visible_posts_by_author(session: Session, thread_id: int) -> list[tuple[int, int]]:
    """Return (author id, number of posts not removed) for the thread, by author id."""
    rows = session.execute(
        sa.select(Post.author_id, sa.func.count())
        .where(Post.thread_id == thread_id, Post.removed_at.is_(None))
        .group_by(Post.author_id)
        .order_by(Post.author_id)
    ).all()
    return [(author_id, count) for author_id, count in rows]


def change_author_counts(session: Session, counts: list[tuple[int, int]], sign: int) -> None:
    """Add (sign=1) or subtract (sign=-1) post counts of authors, in author id order."""
    for author_id, count in sorted(counts):
        session.execute(
            sa.update(User)
            .where(User.id == author_id)
            .values(post_count=User.post_count + sign * count)
        )


def change_board_counts(session: Session, board_id: int, threads: int, posts: int) -> None:
    """Add the (possibly negative) numbers of threads and posts to a board's counters.

    The UPDATE also takes the board's row lock, so a following ``refresh_board_activity``
    sees every concurrent change that committed before it.
    """
    session.execute(
        sa.update(Board)
        .where(Board.id == board_id)
        .values(thread_count=Board.thread_count + threads, post_count=Board.post_count + posts)
    )


def refresh_thread_activity(session: Session, thread: Thread) -> None:
    """Set the thread's last activity to its latest post that is not removed."""
    latest = session.execute(
        sa.select(Post.created_at, Post.author_id)
        .where(Post.thread_id == thread.id, Post.removed_at.is_(None))
        .order_by(Post.number.desc())
        .limit(1)
    ).first()
    at, author_id = latest if latest is not None else (thread.created_at, thread.author_id)
    session.execute(
        sa.update(Thread)
        .where(Thread.id == thread.id)
        .values(last_post_at=at, last_post_author_id=author_id)
    )


def refresh_board_activity(session: Session, board_id: int) -> None:
    """Set the board's last activity to its most recently active thread that is not removed."""
    latest = session.execute(
        sa.select(Thread.id, Thread.last_post_at)
        .where(Thread.board_id == board_id, Thread.removed_at.is_(None))
        .order_by(Thread.last_post_at.desc(), Thread.id.desc())
        .limit(1)
    ).first()
    thread_id, at = latest if latest is not None else (None, None)
    session.execute(
        sa.update(Board)
        .where(Board.id == board_id)
        .values(last_post_at=at, last_thread_id=thread_id)
    )
