"""Pure calculations on tiers: which thresholds a net amount reaches, what a referral's rewards
must become, revenue share and caps. No database, no clock."""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from referrals.models import RewardStatus

BASIS_POINTS = 10_000


class Action(enum.StrEnum):
    GRANT = "grant"
    REVERSE = "reverse"


@dataclass(frozen=True)
class TierState:
    """A threshold tier as one referral sees it."""

    tier_id: int
    threshold_cents: int
    # Status of the tier's live reward for this referral (pending, approved, paid), or None.
    live_status: str | None = None
    # An admin reversed this tier's reward: it is never granted again for this referral.
    blocked: bool = False


def reached(threshold_cents: int, net_cents: int) -> bool:
    """Return whether a net amount reaches a threshold (reaching it exactly counts)."""
    return net_cents >= threshold_cents


def crossed(thresholds: Iterable[int], before_cents: int, after_cents: int) -> list[int]:
    """Return the thresholds a move of the net amount from ``before`` to ``after`` crosses,
    upwards or downwards, in ascending order."""
    low, high = sorted((before_cents, after_cents))
    return sorted({t for t in thresholds if reached(t, high) and not reached(t, low)})


def plan(states: Iterable[TierState], net_cents: int, may_grant: bool) -> list[tuple[int, Action]]:
    """Return what each tier's reward must do so the referral's rewards match ``net_cents``.

    A reached tier without a live reward is granted (unless granting is not allowed: a referral
    under review, or a tier an admin stopped). A pending reward whose threshold is no longer
    reached is reversed; approved and paid rewards are kept whatever happens afterwards.
    """
    actions = []
    for state in states:
        is_reached = reached(state.threshold_cents, net_cents)
        if is_reached and state.live_status is None and may_grant and not state.blocked:
            actions.append((state.tier_id, Action.GRANT))
        elif not is_reached and state.live_status == RewardStatus.PENDING:
            actions.append((state.tier_id, Action.REVERSE))
    return actions


def revenue_share_cents(
    base_cents: int, threshold_cents: int, basis_points: int, cap_cents: int | None
) -> int:
    """Return the revenue share earned on ``base_cents`` of net spend, in whole cents.

    The share applies to the part of the base above the threshold, rounds down, and never
    exceeds the cap; it is never negative.
    """
    share = max(0, base_cents - threshold_cents) * basis_points // BASIS_POINTS
    return share if cap_cents is None else min(share, cap_cents)


def capped(amount_cents: int, *remaining_cents: int | None) -> int:
    """Return ``amount_cents`` cut down to the smallest remaining allowance (None: no cap),
    never below zero."""
    limits = [r for r in remaining_cents if r is not None]
    return max(0, min(amount_cents, *limits)) if limits else max(0, amount_cents)


def add_months(moment: datetime, months: int) -> datetime:
    """Return ``moment`` moved by whole calendar months, clamping the day: 31 January plus one
    month is the last day of February."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
