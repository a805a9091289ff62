"""Notifications: members hear of replies, quotes, mentions, solutions, kudos, removals and
referral events, on the site (the bell) and by email (right away or in a daily digest).

Other parts create notifications with ``notify`` (see forum.notifications.fanout); the
referral engine uses the kinds "referral_signed_up" and "reward_approved".
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from flask_login import current_user
from sqlalchemy.orm import Session

# Only the leaf module here: forum.watching imports the models, and the fan-out imports
# forum.watching, so the package itself must not import the fan-out when it loads.
from forum.notifications.models import NotificationKind

__all__ = ["NotificationKind", "init_app", "notify"]


def notify(
    session: Session, recipient_id: int, kind: NotificationKind | str, **details: Any
) -> bool:
    """Notify one member; see forum.notifications.fanout.notify for the details accepted.

    Returns whether a notification was created (False for a repeated ``dedupe_key`` or the
    member's own act). Raises ValueError for an unknown kind or an off-site link.
    """
    from forum.notifications import fanout

    return fanout.notify(session, recipient_id, kind, **details)


def _on_post_removed(sender: Any, **kwargs: Any) -> None:
    from forum.notifications.fanout import post_removed

    post_removed(kwargs["session"], kwargs["post"], kwargs.get("moderator"), kwargs.get("reason"))


def unread_count() -> int:
    """Return the signed-in member's unread notification count, one query per request."""
    if not current_user.is_authenticated:
        return 0
    if "unread_notifications" not in g:
        from forum.extensions import db
        from forum.notifications.inbox import unread_count as count

        g.unread_notifications = count(db.session, current_user)
    return g.unread_notifications


def remember_unread_count(count: int | None) -> None:
    """Keep the bell's count a page read with its own query (None: not read), so that the
    header does not count again."""
    if count is not None:
        g.unread_notifications = count


def init_app(app: Flask) -> None:
    from forum.notifications import views
    from forum.signals import post_removed

    post_removed.connect(_on_post_removed)
    app.jinja_env.globals["unread_notification_count"] = unread_count
    app.register_blueprint(views.bp)
