"""Rewards said in words for people: "$50.00 cash", "10 Connects", "a 5% service fee"."""

from __future__ import annotations

from referrals.models import RewardKind


def format_cents(cents: int) -> str:
    """Return cents as dollars for people: 123456 → "$1,234.56"."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def reward_text(kind: str, amount: int) -> str:
    """Return a reward for people: "$50.00 cash", "10 Connects", "5% service fee"."""
    if kind == RewardKind.CONNECTS:
        return f"{amount} Connects"
    if kind == RewardKind.FEE_DISCOUNT:
        return f"a {amount / 100:g}% service fee"
    if kind == RewardKind.REVENUE_SHARE:
        return f"{format_cents(amount)} revenue share"
    return f"{format_cents(amount)} {'credit' if kind == RewardKind.CREDIT else 'cash'}"
