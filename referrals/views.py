"""The web side of referrals: following a link (``/r/<code>``), and noticing sign-ups and
sign-ins (through the forum's signals) to attribute referrals and remember addresses."""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    after_this_request,
    current_app,
    has_request_context,
    redirect,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.database import start_writing, utcnow
from forum.extensions import db
from referrals import addresses, attribution, following, messages

log = logging.getLogger(__name__)

bp = Blueprint("referrals", __name__)

# Browsers keep cookies at most 400 days; the program's own window is checked at sign-up.
COOKIE_MAX_AGE_SECONDS = 400 * 86400


def _address_hash() -> str:
    return addresses.address_hash(current_app.config["SECRET_KEY"], request.remote_addr)


@bp.get("/r/<code>")
def follow(code: str) -> Response:
    """Count the click, remember the attribution in a signed cookie, and go to the link's page;
    unknown or disabled codes go to the home page.

    Visitors without a session are answered before Flask by ``following.ClickLane``; this
    view serves signed-in members (whose address is remembered) and whatever the lane hands
    on. The work is ``following.follow_link``'s, for both.
    """
    start_writing(db.session)
    config = current_app.config
    answer = following.follow_link(
        db.session,
        config,
        code,
        request.remote_addr,
        request.user_agent.string,
        _visitor_id(),
        url_for("boards.index"),
    )
    response = redirect(answer.location)
    if answer.cookie is not None:
        response.set_cookie(
            attribution.COOKIE_NAME,
            answer.cookie,
            max_age=answer.cookie_max_age,
            **following.cookie_options(config),
        )
    # A cached redirect would skip the count (and hand out someone else's cookie).
    response.headers["Cache-Control"] = "no-store"
    return response


def _visitor_id() -> int | None:
    """Return the signed-in member following a link, without loading anyone for a visitor
    who has no session cookie (most of them)."""
    config = current_app.config
    names = (config["SESSION_COOKIE_NAME"], config.get("REMEMBER_COOKIE_NAME", "remember_token"))
    if not any(name in request.cookies for name in names):
        return None
    return current_user.id if current_user.is_authenticated else None


def on_member_signed_up(sender: Any, user: User, session: Session, **extra: Any) -> None:
    """Attribute the new member's sign-up to the link they followed, inside the sign-up's own
    transaction. A failure here is logged and never stops the sign-up."""
    if not has_request_context():
        return
    config = current_app.config
    now = utcnow()
    hashed = _address_hash()
    found = attribution.read_attribution(
        config["SECRET_KEY"], request.cookies.get(attribution.COOKIE_NAME), COOKIE_MAX_AGE_SECONDS
    )
    try:
        with session.begin_nested():
            addresses.remember_address(session, user.id, hashed, now)
            if found is not None:
                referral = attribution.attribute_sign_up(
                    session, user, found, hashed, now, config["REFERRALS_SELF_ADDRESS_DAYS"]
                )
                if referral is not None:
                    messages.referral_signed_up(
                        session, referral.referrer_id, referral.id, user.username
                    )
    except SQLAlchemyError:
        log.exception("could not attribute the sign-up of member %s", user.id)
    if found is not None:

        @after_this_request
        def _forget(response: Response) -> Response:
            response.delete_cookie(attribution.COOKIE_NAME)
            return response


def on_signed_in(sender: Any, user: User, **extra: Any) -> None:
    """Remember the address a member signs in from: a referral from the same address soon
    after is flagged as possible self-referral."""
    if not has_request_context():
        return
    try:
        addresses.remember_address(db.session, user.id, _address_hash(), utcnow())
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not remember the address of member %s", user.id)
