"""Payout batches: approved cash rewards gathered, exported, then marked paid together.

A reward is in at most one batch: the unique ``payout_items.reward_id`` guarantees it even
when two admins build batches at the same moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from forum.accounts.models import User
from referrals.models import Referral, Reward, RewardKind, RewardStatus
from referrals.tables import PayoutBatch, PayoutItem, PayoutStatus

# Rewards paid out as money by admins; credits and fee discounts are applied by the
# marketplace, Connects are not money.
PAYABLE_KINDS = (RewardKind.CASH.value, RewardKind.REVENUE_SHARE.value)
MAX_BATCH = 500


class PayoutError(ValueError):
    """The batch cannot be made or paid as asked; the message says why."""


def payable_rewards(session: Session, limit: int = MAX_BATCH) -> list[Reward]:
    """Return approved cash rewards that are in no batch yet, oldest first."""
    return list(
        session.scalars(
            sa.select(Reward)
            .outerjoin(PayoutItem, PayoutItem.reward_id == Reward.id)
            .where(
                PayoutItem.id.is_(None),
                Reward.status == RewardStatus.APPROVED.value,
                Reward.kind.in_(PAYABLE_KINDS),
            )
            .options(
                selectinload(Reward.referral).selectinload(Referral.referrer),
                selectinload(Reward.referral).selectinload(Referral.program),
            )
            .order_by(Reward.id)
            .limit(limit)
        )
    )


def create_batch(
    session: Session, admin: User, reward_ids: Iterable[int], note: str, now: datetime
) -> PayoutBatch:
    """Gather the chosen rewards into a new open batch and return it (flushed).

    Raises PayoutError when nothing is chosen, a reward is not an approved cash reward, is
    already in a batch, or the total is not positive. A parallel batch that takes the same
    reward first makes the flush fail on the unique key (IntegrityError): nothing is kept.
    """
    ids = sorted(set(reward_ids))
    if not ids:
        raise PayoutError("Choose at least one reward to pay.")
    if len(ids) > MAX_BATCH:
        raise PayoutError(f"A batch holds at most {MAX_BATCH} rewards.")
    note = " ".join(note.split())
    if len(note) > 500:
        raise PayoutError("Keep the note under 500 characters.")
    rewards = {r.id: r for r in session.scalars(sa.select(Reward).where(Reward.id.in_(ids)))}
    batched = set(
        session.scalars(sa.select(PayoutItem.reward_id).where(PayoutItem.reward_id.in_(ids)))
    )
    for reward_id in ids:
        reward = rewards.get(reward_id)
        if reward is None:
            raise PayoutError(f"There is no reward #{reward_id}.")
        if reward_id in batched:
            raise PayoutError(f"Reward #{reward_id} is already in a payout batch.")
        if reward.status != RewardStatus.APPROVED or reward.kind not in PAYABLE_KINDS:
            raise PayoutError(
                f"Reward #{reward_id} is a {reward.status} {reward.kind} reward; only approved "
                "cash rewards are paid out in batches."
            )
    total = sum(rewards[i].amount for i in ids)
    if total <= 0:
        raise PayoutError("The chosen rewards add up to nothing to pay.")
    batch = PayoutBatch(
        status=PayoutStatus.OPEN.value,
        currency="USD",
        total_cents=total,
        reward_count=len(ids),
        note=note,
        created_at=now,
        created_by_id=admin.id,
    )
    session.add(batch)
    session.flush()
    session.add_all(
        PayoutItem(batch_id=batch.id, reward_id=i, amount_cents=rewards[i].amount) for i in ids
    )
    session.flush()
    return batch


def mark_paid(
    session: Session, batch_id: int, admin: User, now: datetime
) -> tuple[PayoutBatch, int]:
    """Mark the batch paid and every reward in it that is still approved; return the batch and
    how many rewards were marked (a reward reversed since the batch was made stays reversed).

    Raises PayoutError when there is no such batch or it was already paid.
    """
    paid = session.execute(
        sa.update(PayoutBatch)
        .where(PayoutBatch.id == batch_id, PayoutBatch.status == PayoutStatus.OPEN.value)
        .values(status=PayoutStatus.PAID.value, paid_at=now, paid_by_id=admin.id)
        .returning(PayoutBatch.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    batch = session.get(PayoutBatch, batch_id, populate_existing=True)
    if batch is None:
        raise PayoutError("There is no such payout batch.")
    if paid is None:
        raise PayoutError("This batch is already marked paid.")
    in_batch = sa.select(PayoutItem.reward_id).where(PayoutItem.batch_id == batch_id)
    marked = session.scalars(
        sa.update(Reward)
        .where(Reward.id.in_(in_batch), Reward.status == RewardStatus.APPROVED.value)
        .values(
            status=RewardStatus.PAID.value, paid_at=now, fulfilled_by=f"payout batch {batch_id}"
        )
        .returning(Reward.id)
        .execution_options(synchronize_session=False)
    ).all()
    session.expire_all()
    return batch, len(marked)


def batches(session: Session, limit: int = 50) -> list[PayoutBatch]:
    """Return the most recent batches, newest first."""
    return list(
        session.scalars(
            sa.select(PayoutBatch)
            .options(selectinload(PayoutBatch.created_by))
            .order_by(PayoutBatch.id.desc())
            .limit(limit)
        )
    )


def batch_with_items(session: Session, batch_id: int) -> PayoutBatch | None:
    """Return the batch with its items, their rewards and referrers loaded, or None."""
    return session.scalar(
        sa.select(PayoutBatch)
        .where(PayoutBatch.id == batch_id)
        .options(
            selectinload(PayoutBatch.items)
            .selectinload(PayoutItem.reward)
            .selectinload(Reward.referral)
            .selectinload(Referral.referrer)
        )
    )
