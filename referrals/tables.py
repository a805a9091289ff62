"""The tables behind the referral pages: invitations, the relationships they create, service
fee tiers, and payout batches.

Kept apart from ``referrals.models`` (the engine's tables) so neither module grows past a
screenful of concepts. Times are aware UTC, money integer cents.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.database import UTCDateTime, utcnow
from forum.extensions import db
from referrals.models import Reward


class InvitationKind(enum.StrEnum):
    TALENT = "talent"  # a client brings their own freelancer
    CLIENT = "client"  # a freelancer brings their own client


class InvitationStatus(enum.StrEnum):
    INVITED = "invited"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    # Never stored: an invitation still "invited" after its expiry is shown as expired.
    EXPIRED = "expired"


class PayoutStatus(enum.StrEnum):
    OPEN = "open"  # created and exported, not yet paid
    PAID = "paid"


class Invitation(db.Model):
    """One person invited by a member to join with them (bring your own talent or client)."""

    __tablename__ = "invitations"
    __table_args__ = (sa.Index("ix_invitations_inviter_email", "inviter_id", "email_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inviter_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(10))
    # What the invitation asks: "offer" or "talent_cloud" for talent, "proposal" or
    # "work_together" for clients (see referrals.invitations.PURPOSES).
    purpose: Mapped[str] = mapped_column(sa.String(20))
    first_name: Mapped[str] = mapped_column(sa.String(60))
    last_name: Mapped[str] = mapped_column(sa.String(60))
    email: Mapped[str] = mapped_column(sa.String(254))
    email_key: Mapped[str] = mapped_column(sa.String(254))
    # SHA-256 of the secret in the link: the link works once and only the hash is stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=InvitationStatus.INVITED.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    send_count: Mapped[int] = mapped_column(default=1)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set only by an admin's override (referrals.overrides): the existing, never active
    # account the invitation is for. Accepting it connects that account; it creates none.
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    inviter: Mapped[User] = relationship(foreign_keys=[inviter_id])
    account: Mapped[User | None] = relationship(foreign_keys=[account_id])

    def __repr__(self) -> str:
        return f"<Invitation {self.id} {self.kind} by={self.inviter_id} {self.status}>"

    def status_at(self, now: datetime) -> InvitationStatus:
        """Return the status to show: invited, accepted, revoked, or expired."""
        if self.status == InvitationStatus.INVITED and self.expires_at <= now:
            return InvitationStatus.EXPIRED
        return InvitationStatus(self.status)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class TalentRelationship(db.Model):
    """A client and a freelancer who came to the marketplace together (bring your own): their
    payments pay the reduced flat service fee recorded here."""

    __tablename__ = "talent_relationships"
    __table_args__ = (
        sa.UniqueConstraint("client_id", "freelancer_id"),
        sa.CheckConstraint("flat_fee_bp >= 0 AND flat_fee_bp <= 10000", name="flat_fee_bp_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    freelancer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    invitation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invitations.id"))
    # The flat freelancer service fee, in basis points (500 = 5%).
    flat_fee_bp: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<TalentRelationship {self.client_id}<->{self.freelancer_id} {self.flat_fee_bp}bp>"


class FeeTier(db.Model):
    """One band of the freelancer service fee: from ``from_cents`` of a relationship's lifetime
    billings on, ``rate_bp`` basis points. With no rows, the defaults apply."""

    __tablename__ = "service_fee_tiers"
    __table_args__ = (
        sa.UniqueConstraint("position"),
        sa.CheckConstraint("from_cents >= 0", name="from_cents_not_negative"),
        sa.CheckConstraint("rate_bp >= 0 AND rate_bp <= 10000", name="rate_bp_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int]
    from_cents: Mapped[int] = mapped_column(sa.BigInteger)
    rate_bp: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<FeeTier {self.position} from {self.from_cents}: {self.rate_bp}bp>"


class PayoutBatch(db.Model):
    """Approved cash rewards an admin pays out together, exported as CSV, then marked paid."""

    __tablename__ = "payout_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=PayoutStatus.OPEN.value)
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    total_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    reward_count: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    items: Mapped[list[PayoutItem]] = relationship(back_populates="batch", order_by="PayoutItem.id")

    def __repr__(self) -> str:
        return f"<PayoutBatch {self.id} {self.status} {self.total_cents}>"


class PayoutItem(db.Model):
    """One reward in one batch. ``reward_id`` is unique: a reward is never in two batches,
    whatever the code does."""

    __tablename__ = "payout_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("payout_batches.id"), index=True)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_rewards.id"), unique=True)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)

    batch: Mapped[PayoutBatch] = relationship(back_populates="items")
    reward: Mapped[Reward] = relationship()

    def __repr__(self) -> str:
        return f"<PayoutItem batch={self.batch_id} reward={self.reward_id}>"
