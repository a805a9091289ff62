"""The freelancer service fee: bands by a relationship's lifetime billings, the flat rate of
bring-your-own relationships, and quotes that show their arithmetic.

``fee_for`` and ``quote`` are pure; the rest reads and writes the editable bands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User
from referrals.models import SpendBalance
from referrals.rewards_text import format_cents
from referrals.tables import FeeTier, TalentRelationship

BASIS_POINTS = 10_000
MAX_BANDS = 10
MAX_AMOUNT_CENTS = 10**13  # as for spend events


class FeeError(ValueError):
    """Fee bands or a quote request that cannot be used, tied to the field concerned."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class FeeBand:
    """From ``from_cents`` of lifetime billings on (until the next band), ``rate_bp``."""

    from_cents: int
    rate_bp: int


# 20% of the first $500, 10% from $500.01 to $10,000, 5% beyond.
DEFAULT_BANDS = (FeeBand(0, 2_000), FeeBand(50_000, 1_000), FeeBand(1_000_000, 500))


@dataclass(frozen=True)
class QuoteLine:
    """The part of a payment that falls in one band, and its fee before rounding."""

    from_cents: int  # lifetime billings where this part starts
    to_cents: int  # ... and ends
    amount_cents: int
    rate_bp: int
    # The exact fee in ten-thousandths of a cent (amount × rate), summed before rounding.
    fee_exact: int

    @property
    def text(self) -> str:
        return (
            f"{format_cents(self.amount_cents)} at {percent(self.rate_bp)} "
            f"(billings {format_cents(self.from_cents)} to {format_cents(self.to_cents)}) "
            f"= {exact_cents_text(self.fee_exact)}"
        )


@dataclass(frozen=True)
class Quote:
    amount_cents: int
    lifetime_before_cents: int
    fee_cents: int
    lines: tuple[QuoteLine, ...]
    # The flat rate of a bring-your-own relationship, or None when the bands apply.
    flat_rate_bp: int | None = None

    @property
    def freelancer_receives_cents(self) -> int:
        return self.amount_cents - self.fee_cents

    @property
    def arithmetic(self) -> list[str]:
        """Return the calculation in words, one line per band, then the rounded total."""
        lines = [line.text for line in self.lines]
        total = sum(line.fee_exact for line in self.lines)
        lines.append(
            f"Total {exact_cents_text(total)}, rounded down to whole cents: "
            f"{format_cents(self.fee_cents)}"
        )
        return lines


def percent(rate_bp: int) -> str:
    """Return basis points as a percentage for people: 1250 → "12.5%"."""
    whole, part = divmod(rate_bp, 100)
    return f"{whole}%" if part == 0 else f"{whole}.{part:02d}".rstrip("0") + "%"


def exact_cents_text(fee_exact: int) -> str:
    """Return ten-thousandths of a cent as dollars, with the fraction of a cent if any."""
    cents, fraction = divmod(fee_exact, BASIS_POINTS)
    text = format_cents(cents)
    return f"{text}{f'{fraction:04d}'.rstrip('0')}" if fraction else text


def validate_bands(bands: Sequence[FeeBand]) -> None:
    """Raise FeeError unless the bands start at 0, increase strictly, and have rates from 0
    to 100%."""
    if not 1 <= len(bands) <= MAX_BANDS:
        raise FeeError("bands", f"Give 1 to {MAX_BANDS} fee bands.")
    for position, band in enumerate(bands):
        for name, value in (("from_cents", band.from_cents), ("rate_bp", band.rate_bp)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FeeError(f"bands.{position}.{name}", "Use a whole number, not negative.")
        if band.rate_bp > BASIS_POINTS:
            raise FeeError(f"bands.{position}.rate_bp", "A rate goes up to 10000 (100%).")
        if band.from_cents > MAX_AMOUNT_CENTS:
            raise FeeError(f"bands.{position}.from_cents", "That threshold is too large.")
    if bands[0].from_cents != 0:
        raise FeeError("bands.0.from_cents", "The first band starts at $0.")
    for position in range(1, len(bands)):
        if bands[position].from_cents <= bands[position - 1].from_cents:
            raise FeeError(
                f"bands.{position}.from_cents",
                "Each threshold must be higher than the one before.",
            )


def _check_amount(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FeeError(name, "Use a whole number of cents.")
    if not minimum <= value <= MAX_AMOUNT_CENTS:
        raise FeeError(name, f"Use a whole number of cents from {minimum} to {MAX_AMOUNT_CENTS}.")


def quote(
    bands: Sequence[FeeBand],
    lifetime_before_cents: int,
    amount_cents: int,
    flat_rate_bp: int | None = None,
) -> Quote:
    """Return the fee on a payment of ``amount_cents`` in a relationship that has billed
    ``lifetime_before_cents`` so far, with one line per band it falls in.

    Each part pays its band's rate; the exact sum is rounded down once, to whole cents, so a
    payment split in two never pays more than the same payment in one. A bring-your-own
    relationship (``flat_rate_bp``) pays its flat rate on the whole amount. Raises FeeError
    for bad bands or amounts.
    """
    validate_bands(bands)
    _check_amount("amount_cents", amount_cents, 1)
    _check_amount("lifetime_cents", lifetime_before_cents, 0)
    start, end = lifetime_before_cents, lifetime_before_cents + amount_cents
    if flat_rate_bp is not None:
        line = QuoteLine(start, end, amount_cents, flat_rate_bp, amount_cents * flat_rate_bp)
        return Quote(amount_cents, start, line.fee_exact // BASIS_POINTS, (line,), flat_rate_bp)
    lines = []
    for position, band in enumerate(bands):
        band_end = bands[position + 1].from_cents if position + 1 < len(bands) else None
        low = max(start, band.from_cents)
        high = end if band_end is None else min(end, band_end)
        if high > low:
            portion = high - low
            lines.append(QuoteLine(low, high, portion, band.rate_bp, portion * band.rate_bp))
    total = sum(line.fee_exact for line in lines)
    return Quote(amount_cents, start, total // BASIS_POINTS, tuple(lines))


def fee_for(bands: Sequence[FeeBand], lifetime_before_cents: int, amount_cents: int) -> int:
    """Return the fee in cents on one payment (see ``quote``)."""
    return quote(bands, lifetime_before_cents, amount_cents).fee_cents


# --- stored bands, relationships and billings ---------------------------------------------


def current_bands(session: Session) -> tuple[FeeBand, ...]:
    """Return the fee bands in force: the stored ones, or the defaults when none are stored."""
    rows = session.scalars(sa.select(FeeTier).order_by(FeeTier.position)).all()
    if not rows:
        return DEFAULT_BANDS
    return tuple(FeeBand(row.from_cents, row.rate_bp) for row in rows)


def save_bands(session: Session, bands: Sequence[FeeBand], now: datetime) -> tuple[FeeBand, ...]:
    """Replace the fee bands (they apply to payments quoted from now on) and return them.

    Raises FeeError, changing nothing, when the bands cannot be used.
    """
    bands = tuple(bands)
    validate_bands(bands)
    session.execute(sa.delete(FeeTier))
    session.flush()
    session.add_all(
        FeeTier(position=position, from_cents=band.from_cents, rate_bp=band.rate_bp, updated_at=now)
        for position, band in enumerate(bands)
    )
    session.flush()
    return bands


def party_key(user: User | None, external_id: str | None) -> str:
    """Return the key under which spend balances record a party (see referrals.spend)."""
    return f"user:{user.id}" if user is not None else f"external:{external_id}"


def lifetime_billings(session: Session, client_key: str, freelancer_key: str) -> int:
    """Return what the client has paid the freelancer so far, net of refunds, in cents."""
    net = session.scalar(
        sa.select(SpendBalance.paid_cents - SpendBalance.refunded_cents).where(
            SpendBalance.payer_key == client_key, SpendBalance.payee_key == freelancer_key
        )
    )
    return max(0, net or 0)


def relationship_between(
    session: Session, client_id: int, freelancer_id: int
) -> TalentRelationship | None:
    """Return the bring-your-own relationship of this client and freelancer, if any."""
    return session.scalar(
        sa.select(TalentRelationship).where(
            TalentRelationship.client_id == client_id,
            TalentRelationship.freelancer_id == freelancer_id,
        )
    )


def quote_for(
    session: Session,
    client: User | None,
    freelancer: User | None,
    amount_cents: int,
    client_external_id: str | None = None,
    freelancer_external_id: str | None = None,
) -> Quote:
    """Return the fee quote for a payment from the client to the freelancer, from their
    lifetime billings and any bring-your-own relationship. Members Townhall does not know
    are named by their marketplace ids. Raises FeeError for a bad amount."""
    flat = None
    if client is not None and freelancer is not None:
        found = relationship_between(session, client.id, freelancer.id)
        flat = found.flat_fee_bp if found is not None else None
    billed = lifetime_billings(
        session,
        party_key(client, client_external_id),
        party_key(freelancer, freelancer_external_id),
    )
    return quote(current_bands(session), billed, amount_cents, flat)


def exact_fraction_text(fee_exact: int) -> str:
    """Return ten-thousandths of a cent as a decimal number of cents: 66600 → "6.66"."""
    cents, fraction = divmod(fee_exact, BASIS_POINTS)
    return f"{cents}.{fraction:04d}".rstrip("0").rstrip(".")
