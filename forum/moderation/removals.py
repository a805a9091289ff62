"""Removing and restoring posts and threads, keeping every byte of what was removed.

A removed post keeps its body, number and revisions; members see a tombstone in its place.
Removing a thread's first post removes the thread with it. Both leave members' counters and
"last activity" and come back with everything on restore.

Concurrency: the post row is locked first, then its thread, so two moderators acting on the
same post run one after the other; the second finds the post already removed (or restored)
and its act is logged as changing nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.boards.models import Post, Thread
from forum.database import utcnow
from forum.moderation import counters, reports
from forum.moderation.log import Outcome, clean_reason, record
from forum.moderation.models import Action
from forum.permissions import NotFound, ensure_moderator
from forum.templating import format_datetime


def _lock_post(session: Session, post_id: int) -> Post:
    post = session.scalar(
        sa.select(Post)
        .where(Post.id == post_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if post is None:
        raise NotFound(post_id)
    return post


def remove_post(session: Session, moderator: User, post_id: int, reason: str) -> Outcome:
    """Remove a post (and its thread when it is the first post); return the outcome.

    Open reports on the post are closed as "action taken". Raises PermissionDenied for
    non-moderators, ModerationError without a reason, NotFound for an unknown post.
    """
    ensure_moderator(moderator)
    reason = clean_reason(reason)
    post = _lock_post(session, post_id)
    action = Action.REMOVE_THREAD if post.is_first else Action.REMOVE_POST
    if post.is_removed:
        by_whom = f"by {_name(session, post.removed_by_id)} at {format_datetime(post.removed_at)}"
        entry = record(
            session, moderator, action, reason=reason, changed=False, post=post,
            target_user_id=post.author_id, detail=f"no change: already removed {by_whom}",
        )  # fmt: skip
        return Outcome(False, f"This post was already removed {by_whom}.", entry)

    thread = counters.lock_thread(session, post.thread_id)
    assert thread is not None
    if post.is_first:
        # Count before marking: the first post is still counted everywhere.
        visible = counters.visible_posts_by_author(session, thread.id)
        _mark_removed(post, moderator, reason)
        thread.removed_at = post.removed_at
        session.flush()
        if visible:
            counters.change_author_counts(session, visible, -1)
        counters.change_board_counts(
            session, thread.board_id, threads=-1, posts=-sum(n for _, n in visible)
        )
        counters.refresh_board_activity(session, thread.board_id)
        message = "The thread was removed. Members see a tombstone; you can restore it."
    else:
        _mark_removed(post, moderator, reason)
        session.flush()
        _change_reply(session, thread, post, -1)
        message = "The post was removed. Members see a tombstone; you can restore it."
    reports.close_for_removed_post(session, moderator, post, reason)
    entry = record(
        session, moderator, action, reason=reason, post=post, target_user_id=post.author_id,
        detail=f"post #{post.number} in “{thread.title}”",
    )  # fmt: skip
    return Outcome(True, message, entry)


def restore_post(session: Session, moderator: User, post_id: int, reason: str = "") -> Outcome:
    """Restore a removed post (and its thread when it is the first post); return the outcome.

    Raises PermissionDenied for non-moderators, NotFound for an unknown post.
    """
    ensure_moderator(moderator)
    reason = clean_reason(reason, required=False)
    post = _lock_post(session, post_id)
    action = Action.RESTORE_THREAD if post.is_first else Action.RESTORE_POST
    if not post.is_removed:
        entry = record(
            session, moderator, action, reason=reason, changed=False, post=post,
            target_user_id=post.author_id, detail="no change: the post is not removed",
        )  # fmt: skip
        return Outcome(False, "This post is not removed (another moderator restored it).", entry)

    thread = counters.lock_thread(session, post.thread_id)
    assert thread is not None
    was = f"removed by {_name(session, post.removed_by_id)}: {post.removal_reason or ''}"
    post.removed_at = post.removed_by_id = post.removal_reason = None
    if post.is_first:
        thread.removed_at = None
        session.flush()
        visible = counters.visible_posts_by_author(session, thread.id)
        counters.change_author_counts(session, visible, +1)
        counters.change_board_counts(
            session, thread.board_id, threads=+1, posts=sum(n for _, n in visible)
        )
        counters.refresh_board_activity(session, thread.board_id)
        message = "The thread is restored."
    else:
        session.flush()
        _change_reply(session, thread, post, +1)
        message = "The post is restored."
    entry = record(
        session, moderator, action, reason=reason, post=post, target_user_id=post.author_id,
        detail=f"was {was}"[:500],
    )  # fmt: skip
    return Outcome(True, message, entry)


def _mark_removed(post: Post, moderator: User, reason: str) -> None:
    post.removed_at = utcnow()
    post.removed_by_id = moderator.id
    post.removal_reason = reason


def _change_reply(session: Session, thread: Thread, post: Post, sign: int) -> None:
    """Count a reply out of (sign=-1) or back into (sign=+1) what members see."""
    session.execute(
        sa.update(Thread)
        .where(Thread.id == thread.id)
        .values(reply_count=Thread.reply_count + sign)
    )
    counters.refresh_thread_activity(session, thread)
    if thread.removed_at is None:
        # A removed thread's posts are already out of the author's and the board's counts.
        counters.change_author_counts(session, [(post.author_id, 1)], sign)
        counters.change_board_counts(session, thread.board_id, threads=0, posts=sign)
        counters.refresh_board_activity(session, thread.board_id)


def _name(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.username if user else "a moderator"
