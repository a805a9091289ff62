"""Reports: members flag posts, moderators work the queue of open reports by post."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from forum.accounts.models import User
from forum.boards.models import Post, Thread
from forum.boards.reading import Page
from forum.database import utcnow
from forum.moderation.errors import ModerationError
from forum.moderation.log import Outcome, clean_reason, record
from forum.moderation.models import Action, Report, ReportReason, ReportStatus
from forum.permissions import NotFound, ensure_can_report, ensure_moderator

MAX_NOTE_CHARS = 1000
RESOLUTIONS = {
    ReportStatus.ACTION_TAKEN.value: "action taken",
    ReportStatus.DISMISSED.value: "dismissed",
}


def file_report(session: Session, reporter: User, post: Post, reason: str, note: str) -> Report:
    """Record the member's report of a post and return it (flushed, not committed).

    Raises PermissionDenied for one's own or a removed post or a sanctioned reporter, and
    ModerationError for an unknown reason, a missing note with "other", or a second open
    report by the same member on the same post.
    """
    ensure_can_report(reporter, post)
    try:
        kind = ReportReason(reason)
    except ValueError:
        raise ModerationError("reason", "Choose what is wrong with this post.") from None
    note = (note or "").replace("\r\n", "\n").strip()
    if kind is ReportReason.OTHER and not note:
        raise ModerationError("note", "Tell the moderators what is wrong: a note is required.")
    if len(note) > MAX_NOTE_CHARS:
        raise ModerationError("note", f"Keep the note under {MAX_NOTE_CHARS:,} characters.")
    # The partial unique index decides, so two reports sent at once still make one.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    report_id = session.execute(
        insert(Report)
        .values(
            post_id=post.id,
            reporter_id=reporter.id,
            reason=kind.value,
            note=note,
            created_at=utcnow(),
            status=ReportStatus.OPEN.value,
            resolution_note="",
        )  # fmt: skip
        .on_conflict_do_nothing()
        .returning(Report.id)
    ).scalar_one_or_none()
    if report_id is None:
        raise ModerationError(
            "reason", "You have already reported this post. A moderator will look at it."
        )
    report = session.get(Report, report_id)
    assert report is not None
    return report


def open_report_by(session: Session, reporter: User, post: Post) -> Report | None:
    """Return the member's open report of this post, if any."""
    return session.scalar(
        sa.select(Report).where(
            Report.post_id == post.id,
            Report.reporter_id == reporter.id,
            Report.status == ReportStatus.OPEN.value,
        )
    )


@dataclass(frozen=True)
class ReportGroup:
    """The open reports of one post, as the queue shows them."""

    post: Post
    reports: list[Report]
    first_reported_at: datetime
    last_report_id: int

    @property
    def count(self) -> int:
        return len(self.reports)

    @property
    def reasons(self) -> list[tuple[str, int]]:
        """Return (reason label, how many reports give it), most frequent first."""
        counts = Counter(ReportReason(r.reason) for r in self.reports)
        return [(reason.label, n) for reason, n in counts.most_common()]

    @property
    def top_reason(self) -> ReportReason:
        return Counter(ReportReason(r.reason) for r in self.reports).most_common(1)[0][0]


def queue(session: Session, page: int, per_page: int) -> Page[ReportGroup]:
    """Return one page of open reports grouped by post, the longest-waiting post first.

    Three queries whatever the page size: the groups, their posts, their reports.
    """
    is_open = Report.status == ReportStatus.OPEN.value
    total = session.scalar(sa.select(sa.func.count(sa.distinct(Report.post_id))).where(is_open))
    first_at = sa.func.min(Report.created_at)
    groups = session.execute(
        sa.select(Report.post_id, first_at, sa.func.max(Report.id))
        .where(is_open)
        .group_by(Report.post_id)
        .order_by(first_at, Report.post_id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    post_ids = [post_id for post_id, _, _ in groups]
    posts = {
        post.id: post
        for post in session.scalars(
            sa.select(Post)
            .where(Post.id.in_(post_ids))
            .options(joinedload(Post.author), joinedload(Post.thread).joinedload(Thread.board))
        )
    }
    by_post: dict[int, list[Report]] = {post_id: [] for post_id in post_ids}
    for report in session.scalars(
        sa.select(Report)
        .where(Report.post_id.in_(post_ids), is_open)
        .options(joinedload(Report.reporter))
        .order_by(Report.id)
    ):
        by_post[report.post_id].append(report)
    items = [
        ReportGroup(posts[post_id], by_post[post_id], first, last_id)
        for post_id, first, last_id in groups
        if by_post[post_id]
    ]
    return Page(items, page, per_page, total or 0)


def resolve(
    session: Session,
    moderator: User,
    post_id: int,
    resolution: str,
    note: str,
    up_to_report_id: int,
) -> Outcome:
    """Close the post's open reports up to ``up_to_report_id`` (the ones the moderator saw).

    Reports filed after the moderator looked stay open. Returns the outcome, which changes
    nothing when another moderator resolved them first. Raises PermissionDenied for
    non-moderators, ModerationError for an unknown resolution or a missing note, NotFound
    for an unknown post.
    """
    ensure_moderator(moderator)
    if resolution not in RESOLUTIONS:
        raise ModerationError("resolution", "Choose “action taken” or “dismissed”.")
    note = clean_reason(note, field="note")
    post = session.get(Post, post_id)
    if post is None:
        raise NotFound(post_id)
    closed = _close(session, moderator, post.id, resolution, note, up_to_report_id)
    label = RESOLUTIONS[resolution]
    if not closed:
        entry = record(
            session, moderator, Action.RESOLVE_REPORTS, reason=note, changed=False, post=post,
            target_user_id=post.author_id,
            detail=f"no change: no open reports left (another moderator resolved them); {label}",
        )  # fmt: skip
        return Outcome(False, "These reports were already resolved by another moderator.", entry)
    entry = record(
        session, moderator, Action.RESOLVE_REPORTS, reason=note, post=post,
        target_user_id=post.author_id, detail=f"{_reports(closed)} {label}",
    )  # fmt: skip
    return Outcome(True, f"{_reports(closed).capitalize()} {label}.", entry)


def close_for_removed_post(session: Session, moderator: User, post: Post, reason: str) -> int:
    """Close every open report of a post a moderator just removed, as "action taken".

    Logs the resolution when there was anything to close; returns how many were closed.
    """
    closed = _close(
        session, moderator, post.id, ReportStatus.ACTION_TAKEN.value, f"Post removed: {reason}",
        up_to_report_id=None,
    )  # fmt: skip
    if closed:
        record(
            session, moderator, Action.RESOLVE_REPORTS, reason=f"Post removed: {reason}",
            post=post, target_user_id=post.author_id, detail=f"{_reports(closed)} action taken",
        )  # fmt: skip
    return closed


def _close(
    session: Session,
    moderator: User,
    post_id: int,
    resolution: str,
    note: str,
    up_to_report_id: int | None,
) -> int:
    # One conditional UPDATE: of two moderators resolving at once, the second finds the
    # reports no longer open and closes none.
    where = [Report.post_id == post_id, Report.status == ReportStatus.OPEN.value]
    if up_to_report_id is not None:
        where.append(Report.id <= up_to_report_id)
    closed = session.execute(
        sa.update(Report)
        .where(*where)
        .values(
            status=resolution,
            resolved_at=utcnow(),
            resolved_by_id=moderator.id,
            resolution_note=note[:500],
        )  # fmt: skip
        .returning(Report.id)
        .execution_options(synchronize_session=False)
    ).all()
    return len(closed)


def _reports(n: int) -> str:
    return f"{n} report{'s' if n != 1 else ''}"
