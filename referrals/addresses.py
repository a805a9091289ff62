"""Network addresses, kept only as salted hashes: for click floods and self-referral checks."""

from __future__ import annotations

import functools
import hashlib
import hmac
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referrals.models import MemberAddress, dialect_insert


def address_hash(secret_key: str, address: str | None) -> str:
    """Return a keyed hash of a network address: equal for equal addresses, and useless to
    anyone without the app's SECRET_KEY (IPv4 has too few addresses for a plain hash)."""
    return hmac.digest(_address_key(secret_key), (address or "unknown").encode(), "sha256").hex()


@functools.lru_cache(maxsize=4)
def _address_key(secret_key: str) -> bytes:
    return hashlib.sha256(b"townhall.referrals.address\0" + secret_key.encode()).digest()


def remember_address(session: Session, user_id: int, hashed: str, now: datetime) -> None:
    """Note that the member used this address now (insert, or refresh its time)."""
    statement = dialect_insert(session, MemberAddress).values(
        user_id=user_id, address_hash=hashed, last_seen_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "address_hash"],
            set_={"last_seen_at": statement.excluded.last_seen_at},
        )
    )


def used_recently(session: Session, user_id: int, hashes: set[str], since: datetime) -> bool:
    """Return whether the member used any of these address hashes since ``since``."""
    if not hashes:
        return False
    found = session.scalar(
        sa.select(MemberAddress.id)
        .where(
            MemberAddress.user_id == user_id,
            MemberAddress.address_hash.in_(sorted(hashes)),
            MemberAddress.last_seen_at >= since,
        )
        .limit(1)
    )
    return found is not None
