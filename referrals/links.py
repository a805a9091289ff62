"""Referral links: codes a referrer shares, each leading to a page of this site."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.database import Prepared, UTCDateTime
from forum.redirects import safe_local_path
from referrals import members
from referrals.models import Link, Program

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,39}$")
# Generated codes avoid letters and digits people confuse (0/o, 1/l/i).
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
GENERATED_CODE_LENGTH = 8
# Paths a link may not lead to: other links (loops) and the machine API.
FORBIDDEN_TARGET_PREFIXES = ("/r/", "/api/")


class LinkError(ValueError):
    """A link cannot be made as asked; tied to the field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def code_key(code: str) -> str:
    """Return the case-insensitive key under which a code is unique."""
    return code.lower()


def _generated_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(GENERATED_CODE_LENGTH))
        if session.scalar(sa.select(Link.id).where(Link.code_key == code)) is None:
            return code


def clean_target(target: str | None) -> str:
    """Return the target path to store; raise LinkError unless it is a page of this site."""
    target = (target or "/").strip()
    if safe_local_path(target, default="") != target:
        raise LinkError("target", "The target must be a path on this site, starting with “/”.")
    if target.startswith(FORBIDDEN_TARGET_PREFIXES) or len(target) > 500:
        raise LinkError("target", "A link cannot lead to another link or to the API.")
    return target


def create_link(
    session: Session,
    referrer: User,
    program: Program,
    now: datetime,
    code: str | None = None,
    campaign: str | None = None,
    target: str | None = "/",
) -> Link:
    """Create and return a link for the referrer in the program (flushed, not committed).

    Without a code, one is generated. Raises LinkError when the referrer may not refer in the
    program now (with the reason), or the code, campaign or target cannot be used.
    """
    eligibility = members.referrer_eligibility(session, referrer, program, now)
    if not eligibility.allowed:
        raise LinkError("program", eligibility.reason)
    if code is None:
        code = _generated_code(session)
    elif not CODE_PATTERN.match(code):
        raise LinkError(
            "code",
            "Use 3 to 40 letters, digits, dashes or underscores, starting with a letter or digit.",
        )
    elif session.scalar(sa.select(Link.id).where(Link.code_key == code_key(code))):
        raise LinkError("code", "That code is taken.")
    campaign = " ".join(campaign.split()) if campaign else None
    if campaign is not None and len(campaign) > 80:
        raise LinkError("campaign", "Keep the campaign label under 80 characters.")
    link = Link(
        program_id=program.id,
        referrer_id=referrer.id,
        code=code,
        code_key=code_key(code),
        campaign=campaign or None,
        target=clean_target(target),
        created_at=now,
    )
    session.add(link)
    session.flush()
    return link


def disable_link(session: Session, link: Link, now: datetime) -> Link:
    """Stop the link from counting clicks; it then leads to the home page. Returns the link."""
    if link.enabled:
        link.enabled = False
        link.disabled_at = now
        session.flush()
    return link


@dataclass(frozen=True)
class FollowedLink:
    """What following a link needs of it and its program: read in one query."""

    id: int
    program_id: int
    target: str
    attribution_days: int


_links = Link.__table__
_programs = Program.__table__
# Built once (a click is the busiest request): Program.is_running and Link.enabled, in SQL.
_NOW = sa.bindparam("now", type_=UTCDateTime)
FOLLOWABLE = (
    sa.select(_links.c.id, _links.c.program_id, _links.c.target, _programs.c.attribution_days)
    .join(_programs, _programs.c.id == _links.c.program_id)
    .where(
        _links.c.code_key == sa.bindparam("code_key"),
        _links.c.enabled.is_(True),
        _programs.c.starts_at <= _NOW,
        sa.or_(_programs.c.ends_at.is_(None), _programs.c.ends_at > _NOW),
    )
)
_FOLLOWABLE = Prepared(FOLLOWABLE)


def followable(connection: Connection, code: str, now: datetime) -> FollowedLink | None:
    """Return the enabled link with this code (any case) in a running program, else None,
    in one indexed query on the session's ``connection`` and without ORM objects (nor
    SQLAlchemy's result machinery)."""
    if not CODE_PATTERN.match(code):
        return None
    found = _FOLLOWABLE.rows(connection, {"code_key": code_key(code), "now": now})
    return FollowedLink(*found[0]) if found else None


def followable_link(session: Session, code: str, now: datetime) -> Link | None:
    """Return ``followable``'s link as an entity."""
    found = followable(session.connection(), code, now)
    return session.get(Link, found.id) if found is not None else None


def links_of(session: Session, referrer: User) -> list[Link]:
    return list(
        session.scalars(sa.select(Link).where(Link.referrer_id == referrer.id).order_by(Link.id))
    )
