"""Sign-in sessions kept on the server, so that signing out really ends them."""

from __future__ import annotations

import functools
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User, UserSession
from forum.database import utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: User, user_agent: str, remember: bool) -> str:
    """Record a new sign-in for ``user``; return its token (also set on the user)."""
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=_hash(token),
            user_agent=user_agent.replace("\x00", "")[:200],
            remember=remember,
        )
    )  # fmt: skip
    session.flush()
    user.session_token = token
    return token


@functools.cache
def _load_statement() -> sa.Select:
    """The member of a live session. Built once: it runs on every signed-in request."""
    return (
        sa.select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.token_hash == sa.bindparam("token_hash"),
            UserSession.user_id == sa.bindparam("user_id"),
            UserSession.revoked_at.is_(None),
        )
    )


def load(session: Session, session_id: str) -> User | None:
    """Return the user of a live session id "<user>.<generation>.<token>", or None.

    None when the session was revoked, the generation is stale or the user is banned.
    One query, whatever the outcome.
    """
    parts = session_id.split(".", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[2]:
        return None
    user_id, generation, token = int(parts[0]), int(parts[1]), parts[2]
    user = session.scalar(_load_statement(), {"token_hash": _hash(token), "user_id": user_id})
    if user is None:
        return None
    if user.session_generation != generation or user.is_banned:
        return None
    user.session_token = token
    return user


def current(session: Session, user: User) -> UserSession | None:
    """Return the session row of the user's current sign-in, if any."""
    if not user.session_token:
        return None
    return session.scalar(
        sa.select(UserSession).where(UserSession.token_hash == _hash(user.session_token))
    )


def active(session: Session, user: User) -> list[UserSession]:
    """Return the user's sessions that are not revoked, newest first."""
    return list(
        session.scalars(
            sa.select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .order_by(UserSession.created_at.desc(), UserSession.id.desc())
        )
    )


def end(session: Session, user: User, session_row_id: int | None = None) -> int:
    """Revoke one of the user's sessions (the current one when no id); return how many."""
    query = sa.update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if session_row_id is None:
        if not user.session_token:
            return 0
        query = query.where(UserSession.token_hash == _hash(user.session_token))
    else:
        query = query.where(UserSession.id == session_row_id)
    return session.execute(query.values(revoked_at=utcnow())).rowcount or 0


def end_others(session: Session, user: User) -> int:
    """Revoke every session of the user but the current one; return how many."""
    query = sa.update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if user.session_token:
        query = query.where(UserSession.token_hash != _hash(user.session_token))
    return session.execute(query.values(revoked_at=utcnow())).rowcount or 0


def end_all(session: Session, user: User) -> int:
    """Revoke every session of the user (a ban, a compromised account); return how many."""
    return (
        session.execute(
            sa.update(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        ).rowcount
        or 0
    )
