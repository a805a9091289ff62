"""Pages for signing up, signing in and out, and member profiles."""

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
from flask_login import current_user, login_required, login_user, logout_user

from forum import ratelimits
from forum.accounts import service, sessions, viewer
from forum.accounts.forms import PasswordForm, SignInForm, SignUpForm
from forum.boards import reading
from forum.extensions import db, login_manager
from forum.forms import ActionForm, add_field_error
from forum.permissions import NotFound
from forum.redirects import safe_local_path
from forum.signals import member_signed_up

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.sign_in"
login_manager.login_message = "Please sign in to do that."
login_manager.login_message_category = "info"


login_manager.user_loader(viewer.load)


def _sign_in(user, remember: bool) -> None:  # noqa: ANN001
    sessions.start(db.session, user, request.headers.get("User-Agent", ""), remember)
    db.session.commit()
    login_user(user, remember=remember)


def _viewer():  # noqa: ANN202
    return current_user if current_user.is_authenticated else None


@bp.route("/sign-up", methods=["GET", "POST"])
@ratelimits.sign_up_attempts_per_address
@ratelimits.sign_ups_per_address
def sign_up():  # noqa: ANN201
    if current_user.is_authenticated:
        return redirect(url_for("boards.index"))
    form = SignUpForm()
    if form.validate_on_submit():
        data = service.SignUp(
            username=form.username.data or "",
            email=form.email.data or "",
            password=form.password.data or "",
            hires=form.kind.data in ("hire", "both"),
            works=form.kind.data in ("work", "both"),
        )
        try:
            user = service.register(db.session, data, current_app.config["PASSWORD_HASH_METHOD"])
        except service.AccountError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        else:
            member_signed_up.send(current_app._get_current_object(), user=user, session=db.session)
            _sign_in(user, remember=False)
            flash(f"Welcome to Townhall, {user.username}!", "success")
            return redirect(safe_local_path(request.args.get("next"), url_for("boards.index")))
    status = 422 if form.errors else 200
    return render_template("accounts/sign_up.html", form=form), status


@bp.route("/sign-in", methods=["GET", "POST"])
@ratelimits.sign_in_per_address
@ratelimits.sign_in_per_account
def sign_in():  # noqa: ANN201
    if current_user.is_authenticated:
        return redirect(url_for("boards.index"))
    form = SignInForm()
    if form.validate_on_submit():
        user = service.authenticate(db.session, form.login.data or "", form.password.data or "")
        if user is None:
            form.form_errors.append("That username or email and password do not match.")
        elif user.is_banned:
            form.form_errors.append("This account is banned and cannot sign in.")
        else:
            _sign_in(user, remember=bool(form.remember.data))
            return redirect(safe_local_path(request.args.get("next"), url_for("boards.index")))
    status = 422 if (form.errors or form.form_errors) else 200
    return render_template("accounts/sign_in.html", form=form), status


@bp.post("/sign-out")
@login_required
def sign_out():  # noqa: ANN201
    form = ActionForm()
    if form.validate_on_submit():
        sessions.end(db.session, current_user)
        db.session.commit()
        logout_user()
        flash("You are signed out.", "info")
    return redirect(url_for("boards.index"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():  # noqa: ANN201
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(
                db.session, current_user, form.current_password.data or "",
                form.new_password.data or "", current_app.config["PASSWORD_HASH_METHOD"],
            )  # fmt: skip
        except service.AccountError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        else:
            ended = sessions.end_others(db.session, current_user)
            db.session.commit()
            flash(f"Your password is changed. {ended} other session(s) were signed out.", "success")
            return redirect(url_for("accounts.account"))
    current = sessions.current(db.session, current_user)
    return render_template(
        "accounts/account.html", form=form, action_form=ActionForm(),
        sessions=sessions.active(db.session, current_user),
        current_session_id=current.id if current else None,
    ), (422 if form.errors else 200)  # fmt: skip


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):  # noqa: ANN201
    if not ActionForm().validate_on_submit():
        abort(400)
    if sessions.end(db.session, current_user, session_id) == 0:
        abort(404)
    db.session.commit()
    flash("That session is signed out.", "info")
    return redirect(url_for("accounts.account"))


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions():  # noqa: ANN201
    if not ActionForm().validate_on_submit():
        abort(400)
    ended = sessions.end_others(db.session, current_user)
    db.session.commit()
    flash(f"{ended} other session(s) signed out.", "info")
    return redirect(url_for("accounts.account"))


@bp.get("/u/<username>")
def profile(username: str):  # noqa: ANN201
    try:
        member = reading.member_by_name(db.session, username)
    except NotFound:
        return render_template("error.html", status=404, message="No such member."), 404
    posts = reading.recent_posts_by(db.session, _viewer(), member)
    return render_template("accounts/profile.html", member=member, posts=posts)
