"""CSV exports: a referrer's referrals and rewards, and payout batches, safe to open in a
spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from forum.accounts.models import User
from referrals.models import Referral, Reward, RewardKind
from referrals.tables import PayoutBatch, PayoutItem

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Return a value fit for a CSV cell: text that a spreadsheet would read as a formula gets
    a leading apostrophe; numbers, and empty values, pass as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Return the rows as CSV text (CRLF line ends, as RFC 4180 says) under the header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()


def dollars(cents: int) -> str:
    """Return cents as a plain decimal for spreadsheets: -1234 → "-12.34"."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def amount_and_unit(kind: str, amount: int) -> tuple[str, str]:
    """Return a reward's amount as text and its unit (USD, connects, or basis points)."""
    if kind == RewardKind.CONNECTS:
        return str(amount), "connects"
    if kind == RewardKind.FEE_DISCOUNT:
        return str(amount), "basis points"
    return dollars(amount), "USD"


REFERRAL_HEADER = (
    "referral_id", "program", "referee", "clicked_at", "signed_up_at", "review_status",
    "referee_net_usd", "rewards_usd",
)  # fmt: skip
REWARD_HEADER = (
    "reward_id", "referral_id", "program", "referee", "kind", "amount", "unit", "status",
    "created_at", "hold_until", "approved_at", "paid_at", "reversed_at", "reversal_reason",
)  # fmt: skip
PAYOUT_HEADER = (
    "batch_id", "reward_id", "referrer", "referrer_email", "referrer_external_id", "program",
    "kind", "amount_usd", "currency",
)  # fmt: skip


def referrals_csv(session: Session, referrer: User) -> str:
    """Return the referrer's referrals as CSV (theirs only), oldest first."""
    referrals = session.scalars(
        sa.select(Referral)
        .where(Referral.referrer_id == referrer.id)
        .options(selectinload(Referral.program), selectinload(Referral.referee))
        .order_by(Referral.id)
    )
    return to_csv(
        REFERRAL_HEADER,
        (
            (
                r.id,
                r.program.name,
                r.referee.username,
                r.clicked_at,
                r.created_at,
                r.review_status,
                dollars(r.net_cents),
                dollars(r.rewarded_cents),
            )  # fmt: skip
            for r in referrals
        ),
    )


def rewards_csv(session: Session, referrer: User) -> str:
    """Return the referrer's rewards as CSV (theirs only), oldest first."""
    rewards = session.scalars(
        sa.select(Reward)
        .where(Reward.referrer_id == referrer.id)
        .options(
            selectinload(Reward.referral).selectinload(Referral.program),
            selectinload(Reward.referral).selectinload(Referral.referee),
        )
        .order_by(Reward.id)
    )
    rows = []
    for w in rewards:
        amount, unit = amount_and_unit(w.kind, w.amount)
        rows.append(
            (
                w.id,
                w.referral_id,
                w.referral.program.name,
                w.referral.referee.username,
                w.kind,
                amount,
                unit,
                w.status,
                w.created_at,
                w.hold_until,
                w.approved_at,
                w.paid_at,
                w.reversed_at,
                w.reversal_reason,
            )  # fmt: skip
        )
    return to_csv(REWARD_HEADER, rows)


def payout_csv(session: Session, batch: PayoutBatch) -> str:
    """Return a payout batch as CSV: one row per reward, with who to pay and how much."""
    items = session.scalars(
        sa.select(PayoutItem)
        .where(PayoutItem.batch_id == batch.id)
        .options(
            selectinload(PayoutItem.reward)
            .selectinload(Reward.referral)
            .selectinload(Referral.referrer),
            selectinload(PayoutItem.reward)
            .selectinload(Reward.referral)
            .selectinload(Referral.program),
        )
        .order_by(PayoutItem.id)
    )
    return to_csv(
        PAYOUT_HEADER,
        (
            (
                batch.id,
                item.reward_id,
                item.reward.referral.referrer.username,
                item.reward.referral.referrer.email,
                item.reward.referral.referrer.external_id,
                item.reward.referral.program.slug,
                item.reward.kind,
                dollars(item.amount_cents),
                batch.currency,
            )  # fmt: skip
            for item in items
        ),
    )
