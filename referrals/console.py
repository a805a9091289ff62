"""What the admin console reads: the review queue with its evidence, rewards filtered, and
affiliate applications. Each function costs a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from forum.accounts.models import User
from forum.accounts.service import username_key
from referrals.attribution import REASONS, canonical_email
from referrals.models import (
    Affiliate,
    AffiliateStatus,
    Click,
    Program,
    Referral,
    ReviewStatus,
    Reward,
    RewardStatus,
)
from referrals.tables import PayoutBatch, PayoutItem, PayoutStatus

MAX_ROWS = 200


@dataclass(frozen=True)
class Evidence:
    referral: Referral
    reasons: list[str]  # what the engine suspected, for admins
    click: Click | None
    referrer_mailbox: str
    referee_mailbox: str


def review_queue(session: Session, limit: int = MAX_ROWS) -> list[Evidence]:
    """Return flagged referrals, oldest first, with the evidence behind each flag."""
    referrals = session.scalars(
        sa.select(Referral)
        .where(Referral.review_status == ReviewStatus.FLAGGED.value)
        .options(
            selectinload(Referral.referrer),
            selectinload(Referral.referee),
            selectinload(Referral.program),
            selectinload(Referral.link),
        )
        .order_by(Referral.id)
        .limit(limit)
    ).all()
    click_ids = [r.click_id for r in referrals if r.click_id is not None]
    clicks = {
        c.id: c for c in session.scalars(sa.select(Click).where(Click.id.in_(click_ids)))
    } if click_ids else {}  # fmt: skip
    return [
        Evidence(
            referral,
            [REASONS.get(reason, reason) for reason in referral.review_reasons or ()],
            clicks.get(referral.click_id) if referral.click_id else None,
            canonical_email(referral.referrer.email),
            canonical_email(referral.referee.email),
        )
        for referral in referrals
    ]


class FilterError(ValueError):
    """A filter value that cannot be used, tied to its field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RewardFilter:
    program_id: int | None = None
    status: str | None = None
    referrer: str | None = None  # a username
    since: datetime | None = None
    until: datetime | None = None


def filtered_rewards(
    session: Session, filters: RewardFilter, limit: int = MAX_ROWS
) -> list[Reward]:
    """Return rewards matching the filters, newest first, with referral, referrer, referee and
    program loaded. Raises FilterError for an unknown status or member, or dates in the wrong
    order."""
    query = sa.select(Reward)
    if filters.status:
        if filters.status not in {s.value for s in RewardStatus}:
            raise FilterError("status", "Choose a status from the list.")
        query = query.where(Reward.status == filters.status)
    if filters.program_id is not None:
        query = query.where(Reward.program_id == filters.program_id)
    if filters.referrer:
        user_id = session.scalar(
            sa.select(User.id).where(User.username_key == username_key(filters.referrer.strip()))
        )
        if user_id is None:
            raise FilterError("referrer", "No member has that username.")
        query = query.where(Reward.referrer_id == user_id)
    if filters.since and filters.until and filters.until < filters.since:
        raise FilterError("until", "The end date must be after the start date.")
    if filters.since:
        query = query.where(Reward.created_at >= filters.since)
    if filters.until:
        query = query.where(Reward.created_at < filters.until)
    return list(
        session.scalars(
            query.options(
                selectinload(Reward.referral).selectinload(Referral.referrer),
                selectinload(Reward.referral).selectinload(Referral.referee),
                selectinload(Reward.referral).selectinload(Referral.program),
            )
            .order_by(Reward.id.desc())
            .limit(limit)
        )
    )


def open_batch_of(session: Session, reward_id: int) -> int | None:
    """Return the id of the open payout batch holding the reward, if any."""
    return session.scalar(
        sa.select(PayoutBatch.id)
        .join(PayoutItem, PayoutItem.batch_id == PayoutBatch.id)
        .where(PayoutItem.reward_id == reward_id, PayoutBatch.status == PayoutStatus.OPEN.value)
    )


def applications(session: Session, limit: int = MAX_ROWS) -> list[Affiliate]:
    """Return affiliate applications waiting first (oldest first), then decided ones."""
    return list(
        session.scalars(
            sa.select(Affiliate)
            .options(selectinload(Affiliate.user))
            .order_by(
                (Affiliate.status != AffiliateStatus.APPLIED.value),
                Affiliate.applied_at,
            )
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Overview:
    flagged: int
    payable: int
    applications: int
    open_batches: int


def overview(session: Session) -> Overview:
    """Return how much waits for an admin in each part of the console."""
    from referrals.payouts import PAYABLE_KINDS

    flagged = session.scalar(
        sa.select(sa.func.count(Referral.id)).where(
            Referral.review_status == ReviewStatus.FLAGGED.value
        )
    )
    payable = session.scalar(
        sa.select(sa.func.count(Reward.id))
        .outerjoin(PayoutItem, PayoutItem.reward_id == Reward.id)
        .where(
            PayoutItem.id.is_(None),
            Reward.status == RewardStatus.APPROVED.value,
            Reward.kind.in_(PAYABLE_KINDS),
        )
    )
    waiting = session.scalar(
        sa.select(sa.func.count(Affiliate.id)).where(
            Affiliate.status == AffiliateStatus.APPLIED.value
        )
    )
    open_batches = session.scalar(
        sa.select(sa.func.count(PayoutBatch.id)).where(
            PayoutBatch.status == PayoutStatus.OPEN.value
        )
    )
    return Overview(flagged or 0, payable or 0, waiting or 0, open_batches or 0)


def all_programs(session: Session) -> list[Program]:
    return list(session.scalars(sa.select(Program).order_by(Program.id)))
