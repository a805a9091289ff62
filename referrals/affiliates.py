"""Affiliates: outside referrers with an audience, who may refer once an admin approves them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User
from referrals.models import Affiliate, AffiliateStatus


class AffiliateError(ValueError):
    """The affiliate application cannot be made or decided as asked; ``field`` names the value
    concerned ("form" when it is the application as a whole)."""

    def __init__(self, message: str, field: str = "form") -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def affiliate_of(session: Session, user_id: int) -> Affiliate | None:
    """Return the member's affiliate record, or None when they never applied."""
    return session.scalar(sa.select(Affiliate).where(Affiliate.user_id == user_id))


def is_approved_affiliate(session: Session, user_id: int) -> bool:
    affiliate = affiliate_of(session, user_id)
    return affiliate is not None and affiliate.status == AffiliateStatus.APPROVED


def apply(
    session: Session,
    user: User,
    audience: str,
    now: datetime,
    website: str | None = None,
    promotion: str | None = None,
) -> Affiliate:
    """Record the member's application (their audience, optionally its website and how they
    will promote) and return it.

    Raises AffiliateError when a value cannot be used or they already applied and were not
    rejected.
    """
    audience = audience.strip()
    if not 1 <= len(audience) <= 1000:
        raise AffiliateError("Describe your audience in at most 1,000 characters.", "audience")
    website = (website or "").strip() or None
    if website is not None and (
        len(website) > 300 or not website.startswith(("https://", "http://")) or " " in website
    ):
        raise AffiliateError(
            "Give the website as a full address, starting with https://.", "website"
        )
    promotion = (promotion or "").strip() or None
    if promotion is not None and len(promotion) > 1000:
        raise AffiliateError(
            "Describe how you will promote in at most 1,000 characters.", "promotion"
        )
    affiliate = affiliate_of(session, user.id)
    if affiliate is not None and affiliate.status != AffiliateStatus.REJECTED:
        raise AffiliateError("You have already applied.")
    if affiliate is None:
        affiliate = Affiliate(user_id=user.id)
        session.add(affiliate)
    affiliate.status = AffiliateStatus.APPLIED.value
    affiliate.audience = audience
    affiliate.website = website
    affiliate.promotion = promotion
    affiliate.applied_at = now
    affiliate.decided_at = None
    affiliate.decided_by_id = None
    affiliate.decision_note = None
    session.flush()
    return affiliate


def decide(
    session: Session,
    user: User,
    approve: bool,
    admin: User | None,
    now: datetime,
    note: str | None = None,
) -> Affiliate:
    """Approve or reject the member as an affiliate (recording an application if there is none)
    and return the record; approval shows the Affiliate badge, rejection takes it away.
    ``admin`` is None when done from the command line.

    Raises AffiliateError when the note is longer than 500 characters.
    """
    note = " ".join((note or "").split()) or None
    if note is not None and len(note) > 500:
        raise AffiliateError("Keep the note under 500 characters.", "note")
    affiliate = affiliate_of(session, user.id)
    if affiliate is None:
        affiliate = Affiliate(user_id=user.id, audience="", applied_at=now)
        session.add(affiliate)
    affiliate.status = (AffiliateStatus.APPROVED if approve else AffiliateStatus.REJECTED).value
    affiliate.decided_at = now
    affiliate.decided_by_id = admin.id if admin else None
    affiliate.decision_note = note
    if approve:
        user.affiliate_since = user.affiliate_since or now
    else:
        user.affiliate_since = None
    session.flush()
    return affiliate
