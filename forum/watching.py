"""Watching: which members follow which threads and boards, and so hear of new posts.

A thread watch row with ``watching`` false is an explicit "stop watching": it sticks, so
replying again or watching the thread's board does not bring the thread back.
Functions take a session and leave the commit to the caller.
"""

from __future__ import annotations

import functools
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from forum.accounts.models import User
from forum.boards.models import Board, Thread
from forum.database import Prepared, UTCDateTime, utcnow
from forum.extensions import db
from forum.notifications.models import NotificationSettings


class ThreadWatch(db.Model):
    __tablename__ = "thread_watches"

    # Thread first: fan-out reads every watcher of one thread.
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    watching: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<ThreadWatch thread={self.thread_id} user={self.user_id} {self.watching}>"


class BoardWatch(db.Model):
    """Watching a board: every new thread and every reply in it, unless a thread is unwatched."""

    __tablename__ = "board_watches"

    board_id: Mapped[int] = mapped_column(sa.ForeignKey("boards.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<BoardWatch board={self.board_id} user={self.user_id}>"


def _insert(session: Session):  # noqa: ANN202 - the dialect's INSERT construct
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def watch_on_post(session: Session, user: User, thread: Thread) -> None:
    """Watch the thread for its author or replier, unless their settings say not to.

    One statement, and nothing changes if they already watch or explicitly stopped.
    """
    connection = session.connection()
    _watch_on_post(connection.dialect.name).execute(
        connection, {"thread_id": thread.id, "user_id": user.id, "now": utcnow()}
    ).close()


@functools.cache
def _watch_on_post(dialect: str) -> Prepared:
    # Built once per dialect (every post runs it), with the values bound at execution, and
    # run on the driver's cursor: SQLAlchemy's execution cost more than SQLite's running it
    # (nothing listens for writes to watches: see forum.database.Prepared).
    user_id = sa.bindparam("user_id", type_=sa.Integer)
    opted_out = sa.exists().where(
        NotificationSettings.user_id == user_id, NotificationSettings.watch_on_post.is_(False)
    )
    rows = sa.select(
        sa.bindparam("thread_id", type_=sa.Integer),
        user_id,
        sa.true(),
        sa.bindparam("now", type_=UTCDateTime),
    ).where(~opted_out)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return Prepared(
        insert(ThreadWatch)
        .from_select(["thread_id", "user_id", "watching", "created_at"], rows)
        .on_conflict_do_nothing()
    )


def set_thread_watch(session: Session, user: User, thread: Thread, watching: bool) -> None:
    """Start or stop watching a thread (an explicit choice that later posts do not undo)."""
    statement = _insert(session)(ThreadWatch).values(
        thread_id=thread.id, user_id=user.id, watching=watching, created_at=utcnow()
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["thread_id", "user_id"], set_={"watching": watching}
        )
    )


def set_board_watch(session: Session, user: User, board: Board, watching: bool) -> None:
    """Start or stop watching a board."""
    if watching:
        session.execute(
            _insert(session)(BoardWatch)
            .values(board_id=board.id, user_id=user.id, created_at=utcnow())
            .on_conflict_do_nothing()
        )
    else:
        session.execute(
            sa.delete(BoardWatch).where(
                BoardWatch.board_id == board.id, BoardWatch.user_id == user.id
            )
        )


def is_watching_thread(session: Session, user: User | None, thread: Thread) -> bool:
    """Return whether the member hears of replies in the thread (directly or via its board)."""
    if user is None:
        return False
    thread_choice = (
        sa.select(ThreadWatch.watching)
        .where(ThreadWatch.thread_id == thread.id, ThreadWatch.user_id == user.id)
        .scalar_subquery()
    )
    board_watch = sa.exists().where(
        BoardWatch.board_id == thread.board_id, BoardWatch.user_id == user.id
    )
    watching = session.execute(sa.select(thread_choice, board_watch)).one()
    return bool(watching[0]) if watching[0] is not None else bool(watching[1])


def is_watching_board(session: Session, user: User | None, board: Board) -> bool:
    """Return whether the member watches the board."""
    if user is None:
        return False
    return bool(
        session.scalar(
            sa.select(
                sa.exists().where(BoardWatch.board_id == board.id, BoardWatch.user_id == user.id)
            )
        )
    )


def thread_watchers(thread_id: int, board_id: int) -> sa.Subquery:
    """Return a SELECT of the ids of everyone who hears of a new post in the thread.

    Explicit thread watchers, plus the board's watchers who have not unwatched the thread.
    Used by the notification fan-out inside one INSERT ... SELECT.
    """
    watchers = sa.union(
        sa.select(ThreadWatch.user_id.label("user_id")).where(
            ThreadWatch.thread_id == thread_id, ThreadWatch.watching.is_(True)
        ),
        sa.select(BoardWatch.user_id.label("user_id")).where(
            BoardWatch.board_id == board_id,
            ~sa.exists().where(
                ThreadWatch.thread_id == thread_id,
                ThreadWatch.user_id == BoardWatch.user_id,
                ThreadWatch.watching.is_(False),
            ),
        ),
    )
    return watchers.subquery("watchers")


def board_watchers(board_id: int) -> sa.Subquery:
    """Return a subquery of the ids of the board's watchers (for a new thread)."""
    return (
        sa.select(BoardWatch.user_id.label("user_id"))
        .where(BoardWatch.board_id == board_id)
        .subquery("watchers")
    )
