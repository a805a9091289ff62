"""The development mailbox: without SMTP_URL, emails are printed by ``flask outbox send`` and
can be read here, by admins only. With SMTP_URL set the page does not exist."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user

from forum.extensions import db, login_manager
from forum.outbox import OutboxEmail

bp = Blueprint("mailbox", __name__)
SHOWN = 100


@bp.get("/admin/mailbox")
def index() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403, "The mailbox is for admins.")
    if current_app.config.get("SMTP_URL"):
        abort(404)
    emails = db.session.scalars(
        sa.select(OutboxEmail).order_by(OutboxEmail.id.desc()).limit(SHOWN)
    ).all()
    return render_template("mailbox.html", emails=emails, shown=SHOWN)
