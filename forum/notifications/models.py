"""Notifications: what happened that a member should hear about, and how they want to hear it."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.boards.models import Post, Thread
from forum.database import UTCDateTime, utcnow
from forum.extensions import db


class NotificationKind(enum.StrEnum):
    REPLY = "reply"
    NEW_THREAD = "new_thread"
    QUOTE = "quote"
    MENTION = "mention"
    SOLUTION = "solution"
    KUDOS = "kudos"
    POST_REMOVED = "post_removed"
    # Called by the referral engine through forum.notifications.notify; the forum never
    # imports it.
    REFERRAL_SIGNED_UP = "referral_signed_up"
    REWARD_APPROVED = "reward_approved"

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


KIND_LABELS = {
    NotificationKind.REPLY: "Replies in threads you watch",
    NotificationKind.NEW_THREAD: "New threads in boards you watch",
    NotificationKind.QUOTE: "Someone quotes your post",
    NotificationKind.MENTION: "Someone mentions you",
    NotificationKind.SOLUTION: "Your reply is accepted as the solution",
    NotificationKind.KUDOS: "Kudos for your posts",
    NotificationKind.POST_REMOVED: "A moderator removes your post",
    NotificationKind.REFERRAL_SIGNED_UP: "Someone you referred signs up",
    NotificationKind.REWARD_APPROVED: "A referral reward is approved",
}


class EmailMode(enum.StrEnum):
    OFF = "off"
    IMMEDIATELY = "immediately"
    DAILY = "daily"

    @property
    def label(self) -> str:
        return {"off": "Off", "immediately": "Right away", "daily": "Daily digest"}[self.value]


# What a member gets by email until they choose: what is addressed to them right away,
# the rest in the daily digest.
DEFAULT_EMAIL_MODES = {
    NotificationKind.REPLY: EmailMode.DAILY,
    NotificationKind.NEW_THREAD: EmailMode.DAILY,
    NotificationKind.QUOTE: EmailMode.IMMEDIATELY,
    NotificationKind.MENTION: EmailMode.IMMEDIATELY,
    NotificationKind.SOLUTION: EmailMode.IMMEDIATELY,
    NotificationKind.KUDOS: EmailMode.DAILY,
    NotificationKind.POST_REMOVED: EmailMode.IMMEDIATELY,
    NotificationKind.REFERRAL_SIGNED_UP: EmailMode.IMMEDIATELY,
    NotificationKind.REWARD_APPROVED: EmailMode.IMMEDIATELY,
}


class EmailState(enum.StrEnum):
    """Where a notification is on its way to the member's inbox."""

    PENDING = "pending"  # not looked at yet by `outbox send`
    QUEUED = "queued"  # an email was put in the outbox
    DIGEST = "digest"  # waiting for the next daily digest
    DIGESTED = "digested"  # went out in a digest
    SKIPPED = "skipped"  # no email: turned off, already read, or the content was removed


class Notification(db.Model):
    """One thing a member should hear about.

    ``dedupe_key`` makes one event one row: a second insert with the same key for the same
    recipient is ignored (or, for kudos, updates the grouped row).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint("recipient_id", "dedupe_key"),
        # The bell: unread rows of one member.
        sa.Index("ix_notifications_recipient_unread", "recipient_id", "read_at"),
        # The notifications page: a member's rows, latest first.
        sa.Index("ix_notifications_recipient_updated", "recipient_id", "updated_at"),
        # `outbox send`: rows still to decide an email for.
        sa.Index("ix_notifications_email_state", "email_state", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(30))
    # Who did it (the latest giver for grouped kudos); None for system events.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("posts.id"))
    thread_id: Mapped[int | None] = mapped_column(sa.ForeignKey("threads.id"))
    # How many events this row groups (kudos givers); 1 for everything else.
    count: Mapped[int] = mapped_column(default=1)
    # Free text: the moderator's reason, or the referral engine's message.
    detail: Mapped[str | None] = mapped_column(sa.String(500))
    # A path on this site to follow, for notifications that are not about a post.
    link: Mapped[str | None] = mapped_column(sa.String(500))
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_state: Mapped[str] = mapped_column(sa.String(10), default=EmailState.PENDING.value)

    recipient: Mapped[User] = relationship(foreign_keys=[recipient_id])
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    post: Mapped[Post | None] = relationship(foreign_keys=[post_id])
    thread: Mapped[Thread | None] = relationship(foreign_keys=[thread_id])

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.kind} to={self.recipient_id} post={self.post_id}>"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationSettings(db.Model):
    """A member's choices beyond email modes; no row means the defaults."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    # Starting or replying to a thread watches it.
    watch_on_post: Mapped[bool] = mapped_column(default=True)
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<NotificationSettings user={self.user_id} watch_on_post={self.watch_on_post}>"


class EmailPreference(db.Model):
    """How a member wants one kind of notification by email; no row means the default."""

    __tablename__ = "email_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    mode: Mapped[str] = mapped_column(sa.String(12))

    def __repr__(self) -> str:
        return f"<EmailPreference user={self.user_id} {self.kind}={self.mode}>"
