"""Rewards: granted exactly once per referral and tier, held, approved, paid or reversed.

Every change to a referral's rewards happens while its row is locked (``lock_referral``), so
events for the same referee are applied one at a time; the unique ``live_key`` is the
database's own guarantee that a tier never has two live rewards. Status changes that can race
with the approval job are conditional updates ("… WHERE status = 'pending'").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from forum.accounts.models import User
from referrals import messages, tiers
from referrals.models import (
    MONEY_KINDS,
    Program,
    Referral,
    ReferrerTotal,
    Reward,
    RewardKind,
    RewardStatus,
    Tier,
)
from referrals.referral_rows import NewReward, ReferralRow
from referrals.rewards_text import format_cents

MAX_PAGE = 1000


class RewardError(ValueError):
    """The reward cannot change as asked (wrong status); the message says why."""


class RewardNotFound(LookupError):
    """No reward has that id."""


def live_key(referral_id: int, tier_id: int) -> str:
    return f"{referral_id}:{tier_id}"


def lock_referral(session: Session, referral_id: int) -> Referral | None:
    """Return the referral, its row locked until the transaction ends (PostgreSQL; SQLite
    serializes writers anyway), with fresh values."""
    return session.scalar(
        sa.select(Referral)
        .where(Referral.id == referral_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


@dataclass(frozen=True)
class LiveReward:
    """A live threshold reward as ``settle`` needs it in a batch: read as a plain row (a
    batch reads hundreds, and making them ORM objects cost more than the rest of settling)."""

    id: int
    live_key: str
    tier_id: int
    status: str
    kind: str
    amount: int


@dataclass
class Batch:
    """What ``settle`` shares across the events of one batch, whose referrals are plain rows
    (``referral_rows.ReferralRow``): the live threshold rewards of its (locked) referrals, by
    live key (read once for the batch, kept up to date), the rewards it makes, inserted
    together by ``finish``, and the change to each referrer's total, written once there."""

    live_by_key: dict[str, LiveReward | NewReward]
    referrer_deltas: dict[tuple[int, int], int] = field(default_factory=dict)
    made: list[NewReward] = field(default_factory=list)

    def finish(self, session: Session) -> None:
        """Write the referrers' totals (one statement, in key order). The rewards made are
        the caller's to insert (``spend_storage.insert_rewards``), before this."""
        changes = [
            {"p": program_id, "r": referrer_id, "delta": delta}
            for (program_id, referrer_id), delta in sorted(self.referrer_deltas.items())
            if delta
        ]
        self.referrer_deltas.clear()
        if changes:
            session.connection().execute(_ADD_TO_REFERRER_TOTAL, changes)


_totals = ReferrerTotal.__table__
_ADD_TO_REFERRER_TOTAL = (
    sa.update(_totals)
    .where(
        _totals.c.program_id == sa.bindparam("p"),
        _totals.c.referrer_id == sa.bindparam("r"),
    )
    .values(rewarded_cents=_totals.c.rewarded_cents + sa.bindparam("delta"))
)


def _change_referrer_total(
    session: Session, referral: Referral, delta: int, batch: Batch | None
) -> None:
    if batch is not None:
        key = (referral.program_id, referral.referrer_id)
        batch.referrer_deltas[key] = batch.referrer_deltas.get(key, 0) + delta
        return
    session.connection().execute(
        _ADD_TO_REFERRER_TOTAL,
        {"p": referral.program_id, "r": referral.referrer_id, "delta": delta},
    )


def _money_allowance(
    session: Session, referral: Referral, program: Program, wanted: int, batch: Batch | None
) -> int:
    """Return how much of ``wanted`` cents the program's caps still allow for this referral."""
    referee_left = None
    if program.referee_cap_cents is not None:
        referee_left = program.referee_cap_cents - referral.rewarded_cents
    referrer_left = None
    if program.referrer_cap_cents is not None:
        # Lock the referrer's total: referrals of one referrer are settled in parallel.
        total = session.connection().scalar(
            sa.select(_totals.c.rewarded_cents)
            .where(
                _totals.c.program_id == program.id,
                _totals.c.referrer_id == referral.referrer_id,
            )
            .with_for_update()
        )
        pending = batch.referrer_deltas.get((program.id, referral.referrer_id), 0) if batch else 0
        referrer_left = program.referrer_cap_cents - ((total or 0) + pending)
    return tiers.capped(wanted, referee_left, referrer_left)


def _add_reward(
    session: Session,
    referral: Referral | ReferralRow,
    program: Program,
    tier: Tier,
    amount: int,
    now: datetime,
    spend_event_id: int | None,
    key: str | None,
    batch: Batch | None = None,
) -> Reward | NewReward:
    immediate = program.hold_days == 0
    values = {
        "referral_id": referral.id,
        "tier_id": tier.id,
        "program_id": program.id,
        "referrer_id": referral.referrer_id,
        "kind": tier.reward_kind,
        "amount": amount,
        "currency": program.currency,
        "live_key": key,
        "spend_event_id": spend_event_id,
        "created_at": now,
        "hold_until": now + timedelta(days=program.hold_days),
        "status": (RewardStatus.APPROVED if immediate else RewardStatus.PENDING).value,
        "approved_at": now if immediate else None,
    }
    if batch is not None:  # inserted with the batch's others when it ends
        reward = NewReward(**values)
        batch.made.append(reward)
    else:
        reward = Reward(**values)
        session.add(reward)
    if tier.reward_kind in MONEY_KINDS:
        referral.rewarded_cents += amount
        _change_referrer_total(session, referral, amount, batch)
    return reward


def _grant(
    session: Session,
    referral: Referral,
    tier: Tier,
    now: datetime,
    spend_event_id: int | None,
    batch: Batch | None,
) -> Reward | None:
    amount = tier.reward_amount
    if tier.reward_kind in MONEY_KINDS:
        amount = _money_allowance(session, referral, referral.program, amount, batch)
        if amount <= 0:
            return None  # capped out; granted later if a reversal frees room
    return _add_reward(
        session,
        referral,
        referral.program,
        tier,
        amount,
        now,
        spend_event_id,
        live_key(referral.id, tier.id),
        batch,
    )


def _reverse(
    session: Session,
    referral: Referral,
    reward: Reward | LiveReward | NewReward,
    from_statuses: tuple[str, ...],
    reason: str,
    now: datetime,
    admin: User | None = None,
    batch: Batch | None = None,
) -> bool:
    """Reverse the reward if it is still in one of ``from_statuses``; return whether it was."""
    if isinstance(reward, NewReward):  # made earlier in this batch, not inserted yet
        if reward.status not in from_statuses:
            return False
        reward.status = RewardStatus.REVERSED.value
        reward.live_key = None
        reward.reversed_at = now
        reward.reversal_reason = reason
        reward.reversed_by_id = admin.id if admin else None
        _give_back(session, referral, reward, batch)
        return True
    reversed_id = session.scalar(
        sa.update(Reward)
        .where(Reward.id == reward.id, Reward.status.in_(from_statuses))
        .values(
            status=RewardStatus.REVERSED.value,
            live_key=None,
            reversed_at=now,
            reversal_reason=reason,
            reversed_by_id=admin.id if admin else None,
        )
        .returning(Reward.id)
        .execution_options(synchronize_session=False)
    )
    if isinstance(reward, Reward):
        session.expire(reward)
    else:  # a batch's plain row: the entity, if this session holds one, is stale too
        key = sa.inspect(Reward).identity_key_from_primary_key([reward.id])
        loaded = session.identity_map.get(key)
        if loaded is not None:
            session.expire(loaded)
    if reversed_id is None:
        return False
    _give_back(session, referral, reward, batch)
    return True


def _give_back(
    session: Session,
    referral: Referral | ReferralRow,
    reward: Reward | LiveReward | NewReward,
    batch: Batch | None,
) -> None:
    """Take a reversed reward's money out of the referral's and the referrer's totals."""
    if reward.kind in MONEY_KINDS:
        referral.rewarded_cents -= reward.amount
        _change_referrer_total(session, referral, -reward.amount, batch)
        if reward.kind == RewardKind.REVENUE_SHARE:
            referral.share_accrued_cents -= reward.amount


def _settle_revenue_share(
    session: Session,
    referral: Referral,
    tier: Tier,
    now: datetime,
    spend_event_id: int | None,
    batch: Batch | None,
) -> Reward | None:
    target = tiers.revenue_share_cents(
        referral.share_base_cents, tier.threshold_cents, tier.reward_amount, tier.share_cap_cents
    )
    delta = target - referral.share_accrued_cents
    if delta > 0:
        delta = _money_allowance(session, referral, referral.program, delta, batch)
    if delta == 0:
        return None
    # A negative delta is a claw-back: a refund took back spend the share was paid on.
    referral.share_accrued_cents += delta
    return _add_reward(
        session, referral, referral.program, tier, delta, now, spend_event_id, None, batch
    )


def live_keys(referrals: Iterable[ReferralRow]) -> list[str]:
    """Return the live keys of these referrals' threshold tiers: what ``settle`` looks up, for
    a batch to read its live rewards (as ``LiveReward``) in one query."""
    return [
        live_key(referral.id, tier.id)
        for referral in referrals
        for tier in referral.program.tiers
        if not tier.is_revenue_share
    ]


def settle(
    session: Session,
    referral: Referral | ReferralRow,
    now: datetime,
    spend_event_id: int | None = None,
    batch: Batch | None = None,
) -> list[Reward | NewReward]:
    """Bring the referral's rewards in line with its running totals; return the rewards made.

    Call with the referral locked (``lock_referral``). Each reached tier without a live reward
    gets one; a pending reward whose threshold is no longer reached is reversed with the
    reason; the revenue share accrues or is clawed back to match the share base.

    ``batch`` (for the events of a batch, whose referral is then a ``ReferralRow``) stands
    in for the lookup of the live rewards and collects the rewards made and the changes to
    referrers' totals; at the end the caller inserts ``batch.made`` (and tells referrers of
    those approved at once) and calls ``batch.finish``.
    """
    program = referral.program
    blocked = set(referral.blocked_tier_ids or ())
    threshold_tiers = {t.id: t for t in program.tiers if not t.is_revenue_share}
    live: dict[int, Reward | LiveReward] = {}
    if threshold_tiers and batch is not None:
        for tier_id in threshold_tiers:
            reward = batch.live_by_key.get(live_key(referral.id, tier_id))
            if reward is not None:
                live[tier_id] = reward
    elif threshold_tiers:
        keys = [live_key(referral.id, tier_id) for tier_id in threshold_tiers]
        live = {
            r.tier_id: r
            for r in session.scalars(
                sa.select(Reward)
                .where(Reward.live_key.in_(keys))
                .execution_options(populate_existing=True)
            )
        }
    states = [
        tiers.TierState(
            tier.id,
            tier.threshold_cents,
            live[tier.id].status if tier.id in live else None,
            tier.id in blocked,
        )
        for tier in threshold_tiers.values()
    ]
    planned = tiers.plan(states, referral.net_cents, referral.may_be_rewarded)
    share_tier = next((t for t in program.tiers if t.is_revenue_share), None)
    if share_tier is not None and (not referral.may_be_rewarded or share_tier.id in blocked):
        share_tier = None
    made: list[Reward] = []

    def settle_share(share_tier: Tier) -> None:
        reward = _settle_revenue_share(session, referral, share_tier, now, spend_event_id, batch)
        if reward is not None:
            made.append(reward)

    # What gives money back comes first (reversals, then a share claw-back), so that room it
    # frees under a cap goes to the reached tiers in this same event.
    for tier_id, action in planned:
        if action != tiers.Action.REVERSE:
            continue
        tier = threshold_tiers[tier_id]
        reason = (
            f"A refund took the referee's net amount to {format_cents(referral.net_cents)}, "
            f"below this tier's threshold of {format_cents(tier.threshold_cents)}."
        )
        pending = (RewardStatus.PENDING.value,)
        _reverse(session, referral, live[tier_id], pending, reason, now, batch=batch)
        if batch is not None:
            batch.live_by_key.pop(live_key(referral.id, tier_id), None)
    if share_tier is not None and referral.share_accrued_cents > tiers.revenue_share_cents(
        referral.share_base_cents,
        share_tier.threshold_cents,
        share_tier.reward_amount,
        share_tier.share_cap_cents,
    ):
        settle_share(share_tier)
    for tier_id, action in planned:
        if action != tiers.Action.GRANT:
            continue
        reward = _grant(session, referral, threshold_tiers[tier_id], now, spend_event_id, batch)
        if reward is not None:
            made.append(reward)
            if batch is not None:
                batch.live_by_key[reward.live_key] = reward
    if share_tier is not None:
        settle_share(share_tier)
    if batch is not None:
        return made  # inserted, and approved ones told of, when the batch ends
    approved = [r for r in made if r.status == RewardStatus.APPROVED]  # no hold: approved at once
    session.flush()  # the rewards get their ids
    for reward in approved:
        messages.reward_approved(
            session, reward.referrer_id, referral.id, reward.id, reward.kind, reward.amount
        )
    return made


def approve_due(session: Session, now: datetime) -> int:
    """Approve every pending reward whose hold has ended; return how many were approved.

    One conditional UPDATE: workers running it at the same time each approve different rows
    (the second to reach a row finds it no longer pending), never the same row twice.
    """
    approved = session.execute(
        sa.update(Reward)
        .where(Reward.status == RewardStatus.PENDING.value, Reward.hold_until <= now)
        .values(status=RewardStatus.APPROVED.value, approved_at=now)
        .returning(Reward.id, Reward.referrer_id, Reward.referral_id, Reward.kind, Reward.amount)
        .execution_options(synchronize_session=False)
    ).all()
    session.expire_all()
    for reward_id, referrer_id, referral_id, kind, amount in approved:
        messages.reward_approved(session, referrer_id, referral_id, reward_id, kind, amount)
    return len(approved)


def reverse_reward(
    session: Session, reward_id: int, admin: User, reason: str, now: datetime
) -> Reward:
    """Reverse a pending or approved reward for the reason given (an admin's decision) and
    return it. Its tier is never granted again for this referral.

    Raises RewardNotFound, or RewardError when the reason is missing or the reward was paid or
    already reversed.
    """
    reason = " ".join(reason.split())
    if not 1 <= len(reason) <= 500:
        raise RewardError("Give a reason of at most 500 characters.")
    reward = session.get(Reward, reward_id)
    if reward is None:
        raise RewardNotFound(reward_id)
    referral = lock_referral(session, reward.referral_id)
    if referral is None:  # pragma: no cover - a foreign key guarantees it
        raise RewardNotFound(reward_id)
    statuses = (RewardStatus.PENDING.value, RewardStatus.APPROVED.value)
    if not _reverse(session, referral, reward, statuses, reason, now, admin):
        if reward.status == RewardStatus.PAID:
            raise RewardError("This reward has been paid and cannot be reversed.")
        raise RewardError("This reward is already reversed.")
    if reward.tier_id not in referral.blocked_tier_ids:
        referral.blocked_tier_ids = [*referral.blocked_tier_ids, reward.tier_id]
    session.flush()
    return reward


def fulfil(session: Session, reward_id: int, fulfilled_by: str, now: datetime) -> Reward:
    """Mark an approved reward paid (applied by the marketplace, or paid out) and return it.

    Fulfilling a paid reward again changes nothing and returns it as it is. Raises
    RewardNotFound, or RewardError when the reward is pending or reversed.
    """
    paid_id = session.scalar(
        sa.update(Reward)
        .where(Reward.id == reward_id, Reward.status == RewardStatus.APPROVED.value)
        .values(status=RewardStatus.PAID.value, paid_at=now, fulfilled_by=fulfilled_by)
        .returning(Reward.id)
        .execution_options(synchronize_session=False)
    )
    reward = session.get(Reward, reward_id, populate_existing=True)
    if reward is None:
        raise RewardNotFound(reward_id)
    if paid_id is None and reward.status != RewardStatus.PAID:
        raise RewardError(f"Only approved rewards can be fulfilled; this one is {reward.status}.")
    return reward


def rewards_page(
    session: Session,
    status: RewardStatus | None = None,
    kinds: Iterable[RewardKind] = (),
    after_id: int = 0,
    limit: int = 100,
) -> list[Reward]:
    """Return up to ``limit`` rewards with ids above ``after_id``, in id order, filtered by
    status and kinds (none: all)."""
    query = (
        sa.select(Reward)
        .where(Reward.id > after_id)
        .order_by(Reward.id)
        .options(
            selectinload(Reward.referral).selectinload(Referral.program),
            selectinload(Reward.referral).selectinload(Referral.referrer),
            selectinload(Reward.referral).selectinload(Referral.referee),
        )
    )
    if status is not None:
        query = query.where(Reward.status == status.value)
    kinds = [k.value for k in kinds]
    if kinds:
        query = query.where(Reward.kind.in_(kinds))
    return list(session.scalars(query.limit(max(1, min(limit, MAX_PAGE)))))
