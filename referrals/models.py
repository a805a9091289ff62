"""The referral engine's tables: programs, tiers, links, clicks, referrals, events, rewards.

Money is integer cents in ``BigInteger`` columns with a currency code; times are aware UTC.
Clicks and spend events are rows that are only ever added.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from forum.accounts.models import User
from forum.database import UTCDateTime, utcnow
from forum.extensions import db

# Row ids of tables that grow without bound: 64-bit on PostgreSQL; SQLite's INTEGER PRIMARY
# KEY is already 64-bit (and only autoincrements under that exact type name).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class ReferrerKind(enum.StrEnum):
    CLIENT = "client"
    FREELANCER = "freelancer"
    TOP_RATED_FREELANCER = "top_rated_freelancer"
    AFFILIATE = "affiliate"


class RefereeKind(enum.StrEnum):
    CLIENT = "client"
    FREELANCER = "freelancer"


class RewardKind(enum.StrEnum):
    CASH = "cash"  # amount in cents, paid out by admins
    CREDIT = "credit"  # amount in cents of marketplace credit
    CONNECTS = "connects"  # amount in Connects (marketplace bidding credits)
    FEE_DISCOUNT = "fee_discount"  # amount: the reduced flat service fee, in basis points
    REVENUE_SHARE = "revenue_share"  # amount: basis points of each payment (tier); cents (reward)


# Kinds whose amount is money, and so counts against the programs' caps.
MONEY_KINDS = frozenset({RewardKind.CASH, RewardKind.CREDIT, RewardKind.REVENUE_SHARE})


class RewardStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    PAID = "paid"
    REVERSED = "reversed"


LIVE_STATUSES = (RewardStatus.PENDING, RewardStatus.APPROVED, RewardStatus.PAID)


class ReviewStatus(enum.StrEnum):
    CLEAR = "clear"  # nothing suspicious: rewarded as it goes
    FLAGGED = "flagged"  # looks like self-referral: no rewards until an admin approves
    APPROVED = "approved"  # flagged, then approved by an admin
    REJECTED = "rejected"  # flagged, then rejected: never rewarded


class EventKind(enum.StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


class AffiliateStatus(enum.StrEnum):
    APPLIED = "applied"
    APPROVED = "approved"
    REJECTED = "rejected"


def dialect_insert(session: Session, model: type[Any]) -> Any:
    """Return an INSERT for ``model`` in the session's SQL dialect (for ON CONFLICT clauses)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model)


class Program(db.Model):
    __tablename__ = "referral_programs"
    __table_args__ = (
        sa.CheckConstraint("attribution_days > 0", name="attribution_days_positive"),
        sa.CheckConstraint("hold_days >= 0", name="hold_days_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(60), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.String(1000), default="")
    referrer_kind: Mapped[str] = mapped_column(sa.String(30))
    referee_kind: Mapped[str] = mapped_column(sa.String(20))
    attribution_days: Mapped[int]
    hold_days: Mapped[int]
    # Most money (cash, credit, revenue share) one referrer / one referee may bring in.
    referrer_cap_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    referee_cap_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tiers: Mapped[list[Tier]] = relationship(
        back_populates="program",
        order_by="Tier.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    def __repr__(self) -> str:
        return f"<Program {self.id} {self.slug!r}>"

    def is_running(self, now: datetime) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)


class Tier(db.Model):
    __tablename__ = "referral_tiers"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "position"),
        sa.CheckConstraint("threshold_cents >= 0", name="threshold_not_negative"),
        sa.CheckConstraint("reward_amount > 0", name="reward_amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_programs.id"))
    position: Mapped[int]
    # The referee's cumulative net amount (spend or earnings) that earns this tier.
    threshold_cents: Mapped[int] = mapped_column(sa.BigInteger)
    reward_kind: Mapped[str] = mapped_column(sa.String(20))
    # Cents, Connects or basis points, depending on reward_kind (see RewardKind).
    reward_amount: Mapped[int] = mapped_column(sa.BigInteger)
    # Revenue share only: for how many months after sign-up payments count, and the most
    # one referee can earn the referrer.
    share_months: Mapped[int | None]
    share_cap_cents: Mapped[int | None] = mapped_column(sa.BigInteger)

    program: Mapped[Program] = relationship(back_populates="tiers")

    def __repr__(self) -> str:
        return f"<Tier {self.id} {self.reward_kind} at {self.threshold_cents}>"

    @property
    def is_revenue_share(self) -> bool:
        return self.reward_kind == RewardKind.REVENUE_SHARE


class Link(db.Model):
    __tablename__ = "referral_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_programs.id"))
    referrer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    # Lower-cased copy that carries the uniqueness: codes are case-insensitive.
    code_key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    campaign: Mapped[str | None] = mapped_column(sa.String(80))
    target: Mapped[str] = mapped_column(sa.String(500), default="/")
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    program: Mapped[Program] = relationship()
    referrer: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<Link {self.id} {self.code!r}>"


class Click(db.Model):
    __tablename__ = "referral_clicks"
    __table_args__ = (
        sa.Index("ix_referral_clicks_link_time", "link_id", "clicked_at"),
        sa.Index("ix_referral_clicks_address_time", "address_hash", "clicked_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    link_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_links.id"))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    address_hash: Mapped[str] = mapped_column(sa.String(64))
    agent_class: Mapped[str] = mapped_column(sa.String(10))
    is_bot: Mapped[bool] = mapped_column(default=False)
    bot_reason: Mapped[str | None] = mapped_column(sa.String(20))
    # The signed-in member who clicked, if any (self-referral evidence).
    visitor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    link: Mapped[Link] = relationship()

    def __repr__(self) -> str:
        return f"<Click {self.id} link={self.link_id} bot={self.is_bot}>"


class Referral(db.Model):
    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_programs.id"), index=True)
    referrer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # A member is referred at most once, when their account is made.
    referee_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    link_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_links.id"))
    click_id: Mapped[int | None] = mapped_column(sa.ForeignKey("referral_clicks.id"))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    signup_address_hash: Mapped[str | None] = mapped_column(sa.String(64))
    review_status: Mapped[str] = mapped_column(sa.String(10), default=ReviewStatus.CLEAR.value)
    review_reasons: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(sa.String(500))
    # Running totals, updated under a row lock by every spend event that concerns the
    # referee, so no event ever has to sum the referee's history.
    net_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    share_base_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    share_accrued_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # Money in live rewards earned through this referee (for the per-referee cap).
    rewarded_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    event_count: Mapped[int] = mapped_column(default=0)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Tiers an admin stopped (by reversing their reward): never granted again here.
    blocked_tier_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)

    program: Mapped[Program] = relationship()
    referrer: Mapped[User] = relationship(foreign_keys=[referrer_id])
    referee: Mapped[User] = relationship(foreign_keys=[referee_id])
    link: Mapped[Link] = relationship()

    def __repr__(self) -> str:
        return f"<Referral {self.id} {self.referrer_id}->{self.referee_id} {self.review_status}>"

    @property
    def may_be_rewarded(self) -> bool:
        return self.review_status in (ReviewStatus.CLEAR, ReviewStatus.APPROVED)


class ReferrerTotal(db.Model):
    """One referrer's running totals in one program (for the per-referrer cap)."""

    __tablename__ = "referrer_totals"
    __table_args__ = (sa.UniqueConstraint("program_id", "referrer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_programs.id"))
    referrer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    rewarded_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    def __repr__(self) -> str:
        return f"<ReferrerTotal {self.program_id}/{self.referrer_id} {self.rewarded_cents}>"


class Reward(db.Model):
    __tablename__ = "referral_rewards"
    __table_args__ = (
        sa.Index("ix_referral_rewards_due", "status", "hold_until"),
        sa.Index("ix_referral_rewards_referral", "referral_id", "tier_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"))
    tier_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_tiers.id"))
    program_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_programs.id"))
    referrer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    # Cents (cash, credit, revenue share: negative for a refund's claw-back), Connects, or
    # basis points (fee discount).
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    status: Mapped[str] = mapped_column(sa.String(10), default=RewardStatus.PENDING.value)
    # "<referral id>:<tier id>" while a threshold reward is live, NULL once reversed: the
    # unique constraint allows at most one live reward per referral and tier.
    live_key: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    spend_event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("spend_events.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    hold_until: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfilled_by: Mapped[str | None] = mapped_column(sa.String(60))
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversal_reason: Mapped[str | None] = mapped_column(sa.String(500))
    reversed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    referral: Mapped[Referral] = relationship()
    tier: Mapped[Tier] = relationship()

    def __repr__(self) -> str:
        return f"<Reward {self.id} {self.kind} {self.amount} {self.status}>"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def money_cents(self) -> int:
        """Return the money this reward is worth (0 for Connects and fee discounts)."""
        return self.amount if self.kind in MONEY_KINDS else 0


class SpendEvent(db.Model):
    __tablename__ = "spend_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The marketplace's id: an event is stored once, whatever the retries.
    event_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    # SHA-256 of the event's canonical JSON, to tell a retry from a different event.
    body_hash: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(10))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    # How the body named each party ("id:42" or "external:C-981"), and who that is here.
    payer_ref: Mapped[str] = mapped_column(sa.String(80))
    payee_ref: Mapped[str] = mapped_column(sa.String(80))
    payer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    payee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # False when no referral counted it (unknown members, or members nobody referred).
    attributed: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(sa.String(10), default="api")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<SpendEvent {self.event_id!r} {self.kind} {self.amount_cents}>"


class SpendBalance(db.Model):
    """What one payer has paid one payee, net of refunds: no refund may exceed it."""

    __tablename__ = "spend_balances"
    __table_args__ = (sa.UniqueConstraint("payer_key", "payee_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "user:<id>" for members we know, "external:<id>" for the others.
    payer_key: Mapped[str] = mapped_column(sa.String(80))
    payee_key: Mapped[str] = mapped_column(sa.String(80))
    paid_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    refunded_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    def __repr__(self) -> str:
        return f"<SpendBalance {self.payer_key}->{self.payee_key} {self.paid_cents}>"


class MemberAddress(db.Model):
    """A salted hash of an address a member recently used (self-referral evidence)."""

    __tablename__ = "member_addresses"
    __table_args__ = (sa.UniqueConstraint("user_id", "address_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    address_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<MemberAddress {self.user_id} {self.address_hash[:8]}>"


class MemberProfile(db.Model):
    """Facts only the marketplace knows that have no column on the account."""

    __tablename__ = "member_profiles"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    categories: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<MemberProfile {self.user_id}>"


class Affiliate(db.Model):
    __tablename__ = "affiliates"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=AffiliateStatus.APPLIED.value)
    audience: Mapped[str] = mapped_column(sa.String(1000), default="")
    # Where the audience is (a website, a channel) and how the affiliate will promote.
    website: Mapped[str | None] = mapped_column(sa.String(300))
    promotion: Mapped[str | None] = mapped_column(sa.String(1000))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # The admin's note with the decision, shown to the applicant.
    decision_note: Mapped[str | None] = mapped_column(sa.String(500))

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    def __repr__(self) -> str:
        return f"<Affiliate {self.user_id} {self.status}>"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60), unique=True)
    # SHA-256 of the token: tokens are long random strings, so a fast hash is enough.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[str] = mapped_column(sa.String(300))  # space-separated
    # The member a read-only "me" token belongs to; None for the marketplace's tokens.
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.name!r}>"

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())
