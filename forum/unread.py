"""Unread tracking: how far each member has read each thread, and what is new to them.

Posts are numbered 1..n without gaps in a thread, so "read up to post 12" is one number per
member and thread, and the first unread post is the next number.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from forum.accounts.models import User
from forum.boards.models import Thread
from forum.connections import in_autocommit
from forum.database import Prepared, UTCDateTime, utcnow
from forum.extensions import db

# A thread never opened is "new" for this long after its last post; older ones are not
# worth a marker (a new member would otherwise see the whole forum as new).
NEW_THREAD_WINDOW = timedelta(days=14)


class ThreadRead(db.Model):
    __tablename__ = "thread_reads"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id"), primary_key=True)
    last_read_number: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<ThreadRead user={self.user_id} thread={self.thread_id} #{self.last_read_number}>"


@dataclass(frozen=True)
class UnreadState:
    """What a thread list shows a member about one thread."""

    never_opened: bool
    unread_count: int
    first_unread_number: int

    @property
    def is_new(self) -> bool:
        return self.never_opened

    @property
    def has_unread(self) -> bool:
        return not self.never_opened and self.unread_count > 0


def mark_read(session: Session, user_id: int, thread_id: int, number: int) -> None:
    """Record that the member has read the thread up to post ``number`` (never backwards)."""
    connection = session.connection()
    _mark_read(connection.dialect.name).execute(
        connection,
        {"user_id": user_id, "thread_id": thread_id, "number": number, "now": utcnow()},
    ).close()


def mark_read_alone(session: Session, user_id: int, thread_id: int, number: int) -> bool:
    """Record the read mark as ``mark_read`` does, as a statement that is its own
    transaction, when the session's connection runs a ``reads_first`` page in autocommit
    (PostgreSQL): one round trip instead of three (BEGIN, the write, COMMIT). The write is
    one statement that only ever moves the mark forward, so it needs no transaction around
    it. Return whether it was written; False: the caller writes it in a transaction."""
    connection = session.connection()
    if not in_autocommit(connection):
        return False
    mark_read(session, user_id, thread_id, number)
    return True


@functools.cache
def _mark_read(dialect: str) -> Prepared:
    # Built once per dialect (every post and many page views run it), values bound later,
    # and run on the driver's cursor: SQLAlchemy's execution cost more than SQLite's running
    # it (nothing listens for writes to read marks: see forum.database.Prepared).
    now = sa.bindparam("now", type_=UTCDateTime)
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ThreadRead)
    statement = insert.values(
        user_id=sa.bindparam("user_id"),
        thread_id=sa.bindparam("thread_id"),
        last_read_number=sa.bindparam("number"),
        updated_at=now,
    )
    further = statement.excluded.last_read_number > ThreadRead.last_read_number
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=["user_id", "thread_id"],
            set_={
                "last_read_number": sa.case(
                    (further, statement.excluded.last_read_number),
                    else_=ThreadRead.last_read_number,
                ),
                "updated_at": now,
            },
        )
    )


def unread_states(
    session: Session, viewer: User | None, threads: list[Thread], now: datetime | None = None
) -> dict[int, UnreadState]:
    """Return the unread state of each listed thread that has something new for the viewer.

    One query for all the threads, whatever their number; nothing for guests.
    """
    if viewer is None or not threads:
        return {}
    marks = dict(
        session.execute(
            sa.select(ThreadRead.thread_id, ThreadRead.last_read_number).where(
                ThreadRead.user_id == viewer.id,
                ThreadRead.thread_id.in_([t.id for t in threads]),
            )
        ).all()
    )
    return states_from_marks(viewer, threads, marks, now)


def states_from_marks(
    viewer: User | None,
    threads: list[Any],
    marks: dict[int, int | None],
    now: datetime | None = None,
) -> dict[int, UnreadState]:
    """Return the unread states of threads (anything with ``id``, ``last_post_at``,
    ``author_id`` and ``post_number_seq``) from the viewer's read marks (thread id: the last
    post read, absent or None when never opened), read by the caller's own query."""
    if viewer is None:
        return {}
    since = (now or utcnow()) - NEW_THREAD_WINDOW
    states = {}
    for thread in threads:
        last_read = marks.get(thread.id)
        if last_read is None:
            if thread.last_post_at >= since and thread.author_id != viewer.id:
                states[thread.id] = UnreadState(True, thread.post_number_seq, 1)
        elif last_read < thread.post_number_seq:
            states[thread.id] = UnreadState(
                False, thread.post_number_seq - last_read, last_read + 1
            )
    return states
