"""API tokens: bearer secrets with scopes, stored only as hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.database import Prepared
from referrals.models import ApiToken

SCOPES = {
    "events:write": "post spend events",
    "rewards:read": "read rewards",
    "rewards:write": "mark rewards fulfilled",
    "members:write": "link members and set their marketplace facts",
    "fees:read": "quote service fees",
}
# The one scope a member's own token has: reading their own referral stats.
MEMBER_SCOPES = {"me:read": "read your own referral stats, referrals and rewards"}
MAX_MEMBER_TOKENS = 5
TOKEN_PREFIX = "th_"  # noqa: S105 - a marker that makes leaked tokens easy to spot
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,59}$")


class TokenError(ValueError):
    """A token cannot be created or revoked as asked."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def member_token_name(owner: User, label: str) -> str:
    """Return the stored name of a member's token: unique per member, under the 60 letters."""
    return f"u{owner.id} {label.strip()}"


def label_of(token: ApiToken) -> str:
    """Return the name a member gave their token (the stored name without its prefix)."""
    if token.owner_id is not None:
        return token.name.split(" ", 1)[-1].split("~revoked-")[0]
    return token.name


def create_token(
    session: Session,
    name: str,
    scopes: Iterable[str],
    now: datetime,
    owner: User | None = None,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is shown once and never stored.

    With an ``owner``, the token is that member's own, read-only (scope ``me:read``), and may
    read nothing but the member's own referral data. Raises TokenError for a bad or taken name,
    an unknown scope, or a member with too many tokens.
    """
    name = name.strip()
    if owner is not None:
        if not NAME_PATTERN.match(name) or len(name) > 40:
            raise TokenError(
                "Name the token with up to 40 letters, digits, spaces, dots, dashes or underscores."
            )
        live = session.scalar(
            sa.select(sa.func.count(ApiToken.id)).where(
                ApiToken.owner_id == owner.id, ApiToken.revoked_at.is_(None)
            )
        )
        if live >= MAX_MEMBER_TOKENS:
            raise TokenError(f"You can have {MAX_MEMBER_TOKENS} tokens; revoke one first.")
        name = member_token_name(owner, name)
    if not NAME_PATTERN.match(name):
        raise TokenError(
            "Name the token with up to 60 letters, digits, spaces, dots, dashes or underscores."
        )
    scopes = sorted(set(scopes))
    allowed = MEMBER_SCOPES if owner is not None else SCOPES
    unknown = [s for s in scopes if s not in allowed]
    if unknown or not scopes:
        raise TokenError(f"Give one or more scopes from: {', '.join(allowed)}.")
    if session.scalar(sa.select(ApiToken.id).where(ApiToken.name == name)):
        shown = label_of(ApiToken(name=name, owner_id=owner.id if owner else None))
        raise TokenError(f"A token called {shown!r} exists; revoke it or choose another name.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        token_hash=hash_token(secret),
        scopes=" ".join(scopes),
        created_at=now,
        owner_id=owner.id if owner is not None else None,
    )
    session.add(token)
    session.flush()
    return token, secret


@dataclass(frozen=True)
class TokenFacts:
    """What a request authenticated by a token needs of it."""

    name: str
    owner_id: int | None
    scope_set: frozenset[str]
    # A ban ends a member's sessions at the next request; it ends their tokens' use too.
    owner_banned: bool = False


_tokens = ApiToken.__table__
_owners = User.__table__
# Built once: every API request reads its token (plain columns, no entity).
_LIVE_TOKEN = Prepared(
    sa.select(
        _tokens.c.name,
        _tokens.c.owner_id,
        _tokens.c.scopes,
        _owners.c.banned_at.is_not(None),
    )
    .select_from(_tokens.outerjoin(_owners, _owners.c.id == _tokens.c.owner_id))
    .where(_tokens.c.token_hash == sa.bindparam("token_hash"), _tokens.c.revoked_at.is_(None))
)


def token_facts(session: Session | sa.Connection, secret: str) -> TokenFacts | None:
    """Return the name, owner, scopes and owner's ban of the live (not revoked) token with
    this secret, or None; one prepared statement, no ORM object. Read in the session's
    transaction, or on the connection given."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    connection = session if isinstance(session, sa.Connection) else session.connection()
    cursor = _LIVE_TOKEN.execute(connection, {"token_hash": hash_token(secret)})
    row = cursor.fetchone()
    cursor.close()
    if row is None:
        return None
    return TokenFacts(row[0], row[1], frozenset(row[2].split()), bool(row[3]))


def revoke_token(session: Session, name: str, now: datetime) -> ApiToken:
    """Revoke the token with this name and return it; raise TokenError if there is none."""
    token = session.scalar(
        sa.select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    )
    if token is None:
        raise TokenError(f"No live token is called {name!r}.")
    return revoke(session, token, now)


def revoke(session: Session, token: ApiToken, now: datetime) -> ApiToken:
    """Revoke a live token and return it (its name is freed for a successor)."""
    name = token.name
    token.revoked_at = now
    # Free the name for a successor; the row stays as a record.
    token.name = f"{name[:40]}~revoked-{token.id}"
    session.flush()
    return token


def tokens_of(session: Session, owner: User) -> list[ApiToken]:
    """Return the member's live tokens, newest first."""
    return list(
        session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.owner_id == owner.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def live_token(session: Session, token_id: int, owner: User | None = None) -> ApiToken:
    """Return a live token by id (only among the owner's when one is given).

    Raises TokenError when there is none.
    """
    query = sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
    if owner is not None:
        query = query.where(ApiToken.owner_id == owner.id)
    token = session.scalar(query)
    if token is None:
        raise TokenError("There is no such live token.")
    return token


def all_tokens(session: Session) -> list[ApiToken]:
    """Return every token, live first, then newest first."""
    return list(
        session.scalars(
            sa.select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
        )
    )
