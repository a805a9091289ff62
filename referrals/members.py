"""Members as the marketplace knows them, and who may refer or be referred in a program.

Eligibility is a live rule, computed from the facts of the moment: a freelancer who loses Top
Rated stops being able to refer freelancers at once, with the reason said.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.accounts.service import email_key
from referrals import affiliates, spend
from referrals.models import MemberProfile, Program, RefereeKind, ReferrerKind

EXTERNAL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
MAX_CATEGORIES = 50


class MemberError(ValueError):
    """A member fact that cannot be used, tied to the field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class MemberNotFound(LookupError):
    """No Townhall account matches."""


class MemberConflict(ValueError):
    """The marketplace id and the Townhall account are each linked elsewhere."""


@dataclass(frozen=True)
class Eligibility:
    allowed: bool
    # Why not, in words for a person; empty when allowed.
    reason: str = ""


@dataclass(frozen=True)
class MemberFacts:
    client: bool
    freelancer: bool
    top_rated: bool
    categories: tuple[str, ...] | None = None  # None: leave as they are
    email: str | None = None  # needed only to link an account the first time
    email_verified: bool = False


def _standing_problem(user: User, now: datetime) -> str:
    if user.is_banned:
        return "This account is banned."
    if user.is_suspended(now):
        return "This account is suspended."
    return ""


def referrer_eligibility(
    session: Session, user: User, program: Program, now: datetime
) -> Eligibility:
    """Return whether the member may refer in the program right now, and if not, why."""
    if not program.is_running(now):
        return Eligibility(False, f"The “{program.name}” program is not running.")
    problem = _standing_problem(user, now)
    if problem:
        return Eligibility(False, problem)
    kind = program.referrer_kind
    if kind == ReferrerKind.CLIENT and not user.hires:
        return Eligibility(False, "Only clients can refer in this program.")
    if kind in (ReferrerKind.FREELANCER, ReferrerKind.TOP_RATED_FREELANCER) and not user.works:
        return Eligibility(False, "Only freelancers can refer in this program.")
    if kind == ReferrerKind.TOP_RATED_FREELANCER and not user.top_rated:
        return Eligibility(
            False,
            "Only Top Rated freelancers can refer in this program, and this account is "
            "not Top Rated at the moment.",
        )
    if kind == ReferrerKind.AFFILIATE and not affiliates.is_approved_affiliate(session, user.id):
        return Eligibility(False, "Only approved affiliates can refer in this program.")
    return Eligibility(True)


def eligibility_by_program(
    session: Session, user: User, now: datetime
) -> list[tuple[Program, Eligibility]]:
    """Return every program with the member's eligibility to refer in it."""
    programs = session.scalars(sa.select(Program).order_by(Program.id))
    return [(program, referrer_eligibility(session, user, program, now)) for program in programs]


def referee_fits(user: User, program: Program) -> bool:
    """Return whether a new member is of the kind the program refers."""
    if program.referee_kind == RefereeKind.CLIENT:
        return user.hires
    return user.works


def member_by_external_id(session: Session, external_id: str) -> User | None:
    return session.scalar(sa.select(User).where(User.external_id == external_id))


def _clean_categories(categories: tuple[str, ...]) -> list[str]:
    cleaned: list[str] = []
    for position, category in enumerate(categories):
        name = " ".join(category.split())
        if not 1 <= len(name) <= 60:
            raise MemberError(f"categories.{position}", "A category has 1 to 60 characters.")
        if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
            # NUL and other control characters: PostgreSQL cannot store NUL in text, and
            # none of them belongs in a name shown on a page.
            raise MemberError(
                f"categories.{position}", "A category cannot hold control characters."
            )
        if name not in cleaned:
            cleaned.append(name)
    if len(cleaned) > MAX_CATEGORIES:
        raise MemberError("categories", f"At most {MAX_CATEGORIES} categories.")
    return cleaned


def set_member_facts(session: Session, external_id: str, facts: MemberFacts, now: datetime) -> User:
    """Record what the marketplace knows about a member and return the account.

    The first time, the account is found by the marketplace's verified email and linked to
    ``external_id``; afterwards by ``external_id``. Raises MemberError for invalid facts,
    MemberNotFound when no account matches, MemberConflict when either side is already linked
    to someone else.
    """
    if not EXTERNAL_ID_PATTERN.match(external_id):
        raise MemberError(
            "external_id", "Use 1 to 64 letters, digits, dots, dashes, colons or underscores."
        )
    if facts.top_rated and not facts.freelancer:
        raise MemberError("top_rated", "Only a freelancer can be Top Rated.")
    categories = None if facts.categories is None else _clean_categories(facts.categories)
    user = member_by_external_id(session, external_id)
    if user is None:
        if not facts.email:
            raise MemberError(
                "email", "Send the member's email to link their account the first time."
            )
        if not facts.email_verified:
            raise MemberError("email_verified", "Only a verified email can link an account.")
        user = session.scalar(sa.select(User).where(User.email_key == email_key(facts.email)))
        if user is None:
            raise MemberNotFound(external_id)
        if user.external_id is not None:
            raise MemberConflict("That Townhall account is linked to another marketplace id.")
        user.external_id = external_id
        session.flush()
        spend.adopt_external_party(session, external_id, user.id)
    user.hires = facts.client
    user.works = facts.freelancer
    user.top_rated = facts.top_rated
    if categories is not None:
        profile = session.get(MemberProfile, user.id)
        if profile is None:
            profile = MemberProfile(user_id=user.id)
            session.add(profile)
        profile.categories = categories
        profile.updated_at = now
    session.flush()
    return user


def categories_of(session: Session, user: User) -> list[str]:
    profile = session.get(MemberProfile, user.id)
    return list(profile.categories) if profile else []
