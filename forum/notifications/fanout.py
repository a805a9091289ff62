"""Creating notifications when something happens: the write side, called by the forum's
write path (and by the referral engine through ``notify``), in the caller's transaction.

One event makes at most one notification per member. For a new post the most specific
reason wins: being quoted, then being mentioned, then watching the thread (or its board).
The member who acted is never notified. Fan-out to watchers is one INSERT ... SELECT,
so a post costs the same few queries whether its thread has two watchers or ten thousand.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from forum.accounts.models import Role, User
from forum.boards.models import Board, Post, Thread
from forum.database import Prepared, UTCDateTime, utcnow
from forum.notifications.models import EmailState, Notification, NotificationKind
from forum.redirects import safe_local_path
from forum.watching import board_watchers, thread_watchers

STAFF_ROLES = (Role.MODERATOR.value, Role.ADMIN.value)


def post_key(post_id: int) -> str:
    """Return the dedupe key shared by every "new post" notification about one post."""
    return f"post:{post_id}"


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Notification)


def _row(
    recipient_id: int,
    kind: NotificationKind,
    now: datetime,
    *,
    actor_id: int | None = None,
    post_id: int | None = None,
    thread_id: int | None = None,
    detail: str | None = None,
    link: str | None = None,
    dedupe_key: str | None = None,
) -> dict[str, Any]:
    return {
        "recipient_id": recipient_id,
        "kind": kind.value,
        "actor_id": actor_id,
        "post_id": post_id,
        "thread_id": thread_id,
        "count": 1,
        "detail": detail,
        "link": link,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "updated_at": now,
        "email_state": EmailState.PENDING.value,
    }


def _reaches(user: User, board: Board) -> bool:
    """Whether a post on ``board`` may notify ``user``: they can read the board and are not
    banned (a banned member cannot sign in to read it; watchers are filtered the same way)."""
    return user.banned_at is None and (not board.moderators_only or user.role in STAFF_ROLES)


def _notify_directly(
    session: Session,
    post: Post,
    board: Board,
    actor_id: int,
    by_kind: Iterable[tuple[NotificationKind, Iterable[User]]],
    now: datetime,
) -> None:
    """Insert one row per named member, the first kind listed winning; one statement."""
    chosen: dict[int, NotificationKind] = {}
    for kind, users in by_kind:
        for user in users:
            if user.id != actor_id and user.id not in chosen and _reaches(user, board):
                chosen[user.id] = kind
    if not chosen:
        return
    rows = [
        _row(
            recipient_id,
            kind,
            now,
            actor_id=actor_id,
            post_id=post.id,
            thread_id=post.thread_id,
            dedupe_key=post_key(post.id),
        )
        for recipient_id, kind in chosen.items()
    ]
    session.execute(_insert(session).values(rows).on_conflict_do_nothing())


def _notify_watchers(
    session: Session,
    post: Post,
    board: Board,
    watchers: str,
    kind: NotificationKind,
    actor_id: int,
    now: datetime,
) -> None:
    """Insert a row for every watcher not already notified of this post; one statement."""
    columns = _row(
        0,
        kind,
        now,
        actor_id=actor_id,
        post_id=post.id,
        thread_id=post.thread_id,
        dedupe_key=post_key(post.id),
    )
    del columns["recipient_id"]
    connection = session.connection()
    statement = _watchers_statement(connection.dialect.name, watchers, bool(board.moderators_only))
    statement.execute(
        connection, {**columns, "w_thread_id": post.thread_id, "w_board_id": board.id}
    ).close()


_ROW_TYPES = {"created_at": UTCDateTime, "updated_at": UTCDateTime}


@functools.cache
def _watchers_statement(dialect: str, watchers: str, moderators_only: bool) -> Prepared:
    """Return the fan-out INSERT … SELECT to the thread's (or, for a new thread, the board's)
    watchers, built once per dialect and kind with the row's values bound at execution.

    It runs on the driver's cursor: SQLAlchemy's execution cost more than SQLite's running
    it (nothing listens for writes to notifications: see forum.database.Prepared)."""
    thread_id = sa.bindparam("w_thread_id", type_=sa.Integer)
    board_id = sa.bindparam("w_board_id", type_=sa.Integer)
    found = (
        thread_watchers(thread_id, board_id) if watchers == "thread" else board_watchers(board_id)
    )
    names = list(_row(0, NotificationKind.REPLY, utcnow()))
    values = {
        name: sa.bindparam(name, type_=_ROW_TYPES.get(name, Notification.__table__.c[name].type))
        for name in names
    }
    values["recipient_id"] = found.c.user_id
    select = (
        sa.select(*(values[name] for name in names))
        .select_from(found.join(User, User.id == found.c.user_id))
        .where(found.c.user_id != values["actor_id"], User.banned_at.is_(None))
    )
    if moderators_only:
        # Not IN (...): its list is expanded at execution, which Prepared does not do.
        select = select.where(sa.or_(*(User.role == role for role in STAFF_ROLES)))
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return Prepared(insert(Notification).from_select(names, select).on_conflict_do_nothing())


def directly_notified(
    actor_id: int, mentioned: list[User], quoted_author: User | None = None
) -> list[int]:
    """Return the ids of the members a new post names (quoted, mentioned), but its author:
    those whom ``post_created`` notifies directly, if they may read the board."""
    named = ([quoted_author] if quoted_author else []) + mentioned
    return sorted({user.id for user in named} - {actor_id})


def post_created(
    session: Session,
    post: Post,
    thread: Thread,
    board: Board,
    mentioned: list[User],
    quoted_author: User | None = None,
    watchers_notified: bool = False,
) -> None:
    """Notify everyone who should hear of a new post (a new thread's first post included).

    Quoted author, then mentioned members, then watchers of the thread (replies) or of the
    board (new threads); each at most once, never the post's author. ``watchers_notified``:
    the statement that wrote the post notified the watchers already, leaving out the
    members ``directly_notified`` names, and only those named remain (a reply on
    PostgreSQL: forum.boards.posting).
    """
    now = utcnow()
    direct = [(NotificationKind.QUOTE, [quoted_author] if quoted_author else [])]
    direct.append((NotificationKind.MENTION, mentioned))
    _notify_directly(session, post, board, post.author_id, direct, now)
    if watchers_notified:
        return
    if post.is_first:
        watchers, kind = "board", NotificationKind.NEW_THREAD
    else:
        watchers, kind = "thread", NotificationKind.REPLY
    _notify_watchers(session, post, board, watchers, kind, post.author_id, now)


def post_edited(
    session: Session, post: Post, board: Board, editor: User, mentioned: list[User]
) -> None:
    """Notify members newly mentioned by an edit (those already notified of the post are not)."""
    others = [user for user in mentioned if user.id != editor.id]
    _notify_directly(
        session, post, board, post.author_id, [(NotificationKind.MENTION, others)], utcnow()
    )


def kudos_given(session: Session, post: Post, giver: User) -> None:
    """Tell the post's author; kudos for one post group into one row, marked unread again."""
    if post.author_id == giver.id:
        return
    now = utcnow()
    statement = _insert(session).values(
        _row(
            post.author_id,
            NotificationKind.KUDOS,
            now,
            actor_id=giver.id,
            post_id=post.id,
            thread_id=post.thread_id,
            dedupe_key=f"kudos:{post.id}",
        )
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["recipient_id", "dedupe_key"],
            set_={
                "count": Notification.count + 1,
                "actor_id": giver.id,
                "updated_at": now,
                "read_at": None,
                "email_state": EmailState.PENDING.value,
            },
        )
    )


def solution_accepted(session: Session, post: Post, actor: User) -> None:
    """Tell a reply's author it was accepted as the solution (once per post)."""
    if post.author_id == actor.id:
        return
    row = _row(
        post.author_id,
        NotificationKind.SOLUTION,
        utcnow(),
        actor_id=actor.id,
        post_id=post.id,
        thread_id=post.thread_id,
        dedupe_key=f"solution:{post.id}",
    )
    session.execute(_insert(session).values(row).on_conflict_do_nothing())


def post_removed(session: Session, post: Post, moderator: User | None, reason: str | None) -> None:
    """Tell a post's author a moderator removed it, and why (again, unread, if it recurs)."""
    if moderator is not None and moderator.id == post.author_id:
        return
    now = utcnow()
    reason = (reason or "").strip()[:500] or None
    statement = _insert(session).values(
        _row(
            post.author_id,
            NotificationKind.POST_REMOVED,
            now,
            actor_id=moderator.id if moderator is not None else None,
            post_id=post.id,
            thread_id=post.thread_id,
            detail=reason,
            dedupe_key=f"removed:{post.id}",
        )
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["recipient_id", "dedupe_key"],
            set_={
                "detail": reason,
                "updated_at": now,
                "read_at": None,
                "email_state": EmailState.PENDING.value,
            },
        )
    )


def notify(
    session: Session,
    recipient_id: int,
    kind: NotificationKind | str,
    *,
    actor_id: int | None = None,
    post_id: int | None = None,
    thread_id: int | None = None,
    detail: str | None = None,
    link: str | None = None,
    dedupe_key: str | None = None,
) -> bool:
    """Notify one member of something; return whether a notification was created.

    The public entry point for other parts (the referral engine: kinds
    "referral_signed_up" and "reward_approved", with ``detail`` saying what happened and
    ``link`` a path on this site). A repeated ``dedupe_key`` for the same member is ignored;
    so is a member's own act (``actor_id == recipient_id``). Raises ValueError for an
    unknown kind or a link that is not a path on this site.
    """
    kind = NotificationKind(kind)
    if link is not None and safe_local_path(link, "") != link:
        raise ValueError(f"not a path on this site: {link!r}")
    if actor_id is not None and actor_id == recipient_id:
        return False
    row = _row(
        recipient_id,
        kind,
        utcnow(),
        actor_id=actor_id,
        post_id=post_id,
        thread_id=thread_id,
        detail=(detail or "").strip()[:500] or None,
        link=link,
        dedupe_key=dedupe_key[:120] if dedupe_key else None,
    )
    statement = _insert(session).values(row).on_conflict_do_nothing().returning(Notification.id)
    return session.execute(statement).scalar_one_or_none() is not None
