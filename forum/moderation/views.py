"""Pages for reporting posts, the moderators' tools, and the admins' role management.

Moderator pages live under /moderation/, admin pages under /admin/; every one checks the
role on the server. Views read input, call the services, turn their errors into form
messages (422) or statuses (403, 404), and own the commit.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from forum import ratelimits
from forum.accounts.models import User
from forum.boards import reading
from forum.boards.models import Post
from forum.boards.views import post_url
from forum.database import utcnow
from forum.extensions import db
from forum.forms import ActionForm, add_field_error, choices
from forum.guards import admin_required, moderator_required
from forum.moderation import log, removals, reports, roles, sanctions, threads
from forum.moderation.errors import ModerationError
from forum.moderation.forms import (
    BanForm,
    LiftForm,
    LogFilterForm,
    MoveForm,
    RemoveForm,
    ReportForm,
    ResolveForm,
    RoleForm,
    SuspendForm,
)
from forum.moderation.models import Action, ReportReason
from forum.permissions import NotFound, PermissionDenied, ensure_can_report
from forum.redirects import safe_local_path
from forum.requests import positive_int
from forum.signals import post_removed

bp = Blueprint("moderation", __name__)

QUEUE_PER_PAGE = 20
LOG_PER_PAGE = 50
MEMBER_HISTORY = 20
# What the queue suggests as the removal reason members will read, by top report reason.
SUGGESTED_REASONS = {
    ReportReason.SPAM: "Spam",
    ReportReason.HARASSMENT: "Harassment",
    ReportReason.OFF_TOPIC: "Off-topic",
    ReportReason.CIRCUMVENTION: "Asking to take work or payment off the platform",
    ReportReason.OTHER: "Violation of the Community Guidelines",
}
FLAG_ACTIONS = {
    "lock": Action.LOCK_THREAD,
    "unlock": Action.UNLOCK_THREAD,
    "pin": Action.PIN_THREAD,
    "unpin": Action.UNPIN_THREAD,
}
# Forms repeated on one page carry a prefix, which would also rename their CSRF field;
# CSRFProtect already checks the token of every POST, so those forms skip their own check.
NO_FORM_CSRF = {"csrf": False}


def _post_or_404(post_id: int) -> Post:
    try:
        return reading.get_post(db.session, current_user, post_id)
    except NotFound:
        abort(404)


def _member_or_404(username: str) -> User:
    try:
        return reading.member_by_name(db.session, username)
    except NotFound:
        abort(404, "No such member.")


def _page_arg() -> int:
    page = positive_int(request.args.get("page", "1"), 1_000_000)
    if page is None:
        abort(404)
    return page


def _next_or(default: str) -> str:
    return safe_local_path(request.values.get("next"), default)


def _announce_removal(outcome: log.Outcome, post: Post) -> None:
    # Listeners (referrals) act in the same transaction, before the view commits.
    if outcome.changed:
        post_removed.send(
            current_app._get_current_object(), post=post,
            moderator=current_user._get_current_object(),
            reason=post.removal_reason, session=db.session,
        )  # fmt: skip


def _flash(outcome: log.Outcome) -> None:
    flash(outcome.message, "success" if outcome.changed else "info")


# --- members report posts ----------------------------------------------------------------


@bp.route("/posts/<int:post_id>/report", methods=["GET", "POST"])
@login_required
@ratelimits.reporting
def report(post_id: int):  # noqa: ANN201
    post = _post_or_404(post_id)
    try:
        ensure_can_report(current_user, post)
    except PermissionDenied as denied:
        abort(403, str(denied))
    existing = reports.open_report_by(db.session, current_user, post)
    form = ReportForm()
    if form.validate_on_submit():
        try:
            reports.file_report(
                db.session, current_user, post, form.reason.data or "", form.note.data or ""
            )
        except ModerationError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        except PermissionDenied as denied:
            db.session.rollback()
            abort(403, str(denied))
        else:
            db.session.commit()
            flash("Thank you for your report. A moderator will review it.", "success")
            return redirect(post_url(post))
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "moderation/report.html", post=post, form=form, existing=existing
    ), status


# --- the report queue --------------------------------------------------------------------


def _queue_forms(group: reports.ReportGroup) -> dict[str, Any]:
    post_id = group.post.id
    return {
        "resolve": ResolveForm(
            formdata=None, prefix=f"r{post_id}", meta=NO_FORM_CSRF, up_to=group.last_report_id
        ),
        "remove": RemoveForm(
            formdata=None,
            prefix=f"x{post_id}",
            meta=NO_FORM_CSRF,
            reason=SUGGESTED_REASONS[group.top_reason],
        ),  # fmt: skip
    }


def _render_queue(failed: tuple[int, str, Any] | None = None, status: int = 200):  # noqa: ANN202
    page = reports.queue(db.session, _page_arg(), QUEUE_PER_PAGE)
    if page.number > page.pages:
        abort(404)
    forms = {group.post.id: _queue_forms(group) for group in page.items}
    if failed is not None:
        post_id, kind, form = failed
        forms.setdefault(post_id, {})[kind] = form
    return render_template(
        "moderation/queue.html", page=page, forms=forms, post_url=post_url
    ), status


@bp.get("/moderation/")
@moderator_required
def queue():  # noqa: ANN201
    return _render_queue()


@bp.post("/moderation/reports/<int:post_id>/resolve")
@moderator_required
def resolve(post_id: int):  # noqa: ANN201
    form = ResolveForm(prefix=f"r{post_id}", meta=NO_FORM_CSRF)
    up_to = form.up_to.data or ""
    try:
        outcome = reports.resolve(
            db.session, current_user, post_id, form.resolution.data or "", form.note.data or "",
            up_to_report_id=positive_int(up_to) or 0,
        )  # fmt: skip
    except ModerationError as error:
        db.session.rollback()
        add_field_error(form, error.field, error.message)
        return _render_queue((post_id, "resolve", form), 422)
    except NotFound:
        abort(404)
    db.session.commit()
    _flash(outcome)
    return redirect(url_for("moderation.queue"))


@bp.post("/moderation/reports/<int:post_id>/remove")
@moderator_required
def remove_reported(post_id: int):  # noqa: ANN201
    form = RemoveForm(prefix=f"x{post_id}", meta=NO_FORM_CSRF)
    post = _post_or_404(post_id)
    try:
        outcome = removals.remove_post(db.session, current_user, post.id, form.reason.data or "")
    except ModerationError as error:
        db.session.rollback()
        add_field_error(form, error.field, error.message)
        return _render_queue((post_id, "remove", form), 422)
    _announce_removal(outcome, post)
    db.session.commit()
    _flash(outcome)
    return redirect(url_for("moderation.queue"))


# --- posts -------------------------------------------------------------------------------


@bp.route("/moderation/posts/<int:post_id>/remove", methods=["GET", "POST"])
@moderator_required
def remove_post(post_id: int):  # noqa: ANN201
    post = _post_or_404(post_id)
    form = RemoveForm()
    if form.validate_on_submit():
        try:
            outcome = removals.remove_post(
                db.session, current_user, post.id, form.reason.data or ""
            )
        except ModerationError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        else:
            _announce_removal(outcome, post)
            db.session.commit()
            _flash(outcome)
            return redirect(post_url(post))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("moderation/remove_post.html", post=post, form=form), status


@bp.post("/moderation/posts/<int:post_id>/restore")
@moderator_required
def restore_post(post_id: int):  # noqa: ANN201
    post = _post_or_404(post_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    outcome = removals.restore_post(
        db.session, current_user, post.id, request.form.get("reason", "")
    )
    db.session.commit()
    _flash(outcome)
    return redirect(post_url(post))


# --- threads -----------------------------------------------------------------------------


@bp.post("/moderation/threads/<int:thread_id>/<any(lock, unlock, pin, unpin):flag>")
@moderator_required
def thread_flag(thread_id: int, flag: str):  # noqa: ANN201
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        outcome = threads.set_flag(
            db.session, current_user, thread_id, FLAG_ACTIONS[flag], request.form.get("reason", "")
        )
    except NotFound:
        abort(404)
    db.session.commit()
    _flash(outcome)
    return redirect(_next_or(url_for("boards.thread", thread_id=thread_id)))


@bp.route("/moderation/threads/<int:thread_id>/move", methods=["GET", "POST"])
@moderator_required
def move_thread(thread_id: int):  # noqa: ANN201
    try:
        thread = reading.get_thread(db.session, current_user, thread_id)
    except NotFound:
        abort(404)
    form = MoveForm()
    form.board.choices = choices(
        (board.id, board.name + (" (moderators only)" if board.moderators_only else ""))
        for board in reading.visible_boards(db.session, current_user)
        if board.id != thread.board_id
    )
    if form.validate_on_submit():
        try:
            outcome = threads.move(
                db.session, current_user, thread.id, form.board.data or 0, form.reason.data or ""
            )
        except ModerationError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        else:
            db.session.commit()
            _flash(outcome)
            return redirect(url_for("boards.thread", thread_id=thread.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("moderation/move_thread.html", thread=thread, form=form), status


# --- members -----------------------------------------------------------------------------

SANCTION_FORMS = {"suspend": SuspendForm, "ban": BanForm, "lift": LiftForm}


def _render_member(member: User, failed: tuple[str, Any] | None = None, status: int = 200):  # noqa: ANN202
    forms = {
        name: cls(formdata=None, prefix=name, meta=NO_FORM_CSRF)
        for name, cls in SANCTION_FORMS.items()
    }
    # A week from now, on the hour, as a starting point for the suspension's end.
    week = (utcnow() + timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    forms["suspend"].until.data = week.replace(tzinfo=None)
    if failed is not None:
        forms[failed[0]] = failed[1]
    history = log.browse(db.session, log.LogFilter(member=member.username), 1, MEMBER_HISTORY)
    can_sanction = not member.is_moderator and member.id != current_user.id
    return render_template(
        "moderation/member.html", member=member, forms=forms, history=history,
        standing=sanctions.standing(member), can_sanction=can_sanction,
    ), status  # fmt: skip


@bp.get("/moderation/members/<username>")
@moderator_required
def member(username: str):  # noqa: ANN201
    return _render_member(_member_or_404(username))


@bp.post("/moderation/members/<username>/<any(suspend, ban, lift):act>")
@moderator_required
def sanction(username: str, act: str):  # noqa: ANN201
    member = _member_or_404(username)
    form = SANCTION_FORMS[act](prefix=act, meta=NO_FORM_CSRF)
    # Only the suspension's date can fail to parse; the services check everything else.
    unreadable_date = not form.validate()
    try:
        if act == "suspend":
            if unreadable_date:
                form.until.errors = []
                raise ModerationError("until", "Enter a date and time, such as 2026-12-24 18:00.")
            until = form.until.data.replace(tzinfo=UTC) if form.until.data else None
            outcome = sanctions.suspend(
                db.session, current_user, member.id, until, form.reason.data or ""
            )
        elif act == "ban":
            outcome = sanctions.ban(db.session, current_user, member.id, form.reason.data or "")
        else:
            outcome = sanctions.lift(db.session, current_user, member.id, form.reason.data or "")
    except ModerationError as error:
        db.session.rollback()
        add_field_error(form, error.field, error.message)
        return _render_member(member, (act, form), 422)
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, str(denied))
    db.session.commit()
    _flash(outcome)
    return redirect(url_for("moderation.member", username=member.username))


# --- the moderation log ------------------------------------------------------------------


@bp.get("/moderation/log")
@moderator_required
def action_log():  # noqa: ANN201
    form = LogFilterForm(request.args)
    filters = log.LogFilter(
        actor=(form.actor.data or "").strip(),
        action=form.action.data or "",
        member=(form.member.data or "").strip(),
    )
    try:
        page = log.browse(db.session, filters, _page_arg(), LOG_PER_PAGE)
    except ModerationError as error:
        add_field_error(form, error.field, error.message)
        page = reading.Page([], 1, LOG_PER_PAGE, 0)
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "moderation/log.html", page=page, form=form, filters=filters, post_url=post_url
    ), status


# --- admins: roles -----------------------------------------------------------------------


@bp.route("/admin/roles", methods=["GET", "POST"])
@admin_required
def manage_roles():  # noqa: ANN201
    form = RoleForm()
    if form.validate_on_submit():
        name = (form.username.data or "").strip()
        try:
            target = reading.member_by_name(db.session, name)
            outcome = roles.set_role(
                db.session, current_user, target.id, form.role.data or "", form.reason.data or ""
            )
        except NotFound:
            add_field_error(form, "username", f"No member is called “{name}”.")
        except ModerationError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        except PermissionDenied as denied:
            db.session.rollback()
            add_field_error(form, "username", str(denied))
        else:
            db.session.commit()
            _flash(outcome)
            return redirect(url_for("moderation.manage_roles"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "moderation/roles.html", form=form, staff=roles.staff(db.session)
    ), status
