"""Notification emails: deciding which notifications to email and writing the emails.

Run by workers, not pages: ``flask outbox send`` calls ``queue_due_emails`` before draining
the outbox, ``flask outbox digest`` calls ``queue_digests``. A notification is emailed
NOTIFICATION_EMAIL_DELAY after it happened, and only if it is still unread and its post was
not removed by then; the rest wait for the digest or are skipped, per the member's settings.
Each email carries a one-click unsubscribe link (RFC 8058) for its kind.
Deciding is claim-safe: a row moves out of "pending" with one UPDATE ... WHERE
email_state = 'pending', so two workers never email the same notification.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, render_template
from sqlalchemy.orm import Session, joinedload

from forum import outbox
from forum.accounts.models import User
from forum.boards.models import Board, Post, Thread
from forum.database import utcnow
from forum.notifications import preferences
from forum.notifications.fanout import STAFF_ROLES
from forum.notifications.inbox import describe
from forum.notifications.models import (
    EmailMode,
    EmailState,
    Notification,
    NotificationKind,
    NotificationSettings,
)
from forum.templating import external_url

BATCH_SIZE = 200
DIGEST_INTERVAL = timedelta(hours=23)
MAX_DIGEST_ITEMS = 50


def _gone(kind: str, post_removed: object, thread_removed: object, staff_only: object) -> bool:
    """Whether the content a notification is about has been removed since."""
    if kind == NotificationKind.POST_REMOVED:
        return False
    return bool(post_removed or thread_removed or staff_only)


def _claim(
    session: Session, ids: list[int], from_state: EmailState, to_state: EmailState
) -> list[int]:
    if not ids:
        return []
    return list(
        session.scalars(
            sa.update(Notification)
            .where(Notification.id.in_(ids), Notification.email_state == from_state.value)
            .values(email_state=to_state.value)
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        )
    )


def _candidates(session: Session, state: EmailState, where: list) -> list:  # noqa: ANN001
    return session.execute(
        sa.select(
            Notification.id,
            Notification.recipient_id,
            Notification.kind,
            Notification.read_at,
            Post.removed_at,
            Thread.removed_at.label("thread_removed_at"),
            sa.and_(Board.moderators_only, User.role.not_in(STAFF_ROLES)).label("staff_only"),
        )
        .join(User, User.id == Notification.recipient_id)
        .outerjoin(Post, Post.id == Notification.post_id)
        .outerjoin(Thread, Thread.id == Notification.thread_id)
        .outerjoin(Board, Board.id == Thread.board_id)
        .where(Notification.email_state == state.value, *where)
        .order_by(Notification.id)
        .limit(BATCH_SIZE)
    ).all()


def _load(session: Session, ids: list[int]) -> list[Notification]:
    return list(
        session.scalars(
            sa.select(Notification)
            .where(Notification.id.in_(ids))
            .options(
                joinedload(Notification.recipient),
                joinedload(Notification.actor),
                joinedload(Notification.thread),
                joinedload(Notification.post),
            )
            .order_by(Notification.id)
        )
    )


def _unsubscribe_headers(url: str) -> dict[str, str]:
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _unsubscribe_url(user_id: int, kind: str) -> str:
    token = preferences.unsubscribe_token(current_app.config["SECRET_KEY"], user_id, kind)
    return external_url("notifications.unsubscribe", token=token)


def _excerpt(notification: Notification, limit: int = 300) -> str | None:
    if notification.post is None or notification.kind == NotificationKind.POST_REMOVED:
        return None
    from forum.markup import plain_text

    text = plain_text(notification.post.body_source)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _item(notification: Notification) -> dict[str, object]:
    wording = describe(notification)
    return {
        "text": wording.text,
        "detail": wording.detail,
        "excerpt": _excerpt(notification),
        "url": external_url("notifications.follow", notification_id=notification.id),
    }


def _queue_one(session: Session, notification: Notification) -> None:
    unsubscribe = _unsubscribe_url(notification.recipient_id, notification.kind)
    item = _item(notification)
    body = render_template(
        "notifications/email/notification.txt",
        member=notification.recipient,
        item=item,
        what=preferences.describe_subscription(notification.kind),
        unsubscribe_url=unsubscribe,
        settings_url=external_url("notifications.settings"),
    )
    outbox.enqueue(
        session,
        notification.recipient.email,
        str(item["text"]),
        body,
        kind=f"notification:{notification.kind}",
        headers=_unsubscribe_headers(unsubscribe),
    )


def queue_due_emails(
    session: Session, now: datetime | None = None, delay: timedelta | None = None
) -> int:
    """Decide every pending notification old enough; queue the immediate emails.

    Returns how many emails were queued. The caller commits.
    """
    now = now or utcnow()
    if delay is None:
        delay = timedelta(seconds=current_app.config["NOTIFICATION_EMAIL_DELAY"])
    queued = 0
    while True:
        rows = _candidates(session, EmailState.PENDING, [Notification.updated_at <= now - delay])
        if not rows:
            return queued
        modes = preferences.email_modes(session, list({row.recipient_id for row in rows}))
        decided: dict[EmailState, list[int]] = defaultdict(list)
        for row in rows:
            mode = modes[row.recipient_id].get(NotificationKind(row.kind), EmailMode.OFF)
            unwanted = row.read_at is not None or mode == EmailMode.OFF
            if unwanted or _gone(row.kind, row.removed_at, row.thread_removed_at, row.staff_only):
                decided[EmailState.SKIPPED].append(row.id)
            elif mode == EmailMode.DAILY:
                decided[EmailState.DIGEST].append(row.id)
            else:
                decided[EmailState.QUEUED].append(row.id)
        for state in (EmailState.SKIPPED, EmailState.DIGEST):
            _claim(session, decided[state], EmailState.PENDING, state)
        won = _claim(session, decided[EmailState.QUEUED], EmailState.PENDING, EmailState.QUEUED)
        for notification in _load(session, won):
            _queue_one(session, notification)
            queued += 1
        session.flush()


def queue_digests(session: Session, now: datetime | None = None) -> int:
    """Queue one digest email per member with notifications waiting for it; return how many.

    A member gets at most one digest per DIGEST_INTERVAL, whatever how often this runs.
    Notifications read or removed meanwhile are left out, and so are kinds the member has
    turned off since (an unsubscribe link clicked in the last digest). The caller commits.
    """
    now = now or utcnow()
    queued = 0
    recent_digest = sa.exists().where(
        NotificationSettings.user_id == Notification.recipient_id,
        NotificationSettings.last_digest_at > now - DIGEST_INTERVAL,
    )
    while True:
        rows = _candidates(session, EmailState.DIGEST, [~recent_digest])
        if not rows:
            return queued
        by_member: dict[int, list[int]] = defaultdict(list)
        skipped = []
        modes = preferences.email_modes(session, list({row.recipient_id for row in rows}))
        for row in rows:
            turned_off = modes[row.recipient_id].get(NotificationKind(row.kind)) == EmailMode.OFF
            if (
                row.read_at is not None
                or turned_off
                or _gone(row.kind, row.removed_at, row.thread_removed_at, row.staff_only)
            ):
                skipped.append(row.id)
            else:
                by_member[row.recipient_id].append(row.id)
        _claim(session, skipped, EmailState.DIGEST, EmailState.SKIPPED)
        for ids in by_member.values():
            won = _claim(session, ids, EmailState.DIGEST, EmailState.DIGESTED)
            if won:
                _queue_digest(session, _load(session, won), now)
                queued += 1
        session.flush()


def _queue_digest(session: Session, notifications: list[Notification], now: datetime) -> None:
    member = notifications[0].recipient
    settings = session.get(NotificationSettings, member.id)
    if settings is None:
        settings = NotificationSettings(user_id=member.id, watch_on_post=True)
        session.add(settings)
    settings.last_digest_at = now
    unsubscribe = _unsubscribe_url(member.id, preferences.DIGEST)
    items = [_item(n) for n in notifications[-MAX_DIGEST_ITEMS:]]
    body = render_template(
        "notifications/email/digest.txt",
        member=member,
        items=items,
        more=max(0, len(notifications) - MAX_DIGEST_ITEMS),
        unsubscribe_url=unsubscribe,
        settings_url=external_url("notifications.settings"),
        notifications_url=external_url("notifications.index"),
    )
    count = len(notifications)
    outbox.enqueue(
        session,
        member.email,
        f"Your Townhall digest: {count} new notification{'s' if count != 1 else ''}",
        body,
        kind="digest",
        headers=_unsubscribe_headers(unsubscribe),
    )
