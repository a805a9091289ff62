"""Attribution: turning a sign-up that followed a referral link into a referral, and the
review of referrals that look like self-referral."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeTimedSerializer
from itsdangerous.encoding import int_to_bytes
from sqlalchemy.orm import Session

from forum.accounts.models import User
from referrals import addresses, members, rewards
from referrals.models import (
    Click,
    Link,
    Program,
    Referral,
    ReferrerTotal,
    ReviewStatus,
    dialect_insert,
)

log = logging.getLogger(__name__)

COOKIE_NAME = "townhall_ref"
COOKIE_SALT = "townhall.referrals.attribution"
CLOCK_SKEW = timedelta(minutes=5)

# Mail providers that deliver "a.n.n+tag@" to "ann@": (ignore dots, ignore +tags).
PROVIDER_RULES = {
    "gmail.com": (True, True),
    "googlemail.com": (True, True),
    "outlook.com": (False, True),
    "hotmail.com": (False, True),
    "live.com": (False, True),
    "icloud.com": (False, True),
    "me.com": (False, True),
    "mac.com": (False, True),
    "fastmail.com": (False, True),
    "proton.me": (False, True),
    "protonmail.com": (False, True),
}
DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}

REASONS = {
    "same_person": "The referrer clicked their own link.",
    "same_email": "The email is the referrer's own (after normalising case, dots and +tags).",
    "same_address": "Signed up from an address the referrer used recently.",
}


class ReviewError(ValueError):
    """The referral cannot be reviewed as asked."""


@dataclass(frozen=True)
class Attribution:
    """What the signed cookie remembers of the last counted click."""

    program_id: int
    link_id: int
    click_id: int
    clicked_at: datetime


def sign_attribution(secret_key: str, attribution: Attribution) -> str:
    """Return the signed cookie value for an attribution.

    The value is what ``URLSafeTimedSerializer(secret_key, salt=COOKIE_SALT).dumps`` makes of
    the payload at the click's second (``read_attribution`` reads it with that serializer),
    built here directly: every counted click signs one, and the serializer's general path
    (JSON through its own encoder, a zlib attempt that never pays for four numbers, the
    key derived anew) cost a tenth of a click.
    """
    clicked = int(attribution.clicked_at.timestamp())
    # JSON of four integers, as the serializer's compact json.dumps writes them.
    payload = (
        f"[{int(attribution.program_id)},{int(attribution.link_id)},"
        f"{int(attribution.click_id)},{clicked}]"
    ).encode()
    value = _unpadded(payload) + b"." + _unpadded(int_to_bytes(clicked))
    signature = hmac.digest(_signing_key(secret_key), value, "sha1")
    return (value + b"." + _unpadded(signature)).decode()


def _unpadded(data: bytes) -> bytes:
    # itsdangerous's base64_encode, for bytes.
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@functools.lru_cache(maxsize=4)
def _signing_key(secret_key: str) -> bytes:
    # itsdangerous's default derivation ("django-concat", SHA-1), as the serializer's signer.
    return hashlib.sha1(  # noqa: S324 - the serializer's choice, which reads these back
        COOKIE_SALT.encode() + b"signer" + secret_key.encode()
    ).digest()


@functools.lru_cache(maxsize=4)
def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    # One per key, not one per cookie read: making it is a good part of reading one.
    return URLSafeTimedSerializer(secret_key, salt=COOKIE_SALT)


def read_attribution(
    secret_key: str, value: str | None, max_age_seconds: int
) -> Attribution | None:
    """Return the attribution in a cookie value, or None when it is missing, forged or stale."""
    if not value:
        return None
    try:
        payload = _serializer(secret_key).loads(value, max_age=max_age_seconds)
        program_id, link_id, click_id, clicked = payload
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in payload):
            return None
        return Attribution(program_id, link_id, click_id, datetime.fromtimestamp(clicked, UTC))
    except (BadSignature, ValueError, TypeError, OverflowError, OSError):
        return None


def canonical_email(email: str) -> str:
    """Return the mailbox an address delivers to: lower case, and for providers that ignore
    them, without dots and +tags (``A.n.n+x@Gmail.com`` → ``ann@gmail.com``)."""
    local, _, domain = email.strip().lower().rpartition("@")
    if not local:
        return email.strip().lower()
    ignore_dots, ignore_tags = PROVIDER_RULES.get(domain, (False, False))
    if ignore_tags:
        local = local.split("+", 1)[0]
    if ignore_dots:
        local = local.replace(".", "")
    return f"{local}@{DOMAIN_ALIASES.get(domain, domain)}"


def self_referral_reasons(
    session: Session,
    referrer: User,
    referee: User,
    click: Click | None,
    signup_address_hash: str | None,
    since: datetime,
) -> list[str]:
    """Return the reasons (keys of REASONS) to suspect the referee is the referrer."""
    reasons = []
    if referee.id == referrer.id or (click is not None and click.visitor_id == referrer.id):
        reasons.append("same_person")
    if canonical_email(referee.email) == canonical_email(referrer.email):
        reasons.append("same_email")
    hashes = {h for h in (signup_address_hash, click.address_hash if click else None) if h}
    if addresses.used_recently(session, referrer.id, hashes, since):
        reasons.append("same_address")
    return reasons


def attribute_sign_up(
    session: Session,
    referee: User,
    attribution: Attribution | None,
    signup_address_hash: str | None,
    now: datetime,
    recent_address_days: int = 30,
) -> Referral | None:
    """Make the new member's referral from the attribution they arrived with; return it, or
    None when there is nothing to attribute.

    Nothing is attributed when the click is outside the program's window, the program is not
    running, the member is not of the kind the program refers, they were already referred, or
    the referrer may no longer refer. Suspected self-referral is stored flagged for review,
    with its reasons, and earns nothing until an admin approves it.
    """
    if attribution is None:
        return None
    program = session.get(Program, attribution.program_id)
    link = session.get(Link, attribution.link_id)
    if program is None or link is None or link.program_id != program.id:
        return None
    # The click was timed by whichever process served it; allow for clocks a little apart.
    if attribution.clicked_at > now + CLOCK_SKEW:
        return None
    if now > attribution.clicked_at + timedelta(days=program.attribution_days):
        return None
    if not members.referee_fits(referee, program):
        return None
    if session.scalar(sa.select(Referral.id).where(Referral.referee_id == referee.id)):
        return None
    referrer = link.referrer
    eligibility = members.referrer_eligibility(session, referrer, program, now)
    if not eligibility.allowed:
        log.info("no referral for member %s: %s", referee.id, eligibility.reason)
        return None
    click = session.get(Click, attribution.click_id)
    if click is not None and click.link_id != link.id:
        click = None
    reasons = self_referral_reasons(
        session,
        referrer,
        referee,
        click,
        signup_address_hash,
        now - timedelta(days=recent_address_days),
    )
    referral = Referral(
        program_id=program.id,
        referrer_id=referrer.id,
        referee_id=referee.id,
        link_id=link.id,
        click_id=click.id if click else None,
        clicked_at=attribution.clicked_at,
        created_at=now,
        signup_address_hash=signup_address_hash,
        review_status=(ReviewStatus.FLAGGED if reasons else ReviewStatus.CLEAR).value,
        review_reasons=reasons,
    )
    session.add(referral)
    session.flush()
    session.execute(
        dialect_insert(session, ReferrerTotal)
        .values(program_id=program.id, referrer_id=referrer.id, rewarded_cents=0)
        .on_conflict_do_nothing(index_elements=["program_id", "referrer_id"])
    )
    rewards.settle(session, referral, now)
    return referral


def review_referral(
    session: Session, referral_id: int, admin: User, approve: bool, note: str, now: datetime
) -> Referral:
    """Approve or reject a flagged referral and return it; approving grants whatever its
    totals have earned so far.

    Raises ReviewError when the referral does not exist or was not flagged.
    """
    referral = rewards.lock_referral(session, referral_id)
    if referral is None:
        raise ReviewError("There is no such referral.")
    if referral.review_status != ReviewStatus.FLAGGED:
        raise ReviewError(f"This referral is {referral.review_status}, not waiting for review.")
    referral.review_status = (ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED).value
    referral.reviewed_by_id = admin.id
    referral.reviewed_at = now
    referral.review_note = note.strip()[:500] or None
    session.flush()
    if approve:
        rewards.settle(session, referral, now)
    return referral
