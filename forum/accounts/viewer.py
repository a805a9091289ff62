"""The request's signed-in member: Flask-Login's loader, and pages that load them themselves.

Flask-Login loads the member of the session cookie with a query of its own, the first thing
a member's page sent the database. The busiest pages (thread and board pages) instead load
them with their own first query (``forum.accounts.sessions.live_member``), for the session
id the cookie claims, and hand them over with ``accept``: Flask-Login then decides exactly
as before (session protection, the remember-me cookie), and its loader takes the member the
page found instead of querying for that same session id. The checks are the loader's own
(``sessions.accept``: a revoked session, a stale generation or a ban ends the session).
"""

from __future__ import annotations

from flask import g, has_request_context, session
from flask_login import current_user

from forum.accounts import sessions
from forum.accounts.models import User
from forum.extensions import db

# The key under which Flask-Login keeps the signed-in session's id in the Flask session.
_SESSION_KEY = "_user_id"
_FOUND = "townhall_claimed_member"


def claim() -> sessions.Claim | None:
    """Return what this request's session claims (the id Flask-Login loads first), or None
    when it claims no signed-in session."""
    return sessions.claim_of(session.get(_SESSION_KEY))


def accept(claimed: sessions.Claim, member: User | None) -> User | None:
    """Return the request's signed-in member (None for a guest), given ``member``: the member
    of the claimed session that a page's own query found (None: no live session)."""
    setattr(g, _FOUND, (claimed, member))
    try:
        user = current_user._get_current_object()  # type: ignore[attr-defined]
    finally:
        g.pop(_FOUND, None)
    return user if user.is_authenticated else None


def load(session_id: str) -> User | None:
    """Flask-Login's user loader: the member of a live session id, or None."""
    found = g.pop(_FOUND, None) if has_request_context() else None
    if found is not None and found[0].session_id == session_id:
        return sessions.accept(*found)
    return sessions.load(db.session, session_id)
