"""Roles: admins make members moderators or admins and take the role back."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import Role, User
from forum.moderation.errors import ModerationError
from forum.moderation.log import Outcome, clean_reason, record
from forum.moderation.models import Action
from forum.moderation.sanctions import lock_member
from forum.permissions import PermissionDenied, ensure_admin


def set_role(
    session: Session, actor: User | None, member_id: int, role: str, reason: str = ""
) -> Outcome:
    """Give the member ``role``; return the outcome. ``actor`` None means the command line.

    Raises PermissionDenied unless the actor is an admin changing someone else's role, and
    ModerationError for an unknown role or a promotion of a sanctioned member.
    """
    if actor is not None:
        ensure_admin(actor)
    try:
        new_role = Role(role)
    except ValueError:
        raise ModerationError("role", "Choose member, moderator or admin.") from None
    reason = clean_reason(reason, required=False)
    member = lock_member(session, member_id)
    if actor is not None and member.id == actor.id:
        # Keeps at least one admin: nobody can demote themselves from the page.
        raise PermissionDenied("You cannot change your own role.")
    if member.role == new_role.value:
        entry = record(
            session, actor, Action.SET_ROLE, reason=reason, changed=False,
            target_user_id=member.id, detail=f"no change: already {new_role.value}",
        )  # fmt: skip
        return Outcome(False, f"{member.username} is already {new_role.value}.", entry)
    if new_role is not Role.MEMBER and (member.is_banned or member.is_suspended()):
        raise ModerationError("role", f"{member.username} is sanctioned; lift it first.")
    previous = member.role
    member.role = new_role.value
    session.flush()
    via = "" if actor is not None else " (command line)"
    entry = record(
        session, actor, Action.SET_ROLE, reason=reason, target_user_id=member.id,
        detail=f"{previous} → {new_role.value}{via}",
    )  # fmt: skip
    return Outcome(True, f"{member.username} is now {new_role.value}.", entry)


def staff(session: Session) -> list[User]:
    """Return every moderator and admin, admins first, then by name."""
    return list(
        session.scalars(
            sa.select(User)
            .where(User.role.in_([Role.MODERATOR.value, Role.ADMIN.value]))
            .order_by(User.role, User.username_key)
        )
    )
