"""What admins do in the referral console, recorded in the forum's moderation log.

Every admin act of the console calls ``record`` once, in the act's own transaction, so the
log row exists exactly when the act was committed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.moderation import log
from forum.moderation.models import Action, ModerationAction

# The console's acts, as the moderation log names them.
AdminAct = Action


def record(
    session: Session,
    admin: User | None,
    act: Action,
    *,
    reason: str = "",
    detail: str = "",
    target_user_id: int | None = None,
) -> ModerationAction:
    """Append the act to the moderation log (flushed with the act, committed by the view or
    command) and return the log row. ``admin`` is None for commands run without naming one."""
    return log.record(
        session, admin, act, reason=reason, detail=detail, target_user_id=target_user_id
    )
