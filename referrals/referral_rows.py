"""Referrals, their programs, tiers and new rewards as plain rows: what a spend batch counts
and settles, without ORM objects.

Loading the referrals of a batch as entities (and their programs and tiers), letting the unit
of work diff them and flushing each reward cost more than all of a single event's SQL. These
rows carry the attribute names of the mapped classes, so ``rewards.settle`` reads either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from referrals.models import ReviewStatus, RewardKind


@dataclass(frozen=True, slots=True)
class TierRow:
    id: int
    threshold_cents: int
    reward_kind: str
    reward_amount: int
    share_months: int | None
    share_cap_cents: int | None

    @property
    def is_revenue_share(self) -> bool:
        return self.reward_kind == RewardKind.REVENUE_SHARE


@dataclass(frozen=True, slots=True)
class ProgramRow:
    id: int
    referee_kind: str
    hold_days: int
    currency: str
    referrer_cap_cents: int | None
    referee_cap_cents: int | None
    tiers: tuple[TierRow, ...]


@dataclass(slots=True)
class ReferralRow:
    """A locked referral: its running totals change as the batch counts and settles."""

    id: int
    program_id: int
    referrer_id: int
    referee_id: int
    clicked_at: datetime
    created_at: datetime
    review_status: str
    net_cents: int
    share_base_cents: int
    share_accrued_cents: int
    rewarded_cents: int
    event_count: int
    last_event_at: datetime | None
    blocked_tier_ids: list[int]
    program: ProgramRow

    @property
    def may_be_rewarded(self) -> bool:
        return self.review_status in (ReviewStatus.CLEAR, ReviewStatus.APPROVED)

    def copy(self) -> ReferralRow:
        """Return a shallow copy (``copy.copy`` goes through ``__reduce_ex__``: ten times
        slower, and a batch copies hundreds)."""
        return ReferralRow(
            self.id,
            self.program_id,
            self.referrer_id,
            self.referee_id,
            self.clicked_at,
            self.created_at,
            self.review_status,
            self.net_cents,
            self.share_base_cents,
            self.share_accrued_cents,
            self.rewarded_cents,
            self.event_count,
            self.last_event_at,
            self.blocked_tier_ids,
            self.program,
        )


@dataclass(slots=True)
class NewReward:
    """A reward made in a batch, inserted with the batch's others when it ends (see
    ``spend_storage.insert_rewards``); a later event of the batch may still reverse it."""

    referral_id: int
    tier_id: int
    program_id: int
    referrer_id: int
    kind: str
    amount: int
    currency: str
    status: str
    live_key: str | None
    spend_event_id: int | None
    created_at: datetime
    hold_until: datetime
    approved_at: datetime | None
    reversed_at: datetime | None = None
    reversal_reason: str | None = None
    reversed_by_id: int | None = None
    id: int | None = field(default=None)

    def as_row(self) -> dict[str, Any]:
        return {
            "referral_id": self.referral_id,
            "tier_id": self.tier_id,
            "program_id": self.program_id,
            "referrer_id": self.referrer_id,
            "kind": self.kind,
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "live_key": self.live_key,
            "spend_event_id": self.spend_event_id,
            "created_at": self.created_at,
            "hold_until": self.hold_until,
            "approved_at": self.approved_at,
            "reversed_at": self.reversed_at,
            "reversal_reason": self.reversal_reason,
            "reversed_by_id": self.reversed_by_id,
        }


def referrals_from_rows(rows: list[tuple], tier_start: int) -> list[ReferralRow]:
    """Return the referrals of rows that hold, in order, a referral's columns (as
    ``ReferralRow``), its program's (as ``ProgramRow``, from ``referee_kind``) and, from
    ``tier_start``, one tier's: a row per referral and tier, in tier order (a program without
    tiers gives one row of NULL tier columns). Referrals of one program share its row."""
    first_rows: dict[int, tuple] = {}
    lister: dict[int, int] = {}  # program id -> the referral whose rows list its tiers
    tiers_of: dict[int, list[TierRow]] = {}
    for row in rows:
        referral_id, program_id = row[0], row[1]
        if referral_id not in first_rows:
            first_rows[referral_id] = row
            lister.setdefault(program_id, referral_id)
        if lister[program_id] == referral_id and row[tier_start] is not None:
            tiers_of.setdefault(program_id, []).append(TierRow(*row[tier_start:]))
    width = len(ReferralRow.__slots__) - 1  # all but the program
    programs = {
        program_id: ProgramRow(
            program_id,
            *first_rows[referral_id][width:tier_start],
            tuple(tiers_of.get(program_id, ())),
        )
        for program_id, referral_id in lister.items()
    }
    return [
        ReferralRow(*row[: width - 1], list(row[width - 1] or ()), programs[row[1]])
        for row in first_rows.values()
    ]
