"""Moderating threads: locking, pinning and moving them between boards.

Locking and pinning are single conditional UPDATEs, so of two moderators acting at once the
second changes nothing, and its act is logged as such. Moving locks the thread row first.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.boards.models import Board, Thread
from forum.moderation import counters
from forum.moderation.errors import ModerationError
from forum.moderation.log import Outcome, clean_reason, record
from forum.moderation.models import Action
from forum.permissions import NotFound, ensure_moderator

_FLAGS = {
    # action: (column, value, done message, no-change message)
    Action.LOCK_THREAD: ("locked", True, "The thread is locked.", "already locked"),
    Action.UNLOCK_THREAD: ("locked", False, "The thread is unlocked.", "not locked"),
    Action.PIN_THREAD: ("pinned", True, "The thread is pinned.", "already pinned"),
    Action.UNPIN_THREAD: ("pinned", False, "The thread is unpinned.", "not pinned"),
}


def set_flag(
    session: Session, moderator: User, thread_id: int, action: Action, reason: str = ""
) -> Outcome:
    """Lock, unlock, pin or unpin a thread (``action`` says which); return the outcome.

    Raises PermissionDenied for non-moderators, NotFound for an unknown thread.
    """
    ensure_moderator(moderator)
    column_name, value, done, unchanged = _FLAGS[action]
    reason = clean_reason(reason, required=False)
    column = getattr(Thread, column_name)
    changed = session.execute(
        sa.update(Thread)
        .where(Thread.id == thread_id, column != value)
        .values({column_name: value})
        .execution_options(synchronize_session=False)
    ).rowcount
    thread = session.get(Thread, thread_id, populate_existing=True)
    if thread is None:
        raise NotFound(thread_id)
    if not changed:
        entry = record(
            session, moderator, action, reason=reason, changed=False, thread_id=thread.id,
            target_user_id=thread.author_id, detail=f"no change: {unchanged}",
        )  # fmt: skip
        return Outcome(False, f"The thread was {unchanged}.", entry)
    entry = record(
        session, moderator, action, reason=reason, thread_id=thread.id,
        target_user_id=thread.author_id, detail=f"“{thread.title}”",
    )  # fmt: skip
    return Outcome(True, done, entry)


def move(session: Session, moderator: User, thread_id: int, board_id: int, reason: str) -> Outcome:
    """Move a thread to another board, carrying its counts; return the outcome.

    Raises PermissionDenied for non-moderators, ModerationError for an unknown board or a
    missing reason, NotFound for an unknown thread.
    """
    ensure_moderator(moderator)
    reason = clean_reason(reason)
    target = session.get(Board, board_id)
    if target is None:
        raise ModerationError("board", "Choose a board from the list.")
    thread = counters.lock_thread(session, thread_id)
    if thread is None:
        raise NotFound(thread_id)
    source = session.get(Board, thread.board_id)
    assert source is not None
    if source.id == target.id:
        entry = record(
            session, moderator, Action.MOVE_THREAD, reason=reason, changed=False,
            thread_id=thread.id, target_user_id=thread.author_id,
            detail=f"no change: already in {target.name}",
        )  # fmt: skip
        return Outcome(False, f"The thread is already in {target.name}.", entry)
    thread.board_id = target.id
    session.flush()
    if thread.removed_at is None:
        posts = sum(n for _, n in counters.visible_posts_by_author(session, thread.id))
        # Boards in id order, the order every writer locks them in.
        for board_id_, sign in sorted([(source.id, -1), (target.id, +1)]):
            counters.change_board_counts(session, board_id_, threads=sign, posts=sign * posts)
        for board_id_ in sorted([source.id, target.id]):
            counters.refresh_board_activity(session, board_id_)
    entry = record(
        session, moderator, Action.MOVE_THREAD, reason=reason, thread_id=thread.id,
        target_user_id=thread.author_id, detail=f"from {source.name} to {target.name}",
    )  # fmt: skip
    return Outcome(True, f"The thread is now in {target.name}.", entry)
