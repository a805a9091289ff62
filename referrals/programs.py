"""Referral programs and their tiers: validation, creation, editing, and the default five."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referrals.models import Program, RefereeKind, ReferrerKind, RewardKind, Tier

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SUPPORTED_CURRENCIES = frozenset({"USD"})
MAX_DAYS = 3650
# A reward held longer than a year is a reward nobody believes in.
MAX_HOLD_DAYS = 365


class ProgramError(ValueError):
    """A program or tier value that cannot be used, tied to the field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ProgramNotFound(LookupError):
    """No program has that slug."""


@dataclass(frozen=True)
class TierSpec:
    threshold_cents: int
    reward_kind: RewardKind
    reward_amount: int
    share_months: int | None = None
    share_cap_cents: int | None = None


@dataclass(frozen=True)
class ProgramSpec:
    slug: str
    name: str
    referrer_kind: ReferrerKind
    referee_kind: RefereeKind
    attribution_days: int
    hold_days: int
    tiers: tuple[TierSpec, ...]
    description: str = ""
    referrer_cap_cents: int | None = None
    referee_cap_cents: int | None = None
    currency: str = "USD"
    starts_at: datetime | None = None
    ends_at: datetime | None = None


DEFAULT_PROGRAMS = (
    ProgramSpec(
        slug="client-refers-client",
        name="Client refers client",
        description="Any client in good standing refers a new client: $100 in credit once "
        "the new client has spent $500.",
        referrer_kind=ReferrerKind.CLIENT,
        referee_kind=RefereeKind.CLIENT,
        attribution_days=30,
        hold_days=30,
        tiers=(TierSpec(50_000, RewardKind.CREDIT, 10_000),),
    ),
    ProgramSpec(
        slug="freelancer-refers-freelancer",
        name="Freelancer refers freelancer",
        description="Top Rated freelancers refer new freelancers: 10 Connects on the new "
        "freelancer's first paid job, and $50 once they have earned $1,000.",
        referrer_kind=ReferrerKind.TOP_RATED_FREELANCER,
        referee_kind=RefereeKind.FREELANCER,
        attribution_days=30,
        hold_days=30,
        tiers=(TierSpec(1, RewardKind.CONNECTS, 10), TierSpec(100_000, RewardKind.CASH, 5_000)),
    ),
    ProgramSpec(
        slug="affiliate",
        name="Affiliates",
        description="Approved affiliates refer new clients: $25 once the client has spent "
        "$100, and 10% of the client's spend for 12 months, at most $500 per client.",
        referrer_kind=ReferrerKind.AFFILIATE,
        referee_kind=RefereeKind.CLIENT,
        attribution_days=90,
        hold_days=30,
        tiers=(
            TierSpec(10_000, RewardKind.CASH, 2_500),
            TierSpec(0, RewardKind.REVENUE_SHARE, 1_000, share_months=12, share_cap_cents=50_000),
        ),
    ),
    ProgramSpec(
        slug="bring-your-own-talent",
        name="Bring your own talent",
        description="A client brings a freelancer who has no account yet; their relationship "
        "pays a reduced flat freelancer service fee.",
        referrer_kind=ReferrerKind.CLIENT,
        referee_kind=RefereeKind.FREELANCER,
        attribution_days=30,
        hold_days=0,
        tiers=(TierSpec(0, RewardKind.FEE_DISCOUNT, 500),),
    ),
    ProgramSpec(
        slug="bring-your-own-client",
        name="Bring your own client",
        description="A freelancer brings a client who has no account yet; their relationship "
        "pays a reduced flat freelancer service fee.",
        referrer_kind=ReferrerKind.FREELANCER,
        referee_kind=RefereeKind.CLIENT,
        attribution_days=30,
        hold_days=0,
        tiers=(TierSpec(0, RewardKind.FEE_DISCOUNT, 500),),
    ),
)


def _check_days(name: str, value: int, minimum: int, maximum: int = MAX_DAYS) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ProgramError(name, f"Use a whole number of days from {minimum} to {maximum}.")


def _check_cents(name: str, value: int | None, minimum: int, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProgramError(name, f"Use a whole number of cents, at least {minimum}.")


def validate_tier(tier: TierSpec, prefix: str = "tiers") -> None:
    """Raise ProgramError when a tier cannot be used."""
    try:
        kind = RewardKind(tier.reward_kind)
    except ValueError:
        kinds = ", ".join(k.value for k in RewardKind)
        raise ProgramError(f"{prefix}.reward_kind", f"Use one of: {kinds}.") from None
    _check_cents(f"{prefix}.threshold_cents", tier.threshold_cents, 0, optional=False)
    _check_cents(f"{prefix}.reward_amount", tier.reward_amount, 1, optional=False)
    if kind in (RewardKind.FEE_DISCOUNT, RewardKind.REVENUE_SHARE) and tier.reward_amount > 10_000:
        raise ProgramError(f"{prefix}.reward_amount", "Basis points go up to 10000 (100%).")
    if kind == RewardKind.REVENUE_SHARE:
        months = tier.share_months
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
            raise ProgramError(f"{prefix}.share_months", "Use a whole number of months, 1 to 120.")
        _check_cents(f"{prefix}.share_cap_cents", tier.share_cap_cents, 1)
    elif tier.share_months is not None or tier.share_cap_cents is not None:
        raise ProgramError(f"{prefix}.share_months", "Only a revenue share runs for months.")


def validate_program(spec: ProgramSpec) -> None:
    """Raise ProgramError naming the first field of ``spec`` that cannot be used."""
    if not SLUG_PATTERN.match(spec.slug) or len(spec.slug) > 60:
        raise ProgramError("slug", "Use lower-case letters, digits and single dashes.")
    if not spec.name.strip() or len(spec.name) > 120:
        raise ProgramError("name", "A program needs a name of at most 120 characters.")
    if len(spec.description) > 1000:
        raise ProgramError("description", "Keep the description under 1,000 characters.")
    if spec.referrer_kind not in set(ReferrerKind):
        raise ProgramError("referrer_kind", f"Use one of: {', '.join(ReferrerKind)}.")
    if spec.referee_kind not in set(RefereeKind):
        raise ProgramError("referee_kind", f"Use one of: {', '.join(RefereeKind)}.")
    _check_days("attribution_days", spec.attribution_days, 1)
    _check_days("hold_days", spec.hold_days, 0, MAX_HOLD_DAYS)
    _check_cents("referrer_cap_cents", spec.referrer_cap_cents, 1)
    _check_cents("referee_cap_cents", spec.referee_cap_cents, 1)
    if spec.currency not in SUPPORTED_CURRENCIES:
        raise ProgramError("currency", "Only USD is supported for now.")
    if spec.starts_at and spec.ends_at and spec.ends_at <= spec.starts_at:
        raise ProgramError("ends_at", "A program must end after it starts.")
    if not spec.tiers:
        raise ProgramError("tiers", "A program needs at least one tier.")
    for position, tier in enumerate(spec.tiers):
        validate_tier(tier, f"tiers.{position}")
    if sum(t.reward_kind == RewardKind.REVENUE_SHARE for t in spec.tiers) > 1:
        raise ProgramError("tiers", "A program can have at most one revenue share tier.")
    previous = None
    for position, tier in enumerate(spec.tiers):
        if tier.reward_kind == RewardKind.REVENUE_SHARE:
            continue  # a share runs beside the thresholds, from its own starting point
        if previous is not None and tier.threshold_cents <= previous:
            raise ProgramError(
                f"tiers.{position}.threshold_cents",
                "Each tier's threshold must be higher than the one before it.",
            )
        previous = tier.threshold_cents


def spec_of(program: Program) -> ProgramSpec:
    """Return the specification a stored program currently follows."""
    return ProgramSpec(
        slug=program.slug,
        name=program.name,
        description=program.description,
        referrer_kind=ReferrerKind(program.referrer_kind),
        referee_kind=RefereeKind(program.referee_kind),
        attribution_days=program.attribution_days,
        hold_days=program.hold_days,
        referrer_cap_cents=program.referrer_cap_cents,
        referee_cap_cents=program.referee_cap_cents,
        currency=program.currency,
        starts_at=program.starts_at,
        ends_at=program.ends_at,
        tiers=tuple(
            TierSpec(
                t.threshold_cents,
                RewardKind(t.reward_kind),
                t.reward_amount,
                t.share_months,
                t.share_cap_cents,
            )
            for t in program.tiers
        ),
    )


def create_program(session: Session, spec: ProgramSpec, now: datetime) -> Program:
    """Create and return a program with its tiers (flushed, not committed).

    Raises ProgramError when the spec is invalid or the slug is taken.
    """
    validate_program(spec)
    if session.scalar(sa.select(Program.id).where(Program.slug == spec.slug)):
        raise ProgramError("slug", "A program with that slug exists.")
    program = Program(
        slug=spec.slug,
        name=spec.name.strip(),
        description=spec.description,
        referrer_kind=ReferrerKind(spec.referrer_kind).value,
        referee_kind=RefereeKind(spec.referee_kind).value,
        attribution_days=spec.attribution_days,
        hold_days=spec.hold_days,
        referrer_cap_cents=spec.referrer_cap_cents,
        referee_cap_cents=spec.referee_cap_cents,
        currency=spec.currency,
        starts_at=spec.starts_at or now,
        ends_at=spec.ends_at,
        created_at=now,
        updated_at=now,
        tiers=[
            Tier(
                position=position,
                threshold_cents=t.threshold_cents,
                reward_kind=RewardKind(t.reward_kind).value,
                reward_amount=t.reward_amount,
                share_months=t.share_months,
                share_cap_cents=t.share_cap_cents,
            )
            for position, t in enumerate(spec.tiers)
        ],
    )
    session.add(program)
    session.flush()
    return program


PROGRAM_FIELDS = frozenset(
    {
        "name",
        "description",
        "attribution_days",
        "hold_days",
        "referrer_cap_cents",
        "referee_cap_cents",
        "starts_at",
        "ends_at",
    }
)
TIER_FIELDS = frozenset({"threshold_cents", "reward_amount", "share_months", "share_cap_cents"})


def update_program(
    session: Session, program: Program, changes: dict[str, Any], now: datetime
) -> Program:
    """Apply ``changes`` (any of PROGRAM_FIELDS) to a program and return it.

    Changes apply from now on: rewards already granted keep their amounts. Raises
    ProgramError when a field is unknown or a value invalid.
    """
    unknown = set(changes) - PROGRAM_FIELDS
    if unknown:
        raise ProgramError(sorted(unknown)[0], "This field cannot be changed.")
    validate_program(dataclasses.replace(spec_of(program), **changes))
    for name, value in changes.items():
        setattr(program, name, value)
    program.updated_at = now
    session.flush()
    return program


def update_tier(session: Session, tier: Tier, changes: dict[str, Any], now: datetime) -> Tier:
    """Apply ``changes`` (any of TIER_FIELDS) to a tier and return it.

    A tier's kind never changes (its rewards would stop making sense); add a program instead.
    Raises ProgramError when a field is unknown or a value invalid.
    """
    unknown = set(changes) - TIER_FIELDS
    if unknown:
        raise ProgramError(sorted(unknown)[0], "This field of a tier cannot be changed.")
    current = TierSpec(
        tier.threshold_cents,
        RewardKind(tier.reward_kind),
        tier.reward_amount,
        tier.share_months,
        tier.share_cap_cents,
    )
    changed = dataclasses.replace(current, **changes)
    validate_tier(changed, f"tiers.{tier.position}")
    spec = spec_of(tier.program)
    siblings = tuple(
        changed if t.position == tier.position else s
        for t, s in zip(tier.program.tiers, spec.tiers, strict=True)
    )
    validate_program(dataclasses.replace(spec, tiers=siblings))
    for name, value in changes.items():
        setattr(tier, name, value)
    tier.program.updated_at = now
    session.flush()
    return tier


def setup_default_programs(session: Session, now: datetime) -> list[Program]:
    """Create whichever default programs do not exist yet and return those created.

    Existing programs are left as they are, edits included, so running this again is harmless.
    """
    existing = set(session.scalars(sa.select(Program.slug)))
    return [
        create_program(session, spec, now) for spec in DEFAULT_PROGRAMS if spec.slug not in existing
    ]


def program_by_slug(session: Session, slug: str) -> Program:
    """Return the program with that slug; raise ProgramNotFound otherwise."""
    program = session.scalar(sa.select(Program).where(Program.slug == slug))
    if program is None:
        raise ProgramNotFound(slug)
    return program
