"""A referral's timeline as its referrer sees it: clicked, signed up, progress toward each
tier, and every reward's life, with dates and reasons in plain words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from forum.accounts.models import User
from referrals.models import Referral, ReviewStatus, Reward, RewardKind, RewardStatus, Tier
from referrals.rewards_text import format_cents, reward_text

# What each self-referral suspicion means, said to the referrer (not the admin's wording).
REVIEW_REASONS_FOR_REFERRER = {
    "same_person": "The link was opened while you were signed in to your own account.",
    "same_email": "The new member's email address looks like one of yours.",
    "same_address": "The new member signed up from a network you used recently.",
}


class TimelineNotFound(LookupError):
    """No referral of this referrer has that id (whether or not it exists)."""


@dataclass(frozen=True)
class Step:
    at: datetime
    title: str
    detail: str = ""
    state: str = "done"  # done, waiting, stopped (a CSS class)


@dataclass(frozen=True)
class TierProgress:
    tier: Tier
    reached_cents: int
    goal_cents: int
    reward_text: str
    status: str | None  # the live reward's status, "blocked", or None

    @property
    def percent(self) -> int:
        if self.goal_cents <= 0:
            return 100
        return min(100, self.reached_cents * 100 // self.goal_cents)

    @property
    def text(self) -> str:
        return f"{format_cents(self.reached_cents)} of {format_cents(self.goal_cents)}"


@dataclass(frozen=True)
class Timeline:
    referral: Referral
    steps: list[Step]
    progress: list[TierProgress]
    # When the referral is flagged or rejected: what the referrer should know, in words.
    review_notice: str
    review_reasons: list[str]


def tier_reward_text(tier: Tier) -> str:
    if tier.reward_kind == RewardKind.REVENUE_SHARE:
        text = f"{tier.reward_amount / 100:g}% of each payment for {tier.share_months} months"
        if tier.share_cap_cents:
            text += f", at most {format_cents(tier.share_cap_cents)}"
        return text
    return reward_text(tier.reward_kind, tier.reward_amount)


def _review(referral: Referral) -> tuple[str, list[str]]:
    reasons = [REVIEW_REASONS_FOR_REFERRER.get(r, "") for r in referral.review_reasons or ()]
    reasons = [r for r in reasons if r]
    if referral.review_status == ReviewStatus.FLAGGED:
        return (
            "Under review: we check every referral that might be a member referring "
            "themself. Until the review is done, this referral earns no rewards; its spend "
            "still counts, so nothing is lost if it is approved.",
            reasons,
        )
    if referral.review_status == ReviewStatus.REJECTED:
        note = f" The reviewer noted: {referral.review_note}" if referral.review_note else ""
        return (
            "After review, this referral does not qualify for rewards: it looked like a "
            f"member referring themself.{note}",
            reasons,
        )
    return "", []


def _reward_steps(reward: Reward) -> list[Step]:
    what = reward_text(reward.kind, reward.amount)
    if reward.tier.is_revenue_share:
        why = "A share of the referee's payment."
    else:
        why = f"The referee's total reached {format_cents(reward.tier.threshold_cents)}."
    if reward.status == RewardStatus.PENDING:
        why += f" Pending until {reward.hold_until:%-d %b %Y}, the end of the hold period."
    if reward.approved_at is not None and reward.approved_at == reward.created_at:
        # No hold: earned and approved in the same moment, one step.
        steps = [Step(reward.created_at, f"Reward earned and approved: {what}", why)]
    else:
        steps = [
            Step(
                reward.created_at,
                f"Reward earned: {what}",
                why,
                "waiting" if reward.status == RewardStatus.PENDING else "done",
            )
        ]
        if reward.approved_at:
            steps.append(Step(reward.approved_at, f"Reward approved: {what}"))
    if reward.paid_at:
        steps.append(Step(reward.paid_at, f"Reward paid: {what}"))
    if reward.reversed_at:
        steps.append(
            Step(
                reward.reversed_at,
                f"Reward reversed: {what}",
                reward.reversal_reason or "",
                "stopped",
            )
        )
    return steps


def timeline(session: Session, referrer: User, referral_id: int) -> Timeline:
    """Return the timeline of one of the referrer's referrals (a fixed number of queries).

    Raises TimelineNotFound when the referral does not exist or is someone else's: the two
    are indistinguishable, so ids cannot be probed.
    """
    referral = session.scalar(
        sa.select(Referral)
        .where(Referral.id == referral_id, Referral.referrer_id == referrer.id)
        .options(selectinload(Referral.program), selectinload(Referral.referee))
    )
    if referral is None:
        raise TimelineNotFound(referral_id)
    rewards = session.scalars(
        sa.select(Reward)
        .where(Reward.referral_id == referral.id)
        .options(selectinload(Reward.tier))
        .order_by(Reward.id)
    ).all()
    steps = [
        Step(referral.clicked_at, "Clicked your link", f"Link “{referral.link.code}”"),
        Step(referral.created_at, f"Signed up as {referral.referee.username}"),
    ]
    if referral.review_status != ReviewStatus.CLEAR:
        steps.append(
            Step(
                referral.created_at,
                "Held for review",
                "It looked like it might be your own sign-up, so an admin checks it.",
                "waiting" if referral.review_status == ReviewStatus.FLAGGED else "done",
            )
        )
    if referral.reviewed_at:
        approved = referral.review_status == ReviewStatus.APPROVED
        steps.append(
            Step(
                referral.reviewed_at,
                "Review: approved" if approved else "Review: not approved",
                referral.review_note or "",
                "done" if approved else "stopped",
            )
        )
    for reward in rewards:
        steps.extend(_reward_steps(reward))
    steps.sort(key=lambda step: step.at)
    live = {r.tier_id: r.status for r in rewards if r.live_key is not None}
    blocked = set(referral.blocked_tier_ids or ())
    progress = []
    for tier in referral.program.tiers:
        if tier.is_revenue_share:
            cap = tier.share_cap_cents or 0
            status = "blocked" if tier.id in blocked else None
            progress.append(
                TierProgress(
                    tier, referral.share_accrued_cents, cap, tier_reward_text(tier), status
                )
            )
            continue
        status = live.get(tier.id) or ("blocked" if tier.id in blocked else None)
        progress.append(
            TierProgress(
                tier,
                min(referral.net_cents, tier.threshold_cents),
                tier.threshold_cents,
                tier_reward_text(tier),
                status,
            )
        )
    notice, reasons = _review(referral)
    return Timeline(referral, steps, progress, notice, reasons)
