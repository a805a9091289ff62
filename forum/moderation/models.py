"""Reports members file against posts, and the append-only log of moderator acts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from forum.accounts.models import User
from forum.boards.models import Post, Thread
from forum.database import UTCDateTime, utcnow
from forum.extensions import db


class ReportReason(enum.StrEnum):
    SPAM = "spam"
    HARASSMENT = "harassment"
    OFF_TOPIC = "off_topic"
    CIRCUMVENTION = "circumvention"
    OTHER = "other"

    @property
    def label(self) -> str:
        return REASON_LABELS[self]


REASON_LABELS = {
    ReportReason.SPAM: "Spam",
    ReportReason.HARASSMENT: "Harassment",
    ReportReason.OFF_TOPIC: "Off-topic",
    ReportReason.CIRCUMVENTION: "Circumvention (asked to take work or payment off the platform)",
    ReportReason.OTHER: "Other",
}


class ReportStatus(enum.StrEnum):
    OPEN = "open"
    ACTION_TAKEN = "action_taken"
    DISMISSED = "dismissed"


class Report(db.Model):
    """A member's report of a post; open until a moderator resolves it."""

    __tablename__ = "reports"
    __table_args__ = (
        # One open report per member per post; once resolved, the member may report again.
        sa.Index(
            "uq_reports_open_post_reporter",
            "post_id",
            "reporter_id",
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        ),  # fmt: skip
        # The queue: open reports grouped by post.
        sa.Index("ix_reports_status_post", "status", "post_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("posts.id"))
    reporter_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.String(20))
    note: Mapped[str] = mapped_column(sa.String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(sa.String(20), default=ReportStatus.OPEN.value)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolution_note: Mapped[str] = mapped_column(sa.String(500), default="")

    post: Mapped[Post] = relationship(foreign_keys=[post_id])
    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id])
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id])

    def __repr__(self) -> str:
        return f"<Report {self.id} post={self.post_id} {self.reason} {self.status}>"

    @property
    def reason_label(self) -> str:
        return ReportReason(self.reason).label


class Action(enum.StrEnum):
    REMOVE_POST = "remove_post"
    RESTORE_POST = "restore_post"
    REMOVE_THREAD = "remove_thread"
    RESTORE_THREAD = "restore_thread"
    EDIT_POST = "edit_post"
    LOCK_THREAD = "lock_thread"
    UNLOCK_THREAD = "unlock_thread"
    PIN_THREAD = "pin_thread"
    UNPIN_THREAD = "unpin_thread"
    MOVE_THREAD = "move_thread"
    SUSPEND = "suspend"
    BAN = "ban"
    LIFT = "lift"
    SET_ROLE = "set_role"
    RESOLVE_REPORTS = "resolve_reports"
    # Admin acts of the referral console (the referral pages record them here; the forum
    # only needs their names to show and filter the log).
    EDIT_PROGRAM = "edit_program"
    EDIT_TIER = "edit_tier"
    DEACTIVATE_PROGRAM = "deactivate_program"
    ACTIVATE_PROGRAM = "activate_program"
    EDIT_FEES = "edit_fees"
    REVIEW_REFERRAL = "review_referral"
    REVERSE_REWARD = "reverse_reward"
    CREATE_PAYOUT = "create_payout"
    PAY_PAYOUT = "pay_payout"
    DECIDE_AFFILIATE = "decide_affiliate"
    OVERRIDE_INVITATION = "override_invitation"
    CREATE_TOKEN = "create_token"  # noqa: S105 - an act, not a secret
    REVOKE_TOKEN = "revoke_token"  # noqa: S105 - an act, not a secret

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class AppendOnlyError(RuntimeError):
    """Raised on any attempt to change or delete a moderation log row."""


class ModerationAction(db.Model):
    """One moderator or admin act: who, what, to whom, why, when. Only ever added."""

    __tablename__ = "moderation_actions"
    __table_args__ = (
        sa.Index("ix_moderation_actions_actor", "actor_id", "id"),
        sa.Index("ix_moderation_actions_action", "action", "id"),
        sa.Index("ix_moderation_actions_target_user", "target_user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None for acts done from the command line, where no account is signed in.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(30))
    # The member affected: the author of a post or thread, the member sanctioned or promoted.
    target_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("posts.id"))
    thread_id: Mapped[int | None] = mapped_column(sa.ForeignKey("threads.id"))
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    # What the act changed ("moved from X to Y"), or why it changed nothing ("already removed").
    detail: Mapped[str] = mapped_column(sa.String(500), default="")
    changed: Mapped[bool] = mapped_column(default=True)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    target_user: Mapped[User | None] = relationship(foreign_keys=[target_user_id])
    post: Mapped[Post | None] = relationship(foreign_keys=[post_id])
    thread: Mapped[Thread | None] = relationship(foreign_keys=[thread_id])

    def __repr__(self) -> str:
        return f"<ModerationAction {self.id} {self.action} by={self.actor_id}>"

    @property
    def action_label(self) -> str:
        return Action(self.action).label


# The log is append-only in the application: the ORM refuses to change or delete a row,
# whether through a loaded object or a bulk statement. On PostgreSQL a trigger (migration
# 0002) refuses it for every client.
@event.listens_for(ModerationAction, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: ModerationAction) -> None:
    raise AppendOnlyError(f"moderation log rows cannot be changed ({target!r})")


@event.listens_for(ModerationAction, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, target: ModerationAction) -> None:
    raise AppendOnlyError(f"moderation log rows cannot be deleted ({target!r})")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state: Any) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if table is not None and getattr(table, "name", None) == ModerationAction.__tablename__:
        raise AppendOnlyError("moderation log rows cannot be changed or deleted")
