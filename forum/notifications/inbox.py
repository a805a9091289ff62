"""A member's notifications: the unread count, the list, marking read, and their wording.

A notification about a post that has since been removed (or whose thread was removed, or
moved where the member cannot see it) is hidden, read or not: it is filtered when read,
so it works whatever removed the post. The removal notice itself is the exception.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager, joinedload

from forum.accounts.models import Role, User
from forum.boards.models import Board, Post, Thread
from forum.boards.reading import Page
from forum.database import utcnow
from forum.notifications.models import Notification, NotificationKind

# The bell shows "99+" past this; counting further is work nobody reads.
MAX_COUNTED = 99


def _still_visible(viewer: User) -> Any:
    """Return the where-clause hiding notifications about content gone from the member."""
    board_ok = sa.or_(Board.id.is_(None), Board.moderators_only.is_(False))
    if viewer.is_moderator:
        board_ok = sa.true()
    return sa.or_(
        Notification.kind == NotificationKind.POST_REMOVED.value,
        sa.and_(Post.removed_at.is_(None), Thread.removed_at.is_(None), board_ok),
    )


def _visible(statement: sa.Select, viewer: User) -> sa.Select:
    return (
        statement.outerjoin(Post, Post.id == Notification.post_id)
        .outerjoin(Thread, Thread.id == Notification.thread_id)
        .outerjoin(Board, Board.id == Thread.board_id)
        .where(Notification.recipient_id == viewer.id, _still_visible(viewer))
    )


@functools.cache
def unread_count_statement(moderator: bool | None) -> sa.Select:
    """The bell's query, built once per kind of viewer (it runs on every member's page, and
    building it cost more than running it); the member's id is a bound parameter,
    ``viewer_id``. Pages may run it as a column of their own query (forum.boards.reading).
    ``moderator=None``: the member's role is not known yet (a page that loads the signed-in
    member with the same query), so the count reads it from their row."""
    # Tables, not the mapped classes: a statement naming an entity goes through the ORM's
    # compile and result machinery even when it selects plain columns, and this one is a
    # column of every member's page query (which would then go through it too).
    notifications, posts = Notification.__table__, Post.__table__
    threads, boards = Thread.__table__, Board.__table__
    board_ok = sa.or_(boards.c.id.is_(None), boards.c.moderators_only.is_(False))
    if moderator:
        board_ok = sa.true()
    elif moderator is None:
        # An alias: the page's query may hold the member's row as ``users`` itself, and a
        # subquery naming that table would be correlated to it.
        viewer = User.__table__.alias("viewer")
        # Two comparisons, not ``IN (...)`` of a list: SQLAlchemy expands such a list into
        # the SQL text on every execution, and this runs on every member's page.
        is_moderator = sa.exists().where(
            viewer.c.id == sa.bindparam("viewer_id"),
            sa.or_(viewer.c.role == Role.MODERATOR.value, viewer.c.role == Role.ADMIN.value),
        )
        board_ok = sa.or_(board_ok, is_moderator)
    unread = (
        sa.select(notifications.c.id)
        .select_from(
            notifications.outerjoin(posts, posts.c.id == notifications.c.post_id)
            .outerjoin(threads, threads.c.id == notifications.c.thread_id)
            .outerjoin(boards, boards.c.id == threads.c.board_id)
        )
        .where(
            notifications.c.recipient_id == sa.bindparam("viewer_id"),
            sa.or_(
                notifications.c.kind == NotificationKind.POST_REMOVED.value,
                sa.and_(posts.c.removed_at.is_(None), threads.c.removed_at.is_(None), board_ok),
            ),
            notifications.c.read_at.is_(None),
        )
        .limit(MAX_COUNTED + 1)
    )
    return sa.select(sa.func.count()).select_from(unread.subquery())


def unread_count(session: Session, viewer: User) -> int:
    """Return how many unread notifications the member can see (at most MAX_COUNTED + 1)."""
    statement = unread_count_statement(viewer.is_moderator)
    return session.scalar(statement, {"viewer_id": viewer.id}) or 0


def notifications_page(
    session: Session, viewer: User, page: int, per_page: int
) -> Page[Notification]:
    """Return one page of the member's visible notifications, latest activity first."""
    base = _visible(sa.select(Notification), viewer)
    total = session.scalar(
        sa.select(sa.func.count()).select_from(base.with_only_columns(Notification.id).subquery())
    )
    items = session.scalars(
        base.options(
            contains_eager(Notification.thread),
            contains_eager(Notification.post),
            joinedload(Notification.actor),
        )
        .order_by(Notification.updated_at.desc(), Notification.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(items), page, per_page, total or 0)


def get_own(session: Session, viewer: User, notification_id: int) -> Notification | None:
    """Return the member's own visible notification with this id, or None."""
    return session.scalar(
        _visible(sa.select(Notification), viewer)
        .where(Notification.id == notification_id)
        .options(contains_eager(Notification.thread), contains_eager(Notification.post))
    )


def mark_read(session: Session, viewer: User, notification_ids: list[int]) -> int:
    """Mark some of the member's notifications read; return how many changed."""
    if not notification_ids:
        return 0
    result = session.execute(
        sa.update(Notification)
        .where(
            Notification.recipient_id == viewer.id,
            Notification.id.in_(notification_ids),
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def mark_all_read(session: Session, viewer: User) -> int:
    """Mark every notification of the member read; return how many changed."""
    result = session.execute(
        sa.update(Notification)
        .where(Notification.recipient_id == viewer.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class Wording:
    """A notification in words: who, what, and where (a thread title, when there is one)."""

    text: str
    detail: str | None = None


def describe(notification: Notification) -> Wording:
    """Return what the notification says, in plain text (templates escape it)."""
    actor = notification.actor.username if notification.actor else "Someone"
    title = f"“{notification.thread.title}”" if notification.thread else "a thread"
    kind = notification.kind
    if kind == NotificationKind.REPLY:
        return Wording(f"{actor} replied in {title}")
    if kind == NotificationKind.NEW_THREAD:
        return Wording(f"{actor} started a new thread: {title}")
    if kind == NotificationKind.QUOTE:
        return Wording(f"{actor} quoted your post in {title}")
    if kind == NotificationKind.MENTION:
        return Wording(f"{actor} mentioned you in {title}")
    if kind == NotificationKind.SOLUTION:
        return Wording(f"{actor} accepted your reply as the solution in {title}")
    if kind == NotificationKind.KUDOS:
        if notification.count == 1:
            return Wording(f"{actor} gave kudos to your post in {title}")
        return Wording(f"{notification.count} people gave kudos to your post in {title}")
    if kind == NotificationKind.POST_REMOVED:
        return Wording(
            f"A moderator removed your post in {title}",
            f"Reason: {notification.detail}" if notification.detail else None,
        )
    if kind == NotificationKind.REFERRAL_SIGNED_UP:
        return Wording("Someone you referred signed up", notification.detail)
    if kind == NotificationKind.REWARD_APPROVED:
        return Wording("A referral reward was approved", notification.detail)
    return Wording(notification.detail or "Something happened")  # pragma: no cover
