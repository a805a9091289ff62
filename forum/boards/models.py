"""Boards, threads, posts, their revisions and kudos."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.database import UTCDateTime, utcnow
from forum.extensions import db


class Board(db.Model):
    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(60), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    position: Mapped[int] = mapped_column(default=0)
    moderators_only: Mapped[bool] = mapped_column(default=False)
    # Counters kept by the write path, counting what members can see.
    thread_count: Mapped[int] = mapped_column(default=0)
    post_count: Mapped[int] = mapped_column(default=0)
    last_post_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_thread_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("threads.id", use_alter=True, ondelete="SET NULL")
    )

    last_thread: Mapped[Thread | None] = relationship(foreign_keys=[last_thread_id])

    def __repr__(self) -> str:
        return f"<Board {self.id} {self.slug!r}>"


class Thread(db.Model):
    __tablename__ = "threads"
    __table_args__ = (
        sa.Index("ix_threads_board_listing", "board_id", "pinned", "last_post_at", "id"),
        # What members see: deep pages skip through this index alone (migration 0006).
        sa.Index(
            "ix_threads_board_visible",
            "board_id",
            "pinned",
            "last_post_at",
            "id",
            postgresql_where=sa.text("removed_at IS NULL"),
            sqlite_where=sa.text("removed_at IS NULL"),
        ),
        # The removed threads, whose posts search leaves out for members (migration 0011).
        sa.Index(
            "ix_threads_removed",
            "id",
            postgresql_where=sa.text("removed_at IS NOT NULL"),
            sqlite_where=sa.text("removed_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(sa.ForeignKey("boards.id"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_post_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_post_author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Every post ever made in the thread, removed ones included: the next post's number.
    post_number_seq: Mapped[int] = mapped_column(default=0)
    # Replies members can see (the first post is not a reply).
    reply_count: Mapped[int] = mapped_column(default=0)
    view_count: Mapped[int] = mapped_column(default=0)
    pinned: Mapped[bool] = mapped_column(default=False)
    locked: Mapped[bool] = mapped_column(default=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    solution_post_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("posts.id", use_alter=True, ondelete="SET NULL")
    )

    board: Mapped[Board] = relationship(foreign_keys=[board_id])
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    last_post_author: Mapped[User | None] = relationship(foreign_keys=[last_post_author_id])
    solution_post: Mapped[Post | None] = relationship(foreign_keys=[solution_post_id])

    def __repr__(self) -> str:
        return f"<Thread {self.id} {self.title!r}>"

    @property
    def solved(self) -> bool:
        return self.solution_post_id is not None


class PostFacts:
    """What a post's own columns say about it: shared by the entity and the plain rows a
    thread page reads (forum.boards.reading.ShownPost)."""

    __slots__ = ()
    number: int
    removed_at: datetime | None

    @property
    def is_first(self) -> bool:
        return self.number == 1

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None


class Post(PostFacts, db.Model):
    __tablename__ = "posts"
    __table_args__ = (
        sa.UniqueConstraint("thread_id", "number"),
        # A resubmitted form (double click, retry after a timeout) finds the post it made.
        sa.UniqueConstraint("author_id", "submission_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # 1 for the first post; numbers never change, so permalinks always find their page.
    number: Mapped[int]
    body_source: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    quoted_post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("posts.id"))
    submission_key: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    edited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    edited_by_moderator: Mapped[bool] = mapped_column(default=False)
    revision_count: Mapped[int] = mapped_column(default=1)
    kudos_count: Mapped[int] = mapped_column(default=0)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    removal_reason: Mapped[str | None] = mapped_column(sa.String(500))

    thread: Mapped[Thread] = relationship(foreign_keys=[thread_id])
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    edited_by: Mapped[User | None] = relationship(foreign_keys=[edited_by_id])

    def __repr__(self) -> str:
        return f"<Post {self.id} thread={self.thread_id} #{self.number}>"


class PostRevision(db.Model):
    """One saved version of a post; revision 1 is the post as first written."""

    __tablename__ = "post_revisions"
    __table_args__ = (sa.UniqueConstraint("post_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("posts.id"))
    number: Mapped[int]
    title: Mapped[str | None] = mapped_column(sa.String(200))
    body_source: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    editor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    by_moderator: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    editor: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<PostRevision post={self.post_id} #{self.number}>"


class Kudos(db.Model):
    __tablename__ = "kudos"
    __table_args__ = (sa.UniqueConstraint("post_id", "giver_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("posts.id"))
    giver_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Kudos post={self.post_id} giver={self.giver_id}>"
