"""Pages for notifications: the list, following and marking read, settings, unsubscribing,
and the watch / stop watching buttons of threads and boards."""

from __future__ import annotations

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

from forum import watching
from forum.accounts.models import User
from forum.boards import reading
from forum.extensions import csrf, db
from forum.forms import ActionForm
from forum.notifications import inbox, preferences
from forum.notifications.forms import SettingsForm, field_name
from forum.notifications.models import EmailMode, NotificationKind
from forum.permissions import NotFound
from forum.redirects import safe_local_path
from forum.requests import positive_int

bp = Blueprint("notifications", __name__)

PER_PAGE = 30


def _page_arg() -> int:
    page = positive_int(request.args.get("page", "1"), 100_000)
    if page is None:
        abort(404)
    return page


@bp.get("/notifications")
@login_required
def index():  # noqa: ANN201
    page = inbox.notifications_page(db.session, current_user, _page_arg(), PER_PAGE)
    if page.number > page.pages:
        abort(404)
    return render_template(
        "notifications/index.html", page=page, describe=inbox.describe, action_form=ActionForm()
    )


@bp.get("/notifications/<int:notification_id>")
@login_required
def follow(notification_id: int):  # noqa: ANN201
    """Mark the notification read and go to what it is about."""
    notification = inbox.get_own(db.session, current_user, notification_id)
    if notification is None:
        abort(404)
    inbox.mark_read(db.session, current_user, [notification.id])
    if notification.post_id is not None:
        target = url_for("boards.permalink", post_id=notification.post_id)
    elif notification.link:
        target = safe_local_path(notification.link, url_for("notifications.index"))
    else:
        target = url_for("notifications.index")
    db.session.commit()
    return redirect(target)


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def mark_read(notification_id: int):  # noqa: ANN201
    if not ActionForm().validate_on_submit():
        abort(400)
    inbox.mark_read(db.session, current_user, [notification_id])
    db.session.commit()
    return redirect(safe_local_path(request.form.get("next"), url_for("notifications.index")))


@bp.post("/notifications/read-all")
@login_required
def mark_all_read():  # noqa: ANN201
    if not ActionForm().validate_on_submit():
        abort(400)
    inbox.mark_all_read(db.session, current_user)
    db.session.commit()
    flash("All notifications are marked as read.", "success")
    return redirect(url_for("notifications.index"))


@bp.route("/settings/notifications", methods=["GET", "POST"])
@login_required
def settings():  # noqa: ANN201
    current = preferences.get_preferences(db.session, current_user)
    form = SettingsForm()
    if request.method == "GET":
        form.watch_on_post.data = current.watch_on_post
        for kind, mode in current.email_modes.items():
            getattr(form, field_name(kind)).data = mode.value
    if form.validate_on_submit():
        chosen = preferences.Preferences(
            email_modes={
                kind: EmailMode(getattr(form, field_name(kind)).data) for kind in NotificationKind
            },
            watch_on_post=bool(form.watch_on_post.data),
        )
        preferences.save_preferences(db.session, current_user, chosen)
        db.session.commit()
        flash("Your notification settings are saved.", "success")
        return redirect(url_for("notifications.settings"))
    status = 422 if form.errors else 200
    return render_template("notifications/settings.html", form=form), status


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str):  # noqa: ANN201
    """GET asks to confirm; POST unsubscribes.

    Mail clients unsubscribe in one click by POSTing List-Unsubscribe=One-Click (RFC 8058)
    without a session or CSRF token; the signed token is the authority. Any other POST
    comes from our confirmation form and must carry its CSRF token.
    """
    try:
        user_id, kind = preferences.read_unsubscribe_token(current_app.config["SECRET_KEY"], token)
    except preferences.InvalidToken as invalid:
        return render_template("error.html", status=404, message=str(invalid)), 404
    member = db.session.get(User, user_id)
    if member is None:
        abort(404)
    what = preferences.describe_subscription(kind)
    if request.method == "POST":
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        if not one_click and not ActionForm().validate_on_submit():
            abort(400)
        preferences.unsubscribe(db.session, user_id, kind)
        db.session.commit()
        return render_template("notifications/unsubscribed.html", member=member, what=what)
    return render_template(
        "notifications/unsubscribe.html", member=member, what=what, form=ActionForm()
    )


def _watch_redirect(default: str):  # noqa: ANN202
    return redirect(safe_local_path(request.form.get("next"), default))


@bp.post("/t/<int:thread_id>/watch")
@login_required
def watch_thread(thread_id: int):  # noqa: ANN201
    try:
        thread = reading.get_thread(db.session, current_user, thread_id)
    except NotFound:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    wanted = request.form.get("watching") != "off"
    watching.set_thread_watch(db.session, current_user, thread, wanted)
    db.session.commit()
    flash(
        "You are watching this thread: you will hear of new replies."
        if wanted
        else "You stopped watching this thread.",
        "success",
    )
    return _watch_redirect(url_for("boards.thread", thread_id=thread.id))


@bp.post("/b/<slug>/watch")
@login_required
def watch_board(slug: str):  # noqa: ANN201
    try:
        board = reading.get_board(db.session, current_user, slug)
    except NotFound:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    wanted = request.form.get("watching") != "off"
    watching.set_board_watch(db.session, current_user, board, wanted)
    db.session.commit()
    flash(
        f"You are watching {board.name}: you will hear of new threads and replies."
        if wanted
        else f"You stopped watching {board.name}.",
        "success",
    )
    return _watch_redirect(url_for("boards.board", slug=board.slug))
