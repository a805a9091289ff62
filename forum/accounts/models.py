"""The member account: identity, role, and what the marketplace tells us about them."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.database import UTCDateTime, utcnow
from forum.extensions import db


class Role(enum.StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"
    ADMIN = "admin"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(30))
    # Lower-cased copies carry the uniqueness, so "Ann" and "ann" cannot both exist.
    username_key: Mapped[str] = mapped_column(sa.String(30), unique=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    email_key: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20), default=Role.MEMBER.value)
    hires: Mapped[bool] = mapped_column(default=False)
    works: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped to end every existing session (ban, password change, "sign out everywhere").
    session_generation: Mapped[int] = mapped_column(default=0)
    suspended_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    banned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Facts only the marketplace knows (set over its API).
    external_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    top_rated: Mapped[bool] = mapped_column(default=False)
    post_count: Mapped[int] = mapped_column(default=0)
    kudos_received: Mapped[int] = mapped_column(default=0)
    # Set by whichever part approves affiliates (the forum only shows the badge).
    affiliate_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r} {self.role}>"

    # Set at sign-in (and by the session loader) to the token of the current sign-in
    # session, which is what Flask-Login stores in the cookie.
    session_token = None

    def get_id(self) -> str:
        return f"{self.id}.{self.session_generation}.{self.session_token or ''}"

    @property
    def is_moderator(self) -> bool:
        return self.role in (Role.MODERATOR, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_banned(self) -> bool:
        return self.banned_at is not None

    def is_suspended(self, now: datetime | None = None) -> bool:
        return self.suspended_until is not None and self.suspended_until > (now or utcnow())

    @property
    def badges(self) -> list[str]:
        """Return the badge labels shown beside the member's name."""
        return badges_of(self.role, self.top_rated, self.affiliate_since)


def badges_of(role: str, top_rated: bool, affiliate_since: datetime | None) -> list[str]:
    """Return the badge labels shown beside a member's name, from the columns they come from.

    Pages that read members as plain rows (a thread page's authors) show the same badges.
    """
    badges = []
    if role == Role.ADMIN:
        badges.append("Admin")
    if role in (Role.MODERATOR, Role.ADMIN):
        badges.append("Moderator")
    if top_rated:
        badges.append("Top Rated")
    if affiliate_since is not None:
        badges.append("Affiliate")
    return badges


class UserSession(db.Model):
    """One signed-in browser; revoking it signs that browser out on its next request."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # Only a hash is stored: a database leak must not let anyone resume a session.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")
    remember: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<UserSession {self.id} user={self.user_id} revoked={self.revoked_at is not None}>"
