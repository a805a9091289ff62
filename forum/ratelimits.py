"""Rate limits: who may try how often, counted per address, per account or per member.

Counters live in Flask-Limiter's storage: memory by default (one process), Redis when
RATELIMIT_STORAGE_URI points at it, so that every process counts together. A request over a
limit gets the 429 page (or JSON under /api/) with the message below and a Retry-After header.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Response, request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from forum.accounts.models import User
from forum.accounts.service import email_key, username_key
from forum.database import utcnow
from forum.extensions import db, limiter

# Failed sign-ins: per address against password spraying, per account against guessing.
SIGN_IN_PER_ADDRESS = "10 per minute;50 per hour"
SIGN_IN_PER_ACCOUNT = "5 per minute;20 per hour"
# Accounts made from one address, and sign-up attempts (which reveal taken names).
SIGN_UPS_PER_ADDRESS = "5 per hour"
SIGN_UP_ATTEMPTS_PER_ADDRESS = "30 per hour"
# Threads and replies together, per member: new accounts are where spam comes from.
NEW_ACCOUNT_AGE = timedelta(days=1)
POSTING_NEW_ACCOUNT = "3 per minute;20 per hour"
POSTING = "10 per minute;200 per day"
REPORTING = "10 per minute;50 per day"


def _failed(response: Response) -> bool:
    # A sign-in that works redirects; everything else (wrong password, banned) counts.
    return response.status_code != 302


def _succeeded(response: Response) -> bool:
    return response.status_code == 302


def _account_key() -> str:
    """Return the key of the account a sign-in names, so username and email count together."""
    login = (request.form.get("login") or "").strip()[:254]
    user_id = db.session.scalar(
        sa.select(User.id).where(
            sa.or_(User.username_key == username_key(login), User.email_key == email_key(login))
        )
    )
    return f"account:{user_id}" if user_id is not None else f"login:{username_key(login)}"


def _member_key() -> str:
    return f"member:{current_user.id}" if current_user.is_authenticated else get_remote_address()


def is_new_account(user: User) -> bool:
    return user.created_at > utcnow() - NEW_ACCOUNT_AGE


def _posting_limit() -> str:
    if current_user.is_authenticated and is_new_account(current_user):
        return POSTING_NEW_ACCOUNT
    return POSTING


def _posting_message() -> str:
    if current_user.is_authenticated and is_new_account(current_user):
        return (
            "You are posting faster than new accounts can: during their first day, accounts "
            "can post 3 times a minute and 20 times an hour. Your text was not posted; go back "
            "to copy it, and try again in a little while."
        )
    return (
        "You are posting too fast. Your text was not posted; go back to copy it, and try "
        "again in a minute."
    )


sign_in_per_address = limiter.limit(
    SIGN_IN_PER_ADDRESS, methods=["POST"], deduct_when=_failed,
    error_message="Too many failed sign-ins from your network. Please wait a few minutes "
    "and try again.",
)  # fmt: skip
sign_in_per_account = limiter.limit(
    SIGN_IN_PER_ACCOUNT, key_func=_account_key, methods=["POST"], deduct_when=_failed,
    error_message="Too many failed sign-ins for this account. Please wait a few minutes and "
    "try again.",
)  # fmt: skip
sign_ups_per_address = limiter.limit(
    SIGN_UPS_PER_ADDRESS, methods=["POST"], deduct_when=_succeeded,
    error_message="Too many accounts were created from your network. Please try again later.",
)  # fmt: skip
sign_up_attempts_per_address = limiter.limit(
    SIGN_UP_ATTEMPTS_PER_ADDRESS, methods=["POST"],
    error_message="Too many sign-up attempts from your network. Please try again later.",
)  # fmt: skip
# Shared: a new thread and a reply draw on the same allowance. Only posts made count.
posting = limiter.shared_limit(
    _posting_limit, scope="posting", key_func=_member_key, methods=["POST"],
    deduct_when=_succeeded, error_message=_posting_message,
)  # fmt: skip
reporting = limiter.limit(
    REPORTING, key_func=_member_key, methods=["POST"], deduct_when=_succeeded,
    error_message="You have sent many reports in a short time. Thank you; please wait a "
    "little before sending more.",
)  # fmt: skip
