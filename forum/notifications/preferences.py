"""A member's notification settings: email per kind, watching on posting, unsubscribe links.

An unsubscribe link carries a token signed with SECRET_KEY naming the member and the kind
(or "digest"); it never expires, as mail clients and RFC 8058 expect.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.notifications.models import (
    DEFAULT_EMAIL_MODES,
    EmailMode,
    EmailPreference,
    NotificationKind,
    NotificationSettings,
)

DIGEST = "digest"
_SALT = "townhall-unsubscribe"


class InvalidToken(ValueError):
    """The unsubscribe link was altered, or signed with another key."""


@dataclass(frozen=True)
class Preferences:
    email_modes: dict[NotificationKind, EmailMode]
    watch_on_post: bool


def email_modes(
    session: Session, user_ids: list[int]
) -> dict[int, dict[NotificationKind, EmailMode]]:
    """Return each member's email mode for every kind, defaults filled in; one query."""
    modes = {user_id: dict(DEFAULT_EMAIL_MODES) for user_id in user_ids}
    if not user_ids:
        return modes
    rows = session.execute(
        sa.select(EmailPreference.user_id, EmailPreference.kind, EmailPreference.mode).where(
            EmailPreference.user_id.in_(user_ids)
        )
    )
    for user_id, kind, mode in rows:
        if kind in NotificationKind._value2member_map_ and mode in EmailMode._value2member_map_:
            modes[user_id][NotificationKind(kind)] = EmailMode(mode)
    return modes


def get_preferences(session: Session, user: User) -> Preferences:
    """Return the member's settings, defaults where they have chosen nothing."""
    settings = session.get(NotificationSettings, user.id)
    return Preferences(
        email_modes=email_modes(session, [user.id])[user.id],
        watch_on_post=settings.watch_on_post if settings is not None else True,
    )


def _settings(session: Session, user_id: int) -> NotificationSettings:
    settings = session.get(NotificationSettings, user_id)
    if settings is None:
        settings = NotificationSettings(user_id=user_id, watch_on_post=True)
        session.add(settings)
    return settings


def _set_modes(session: Session, user_id: int, modes: dict[NotificationKind, EmailMode]) -> None:
    existing = {
        pref.kind: pref
        for pref in session.scalars(
            sa.select(EmailPreference).where(EmailPreference.user_id == user_id)
        )
    }
    for kind, mode in modes.items():
        if kind.value in existing:
            existing[kind.value].mode = mode.value
        else:
            session.add(EmailPreference(user_id=user_id, kind=kind.value, mode=mode.value))


def save_preferences(session: Session, user: User, preferences: Preferences) -> None:
    """Store the member's choices."""
    _settings(session, user.id).watch_on_post = preferences.watch_on_post
    _set_modes(session, user.id, preferences.email_modes)
    session.flush()


def last_digest_at(session: Session, user_id: int):  # noqa: ANN201 - datetime | None
    settings = session.get(NotificationSettings, user_id)
    return settings.last_digest_at if settings is not None else None


def unsubscribe_token(secret_key: str, user_id: int, kind: str) -> str:
    """Return the token of an unsubscribe link for one member and kind (or "digest")."""
    return URLSafeSerializer(secret_key, salt=_SALT).dumps([user_id, kind])


def read_unsubscribe_token(secret_key: str, token: str) -> tuple[int, str]:
    """Return (user id, kind) from a token; raise InvalidToken if it is not ours."""
    try:
        user_id, kind = URLSafeSerializer(secret_key, salt=_SALT).loads(token)
    except (BadSignature, TypeError, ValueError) as exc:
        raise InvalidToken("This unsubscribe link is not valid.") from exc
    if not isinstance(user_id, int) or (
        kind != DIGEST and kind not in NotificationKind._value2member_map_
    ):
        raise InvalidToken("This unsubscribe link is not valid.")
    return user_id, kind


def describe_subscription(kind: str) -> str:
    """Return what an unsubscribe link stops, for its confirmation page."""
    if kind == DIGEST:
        return "the daily digest"
    return f"emails for “{NotificationKind(kind).label.lower()}”"


def unsubscribe(session: Session, user_id: int, kind: str) -> None:
    """Turn off emails of one kind, or for "digest" every kind that went to the digest."""
    current = email_modes(session, [user_id])[user_id]
    if kind == DIGEST:
        changes = {k: EmailMode.OFF for k, mode in current.items() if mode == EmailMode.DAILY}
    else:
        changes = {NotificationKind(kind): EmailMode.OFF}
    _set_modes(session, user_id, changes)
    session.flush()
