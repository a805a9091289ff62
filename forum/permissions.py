"""Who may do what: the rules behind every 403, in one place."""

from __future__ import annotations

from datetime import datetime

from forum.accounts.models import User
from forum.boards.models import Board, Post, Thread


class PermissionDenied(Exception):
    """The actor may not do this; the message says why, in words for a person."""


class NotFound(LookupError):
    """The thing does not exist, or the actor may not know that it exists."""


def can_see_board(viewer: User | None, board: Board) -> bool:
    return not board.moderators_only or (viewer is not None and viewer.is_moderator)


def can_see_thread(viewer: User | None, thread: Thread) -> bool:
    if not can_see_board(viewer, thread.board):
        return False
    return thread.removed_at is None or (viewer is not None and viewer.is_moderator)


def ensure_can_post(actor: User, now: datetime | None = None) -> None:
    """Raise PermissionDenied when the actor may not write anything right now."""
    if actor.is_banned:
        raise PermissionDenied("This account is banned.")
    if actor.is_suspended(now):
        until = actor.suspended_until.strftime("%-d %B %Y, %H:%M UTC")  # type: ignore[union-attr]
        raise PermissionDenied(f"Your account is suspended until {until}.")


def ensure_can_reply(actor: User, thread: Thread) -> None:
    ensure_can_post(actor)
    if thread.removed_at is not None:
        raise PermissionDenied("This thread was removed; no new replies can be posted.")
    if thread.locked and not actor.is_moderator:
        raise PermissionDenied("This thread is locked; no new replies can be posted.")


def ensure_can_edit(actor: User, post: Post) -> None:
    ensure_can_post(actor)
    if post.author_id != actor.id and not actor.is_moderator:
        raise PermissionDenied("You can only edit your own posts.")
    if post.is_removed and not actor.is_moderator:
        raise PermissionDenied("A removed post cannot be edited.")


def ensure_can_accept(actor: User, thread: Thread) -> None:
    ensure_can_post(actor)
    if thread.author_id != actor.id and not actor.is_moderator:
        raise PermissionDenied("Only the thread's author or a moderator can mark a solution.")


def ensure_moderator(actor: User | None) -> None:
    """Raise PermissionDenied unless the actor is a moderator or an admin."""
    if actor is None or not actor.is_moderator:
        raise PermissionDenied("Only moderators can do that.")


def ensure_admin(actor: User | None) -> None:
    """Raise PermissionDenied unless the actor is an admin."""
    if actor is None or not actor.is_admin:
        raise PermissionDenied("Only admins can do that.")


def ensure_can_report(actor: User, post: Post) -> None:
    """Raise PermissionDenied when the actor may not report this post."""
    ensure_can_post(actor)
    if post.author_id == actor.id:
        raise PermissionDenied("You cannot report your own post.")
    if post.is_removed:
        raise PermissionDenied("This post was already removed by a moderator.")


def ensure_can_sanction(actor: User, member: User) -> None:
    """Raise PermissionDenied when the actor may not suspend, ban or lift this member.

    Staff are never sanctioned: an admin first takes the moderator role away.
    """
    ensure_moderator(actor)
    if member.id == actor.id:
        raise PermissionDenied("You cannot sanction yourself.")
    if member.is_moderator:
        raise PermissionDenied(
            "Moderators and admins cannot be suspended or banned; an admin can revoke the role "
            "first."
        )
