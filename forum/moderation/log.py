"""The moderation log: appending one row per act, and browsing the rows.

Every moderator and admin act goes through ``record``, including acts that found nothing to
change (a post another moderator removed a moment earlier): those rows say so in ``detail``
and have ``changed`` false, so the log shows both moderators' acts.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from forum.accounts.models import User
from forum.accounts.service import username_key
from forum.boards.models import Post, Thread
from forum.boards.reading import Page
from forum.database import utcnow
from forum.moderation.errors import ModerationError
from forum.moderation.models import Action, ModerationAction

MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class Outcome:
    """What a moderation act did: whether it changed anything, and its log row."""

    changed: bool
    message: str
    entry: ModerationAction


def clean_reason(reason: str | None, field: str = "reason", required: bool = True) -> str:
    """Return the reason on one line without a trailing full stop.

    Raises ModerationError when a required reason is missing or any reason is too long.
    """
    text = " ".join((reason or "").split()).rstrip(".").strip()
    if required and not text:
        raise ModerationError(field, "Give a reason: it is kept in the moderation log.")
    if len(text) > MAX_REASON_CHARS:
        raise ModerationError(field, f"Keep it under {MAX_REASON_CHARS} characters.")
    return text


def record(
    session: Session,
    actor: User | None,
    action: Action,
    *,
    reason: str = "",
    detail: str = "",
    changed: bool = True,
    target_user_id: int | None = None,
    post: Post | None = None,
    thread_id: int | None = None,
) -> ModerationAction:
    """Append one act to the log (flushed, not committed) and return its row."""
    entry = ModerationAction(
        created_at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        action=action.value,
        target_user_id=target_user_id,
        post_id=post.id if post is not None else None,
        thread_id=thread_id if thread_id is not None else (post.thread_id if post else None),
        reason=reason[:MAX_REASON_CHARS],
        detail=detail[:MAX_REASON_CHARS],
        changed=changed,
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class LogFilter:
    actor: str = ""
    action: str = ""
    member: str = ""


def browse(
    session: Session, filters: LogFilter, page: int, per_page: int
) -> Page[ModerationAction]:
    """Return one page of log rows matching the filters, newest first.

    A name that belongs to nobody matches nothing; an unknown action raises ModerationError.
    """
    where = []
    if filters.actor:
        where.append(ModerationAction.actor_id == _user_id(session, filters.actor))
    if filters.member:
        where.append(ModerationAction.target_user_id == _user_id(session, filters.member))
    if filters.action:
        if filters.action not in {a.value for a in Action}:
            raise ModerationError("action", "Choose an action from the list.")
        where.append(ModerationAction.action == filters.action)
    condition = sa.and_(sa.true(), *where)
    total = session.scalar(
        sa.select(sa.func.count()).select_from(ModerationAction).where(condition)
    )
    rows = session.scalars(
        sa.select(ModerationAction)
        .where(condition)
        .options(
            joinedload(ModerationAction.actor),
            joinedload(ModerationAction.target_user),
            joinedload(ModerationAction.thread).joinedload(Thread.board),
        )
        .order_by(ModerationAction.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(rows), page, per_page, total or 0)


def _user_id(session: Session, name: str) -> int:
    # -1 matches no row, so an unknown name shows an empty log rather than an error.
    found = session.scalar(sa.select(User.id).where(User.username_key == username_key(name)))
    return found if found is not None else -1
