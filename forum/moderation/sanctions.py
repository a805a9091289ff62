"""Sanctions: suspending a member for a while, banning, and lifting both. Content stays.

A suspended member can read but not post, report or give kudos (forum.permissions). A banned
member cannot sign in, and the ban ends their sessions: it bumps the session generation
that every Flask-Login id carries, so the next request of an open session is anonymous.

Concurrency: the member's row is locked first, so of two moderators acting at once the
second sees the first's result. A second ban is logged as changing nothing; a second
suspension replaces the first's end date (the later act is the one in force, and the log
says what it replaced).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.database import utcnow
from forum.moderation.errors import ModerationError
from forum.moderation.log import Outcome, clean_reason, record
from forum.moderation.models import Action
from forum.permissions import NotFound, ensure_can_sanction, ensure_moderator
from forum.templating import format_datetime

LONGEST_SUSPENSION = timedelta(days=365 * 5)


def lock_member(session: Session, member_id: int) -> User:
    """Return the member re-read under a row lock; raise NotFound if there is none."""
    member = session.scalar(
        sa.select(User)
        .where(User.id == member_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if member is None:
        raise NotFound(member_id)
    return member


def suspend(
    session: Session,
    moderator: User,
    member_id: int,
    until: datetime | None,
    reason: str,
    now: datetime | None = None,
) -> Outcome:
    """Suspend the member until ``until`` (aware UTC); return the outcome.

    Raises PermissionDenied when the moderator may not sanction this member, ModerationError
    for a missing reason or an end that is not in the future or more than five years away.
    """
    ensure_moderator(moderator)
    now = now or utcnow()
    if until is None:
        raise ModerationError("until", "Choose when the suspension ends.")
    if until.tzinfo is None:
        raise ModerationError("until", "The end of a suspension needs a time zone (UTC).")
    if until <= now:
        raise ModerationError("until", "Choose a time in the future.")
    if until > now + LONGEST_SUSPENSION:
        raise ModerationError("until", "A suspension lasts at most five years; ban instead.")
    reason = clean_reason(reason)
    member = lock_member(session, member_id)
    ensure_can_sanction(moderator, member)
    until = until.replace(second=0, microsecond=0)
    previous = member.suspended_until if member.is_suspended(now) else None
    if previous == until:
        entry = record(
            session, moderator, Action.SUSPEND, reason=reason, changed=False,
            target_user_id=member.id,
            detail=f"no change: already suspended until {format_datetime(until)}",
        )  # fmt: skip
        return Outcome(False, f"{member.username} is already suspended until then.", entry)
    member.suspended_until = until
    detail = f"until {format_datetime(until)}"
    if previous is not None:
        detail += f" (replaces until {format_datetime(previous)})"
    session.flush()
    entry = record(
        session, moderator, Action.SUSPEND, reason=reason, target_user_id=member.id, detail=detail
    )
    return Outcome(True, f"{member.username} is suspended until {format_datetime(until)}.", entry)


def ban(session: Session, moderator: User, member_id: int, reason: str) -> Outcome:
    """Ban the member and end their sessions; return the outcome.

    Raises PermissionDenied when the moderator may not sanction this member, ModerationError
    for a missing reason.
    """
    ensure_moderator(moderator)
    reason = clean_reason(reason)
    member = lock_member(session, member_id)
    ensure_can_sanction(moderator, member)
    if member.is_banned:
        entry = record(
            session, moderator, Action.BAN, reason=reason, changed=False,
            target_user_id=member.id,
            detail=f"no change: already banned since {format_datetime(member.banned_at)}",
        )  # fmt: skip
        return Outcome(False, f"{member.username} was already banned.", entry)
    member.banned_at = utcnow()
    member.session_generation += 1
    session.flush()
    entry = record(
        session, moderator, Action.BAN, reason=reason, target_user_id=member.id,
        detail="banned; signed out everywhere",
    )  # fmt: skip
    return Outcome(True, f"{member.username} is banned and signed out everywhere.", entry)


def lift(
    session: Session, moderator: User, member_id: int, reason: str, now: datetime | None = None
) -> Outcome:
    """Lift the member's ban and suspension, whichever are in force; return the outcome.

    Raises PermissionDenied when the moderator may not sanction this member.
    """
    ensure_moderator(moderator)
    reason = clean_reason(reason, required=False)
    member = lock_member(session, member_id)
    ensure_can_sanction(moderator, member)
    lifted = []
    if member.is_banned:
        lifted.append("ban")
    if member.is_suspended(now):
        lifted.append(f"suspension until {format_datetime(member.suspended_until)}")
    if not lifted:
        entry = record(
            session, moderator, Action.LIFT, reason=reason, changed=False,
            target_user_id=member.id, detail="no change: no ban or suspension in force",
        )  # fmt: skip
        return Outcome(False, f"{member.username} has no ban or suspension to lift.", entry)
    member.banned_at = None
    member.suspended_until = None
    session.flush()
    entry = record(
        session, moderator, Action.LIFT, reason=reason, target_user_id=member.id,
        detail="lifted " + " and ".join(lifted),
    )  # fmt: skip
    return Outcome(True, f"{member.username} can post again.", entry)


def standing(member: User, now: datetime | None = None) -> str:
    """Return the member's standing in words: active, suspended until …, or banned."""
    if member.is_banned:
        return f"Banned since {format_datetime(member.banned_at)}"
    if member.is_suspended(now):
        return f"Suspended until {format_datetime(member.suspended_until)}"
    return "In good standing"
