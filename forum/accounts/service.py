"""Signing up and signing in: validation of account data and password checks."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from forum.accounts.models import User

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{1,28})[A-Za-z0-9_]$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
# A constant hash to compare against when the account does not exist, so sign-in takes
# the same time whether or not the name is known.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt:1024:8:1")


class AccountError(ValueError):
    """A problem with account data, tied to the form field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def username_key(username: str) -> str:
    """Return the case-insensitive key under which a username is unique."""
    return unicodedata.normalize("NFKC", username).casefold()


def email_key(email: str) -> str:
    """Return the case-insensitive key under which an email address is unique."""
    return unicodedata.normalize("NFKC", email.strip()).casefold()


@dataclass(frozen=True)
class SignUp:
    username: str
    email: str
    password: str
    hires: bool
    works: bool


def register(session: Session, data: SignUp, password_method: str) -> User:
    """Create and return a new member (added to the session, not committed).

    Raises AccountError naming the field when a value is invalid or already taken.
    """
    username = data.username.strip()
    if not USERNAME_PATTERN.match(username):
        raise AccountError(
            "username",
            "Use 3–30 letters, digits, dots, dashes or underscores, "
            "starting and ending with a letter, digit or underscore.",
        )
    if not (data.hires or data.works):
        raise AccountError("kind", "Choose whether you hire, work, or both.")
    if not MIN_PASSWORD_LENGTH <= len(data.password) <= MAX_PASSWORD_LENGTH:
        raise AccountError(
            "password",
            f"Use between {MIN_PASSWORD_LENGTH} and {MAX_PASSWORD_LENGTH} characters.",
        )
    _ensure_available(session, username, data.email)
    user = User(
        username=username,
        username_key=username_key(username),
        email=data.email.strip(),
        email_key=email_key(data.email),
        password_hash=generate_password_hash(data.password, method=password_method),
        hires=data.hires,
        works=data.works,
    )
    # Two sign-ups with one name at the same moment both pass the check above; the unique
    # keys stop the second, which is then told what the check would have told it.
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        _ensure_available(session, username, data.email)
        raise
    return user


def _ensure_available(session: Session, username: str, email: str) -> None:
    """Raise AccountError when the username or the email already has an account."""
    if session.scalar(sa.select(User.id).where(User.username_key == username_key(username))):
        raise AccountError("username", "That username is taken.")
    if session.scalar(sa.select(User.id).where(User.email_key == email_key(email))):
        raise AccountError("email", "An account with that email already exists.")


def authenticate(session: Session, login: str, password: str) -> User | None:
    """Return the user whose username or email and password match, else None."""
    key = login.strip()
    user = session.scalar(
        sa.select(User).where(
            sa.or_(User.username_key == username_key(key), User.email_key == email_key(key))
        )
    )
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


def change_password(
    session: Session, user: User, current: str, new: str, password_method: str
) -> None:
    """Set a new password after checking the current one.

    Raises AccountError naming the field when the current password is wrong or the new
    one is unusable. Ending the member's other sessions is the caller's choice.
    """
    if not check_password_hash(user.password_hash, current):
        raise AccountError("current_password", "That is not your current password.")
    if not MIN_PASSWORD_LENGTH <= len(new) <= MAX_PASSWORD_LENGTH:
        raise AccountError(
            "new_password",
            f"Use between {MIN_PASSWORD_LENGTH} and {MAX_PASSWORD_LENGTH} characters.",
        )
    user.password_hash = generate_password_hash(new, method=password_method)
    session.flush()
