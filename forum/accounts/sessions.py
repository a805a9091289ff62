"""Sign-in sessions kept on the server, so that signing out really ends them."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

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


@dataclass(frozen=True, slots=True)
class Claim:
    """What a session id "<user>.<generation>.<token>" claims, before it is checked."""

    session_id: str
    user_id: int
    generation: int
    token: str

    @property
    def params(self) -> dict[str, Any]:
        """The values ``live_member`` binds: ``viewer_id`` and ``token_hash``."""
        return {"viewer_id": self.user_id, "token_hash": _hash(self.token)}


def claim_of(session_id: str | None) -> Claim | None:
    """Return what the session id claims, or None when it is not a session id at all."""
    if session_id is None:
        return None
    parts = session_id.split(".", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[2]:
        return None
    return Claim(session_id, int(parts[0]), int(parts[1]), parts[2])


def live_member() -> sa.Join:
    """The member of a live (not revoked) session named by the bound ``viewer_id`` and
    ``token_hash``: zero or one row of ``users``. A page's query may outer join it ``ON
    true`` to load the signed-in member with its own first query (``accept`` then checks
    what SQL does not)."""
    users, user_sessions = User.__table__, UserSession.__table__
    return users.join(
        user_sessions,
        sa.and_(
            user_sessions.c.user_id == users.c.id,
            user_sessions.c.token_hash == sa.bindparam("token_hash"),
            user_sessions.c.user_id == sa.bindparam("viewer_id"),
            user_sessions.c.revoked_at.is_(None),
        ),
    )


# The member's columns in a row that selects ``MEMBER_COLUMNS`` first.
MEMBER_COLUMNS = tuple(User.__table__.c)
_MEMBER_KEYS = tuple(column.key for column in MEMBER_COLUMNS)


def selecting_live_member(columns: list[Any], from_clause: Any) -> sa.Select:
    """A page's query of ``columns`` from ``from_clause`` with the ``MEMBER_COLUMNS`` of the
    ``live_member`` first in its row (all None without a live session; ``member_of_row``
    makes them the entity): it saves the session loader's own query."""
    return sa.select(*MEMBER_COLUMNS, *columns).select_from(
        from_clause.outerjoin(live_member(), sa.true())
    )


def member_of_row(session: Session, values: tuple[Any, ...]) -> User | None:
    """Return the member whose ``MEMBER_COLUMNS`` are ``values`` (as a page's own query read
    them, converted by their types; all None: the outer join to ``live_member`` found no
    live session) as the session's entity, as a query for them would have: the one the
    session already holds, else one made persistent with exactly these values.

    For the pages that read the member as plain columns with their own first query: the
    ORM's loading machinery for one entity cost more than that query."""
    if values[0] is None:
        return None
    key = User.__mapper__.identity_key_from_primary_key((values[0],))
    held = session.identity_map.get(key)
    if held is not None:
        # As a query would: what the session holds stays, what it let expire is filled in.
        unloaded = sa.inspect(held).unloaded
        for name, value in zip(_MEMBER_KEYS, values, strict=True):
            if name in unloaded:
                set_committed_value(held, name, value)
        return held  # type: ignore[return-value]
    user = User(**dict(zip(_MEMBER_KEYS, values, strict=True)))
    # As if loaded: no pending changes (nothing to flush), then persistent in the session.
    make_transient_to_detached(user)
    session.add(user)
    return user


@functools.cache
def _load_statement() -> sa.Select:
    """The member of a live session. Built once: it runs on every signed-in request."""
    return sa.select(User).select_from(live_member())


def accept(claim: Claim, user: User | None) -> User | None:
    """Return ``user`` (the member of the claim's live session, as ``live_member`` found
    them; None when there was none) if the claim holds, else None: None when the generation
    is stale or the user is banned."""
    if user is None or user.session_generation != claim.generation or user.is_banned:
        return None
    user.session_token = claim.token
    return user


def load(session: Session, session_id: str) -> User | None:
    """Return the user of a live session id "<user>.<generation>.<token>", or None.

    None when the session was revoked, the generation is stale or the user is banned.
    One query, whatever the outcome.
    """
    claim = claim_of(session_id)
    if claim is None:
        return None
    return accept(claim, session.scalar(_load_statement(), claim.params))


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
