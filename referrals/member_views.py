"""The referrer's pages under /referrals: dashboard, links, timelines, exports, own API tokens,
the affiliate application, "My talent" invitations; and the invitation link itself."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user
from wtforms.fields.choices import SelectChoice

from forum.accounts import service as accounts
from forum.accounts import sessions
from forum.database import utcnow
from forum.extensions import db, limiter
from forum.forms import ActionForm, add_field_error
from forum.requests import positive_int
from forum.signals import member_signed_up
from forum.templating import external_url
from referrals import (
    affiliates,
    charts,
    dashboard,
    exports,
    invitations,
    links,
    members,
    override_views,
    timeline,
    tokens,
)
from referrals.forms import AcceptForm, AffiliateForm, InvitationForm, LinkForm, TokenForm
from referrals.models import Link, Program
from referrals.tables import InvitationKind, InvitationStatus

bp = Blueprint("referral_pages", __name__)


# --- the dashboard and links ---------------------------------------------------------------


def _days_arg() -> int:
    days = request.args.get("days", "30")
    return int(days) if days in ("30", "90") else 30


def _page_arg() -> int:
    return positive_int(request.args.get("page", "1"), 100_000) or 1


def _link_form(eligible: list[Program]) -> LinkForm:
    form = LinkForm(prefix="link")
    form.program.choices = [SelectChoice(str(p.id), p.name) for p in eligible]
    return form


def _dashboard(link_form: LinkForm | None = None, status: int = 200) -> Any:
    now = utcnow()
    days = _days_arg()
    programs = members.eligibility_by_program(db.session, current_user, now)
    eligible = [program for program, e in programs if e.allowed]
    series = dashboard.daily(db.session, current_user.id, days, now)
    chart = charts.daily_chart(
        series,
        f"chart-{days}",
        f"Clicks, sign-ups and rewards per day, last {days} days",
        f"{sum(d.clicks for d in series)} clicks, {sum(d.sign_ups for d in series)} sign-ups "
        f"and {sum(d.rewards for d in series)} rewards in the last {days} days; the table "
        "below the chart has every day's numbers.",
    )
    return render_template(
        "referrals/dashboard.html",
        programs=programs,
        # A link keeps counting clicks after its owner stops being eligible, but brings no new
        # referrals: its row says so, with the reason.
        link_blocks={p.id: e.reason for p, e in programs if not e.allowed},
        link_form=link_form or _link_form(eligible),
        link_rows=dashboard.link_rows(db.session, current_user.id),
        totals=dashboard.totals(db.session, current_user.id),
        series=series,
        chart=chart,
        days=days,
        page=dashboard.referral_page(db.session, current_user, _page_arg()),
        affiliate=affiliates.affiliate_of(db.session, current_user.id),
        action_form=ActionForm(),
    ), status


@bp.get("/referrals/")
@login_required
def dashboard_page() -> Any:
    return _dashboard()


@bp.post("/referrals/links")
@login_required
def create_link() -> Any:
    now = utcnow()
    eligible = [
        p for p, e in members.eligibility_by_program(db.session, current_user, now) if e.allowed
    ]
    form = _link_form(eligible)
    if form.validate_on_submit():
        program_id = form.program.data or ""
        program = next((p for p in eligible if str(p.id) == program_id), None)
        if program is None:
            add_field_error(form, "program", "Choose one of the programs you may refer in.")
        else:
            try:
                link = links.create_link(
                    db.session,
                    current_user,
                    program,
                    now,
                    campaign=form.campaign.data,
                    target=form.target.data,
                )
            except links.LinkError as error:
                db.session.rollback()
                add_field_error(form, error.field, error.message)
            else:
                db.session.commit()
                flash(f"Your link {link.code} is ready to share.", "success")
                return redirect(url_for(".dashboard_page", _anchor="links"))
    return _dashboard(form, 422)


@bp.post("/referrals/links/<int:link_id>/disable")
@login_required
def disable_link(link_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    link = db.session.get(Link, link_id)
    if link is None or link.referrer_id != current_user.id:
        abort(404)
    links.disable_link(db.session, link, utcnow())
    db.session.commit()
    flash(f"The link {link.code} is disabled; it now leads to the home page.", "info")
    return redirect(url_for(".dashboard_page", _anchor="links"))


# --- timelines and exports -----------------------------------------------------------------


@bp.get("/referrals/<int:referral_id>")
@login_required
def referral(referral_id: int) -> Any:
    try:
        found = timeline.timeline(db.session, current_user, referral_id)
    except timeline.TimelineNotFound:
        abort(404)
    return render_template("referrals/timeline.html", timeline=found)


def _csv(text: str, name: str) -> Response:
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/referrals/export/referrals.csv")
@login_required
def export_referrals() -> Response:
    return _csv(exports.referrals_csv(db.session, current_user), "referrals.csv")


@bp.get("/referrals/export/rewards.csv")
@login_required
def export_rewards() -> Response:
    return _csv(exports.rewards_csv(db.session, current_user), "rewards.csv")


# --- a member's own API tokens -------------------------------------------------------------


@bp.route("/referrals/tokens", methods=["GET", "POST"])
@login_required
def api_tokens() -> Any:
    form = TokenForm()
    secret = None
    if form.validate_on_submit():
        try:
            _, secret = tokens.create_token(
                db.session, form.name.data or "", ["me:read"], utcnow(), owner=current_user
            )
        except tokens.TokenError as error:
            db.session.rollback()
            add_field_error(form, "name", str(error))
        else:
            db.session.commit()
            form = TokenForm(formdata=None)
    return render_template(
        "referrals/tokens.html",
        form=form,
        secret=secret,
        tokens=tokens.tokens_of(db.session, current_user),
        label_of=tokens.label_of,
    ), (422 if form.errors else 200)


@bp.post("/referrals/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        token = tokens.live_token(db.session, token_id, owner=current_user)
    except tokens.TokenError:
        abort(404)
    tokens.revoke(db.session, token, utcnow())
    db.session.commit()
    flash("The token is revoked; it stops working at once.", "info")
    return redirect(url_for(".api_tokens"))


# --- affiliate application -----------------------------------------------------------------


@bp.route("/referrals/affiliate", methods=["GET", "POST"])
@login_required
def affiliate() -> Any:
    form = AffiliateForm()
    record = affiliates.affiliate_of(db.session, current_user.id)
    if form.validate_on_submit():
        try:
            affiliates.apply(
                db.session,
                current_user,
                form.audience.data or "",
                utcnow(),
                website=form.website.data,
                promotion=form.promotion.data,
            )
        except affiliates.AffiliateError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        else:
            db.session.commit()
            flash("Thank you! An admin will look at your application soon.", "success")
            return redirect(url_for(".affiliate"))
    return render_template("referrals/affiliate.html", form=form, record=record), (
        422 if form.errors or form.form_errors else 200
    )


# --- bring your own talent and clients -----------------------------------------------------

INVITATIONS_PER_HOUR = "20 per hour"


def _invitation_limit() -> str:
    return current_app.config.get("REFERRALS_INVITATIONS_LIMIT", INVITATIONS_PER_HOUR)


def _member_key() -> str:
    return f"member:{current_user.id}" if current_user.is_authenticated else "anonymous"


invitation_rate = limiter.shared_limit(
    _invitation_limit,
    scope="invitations",
    key_func=_member_key,
    methods=["POST"],
    # Refused attempts count too: "this person already has an account" must not let one
    # member test addresses by the thousand.
    deduct_when=lambda response: response.status_code in (302, 422),
    error_message="You have sent many invitations in a short time. Nothing was sent this "
    "time; please wait an hour and try again.",
)


def _invitation_forms() -> dict[str, InvitationForm]:
    forms = {}
    for kind in InvitationKind:
        if invitations.may_invite(current_user, kind, utcnow()):
            continue
        form = InvitationForm(prefix=kind.value)
        form.purpose.choices = [
            SelectChoice(value, label.capitalize())
            for value, label in invitations.PURPOSES[kind].items()
        ]
        forms[kind.value] = form
    return forms


def _talent_page(forms: dict[str, InvitationForm] | None = None, status: int = 200) -> Any:
    return render_template(
        "referrals/talent.html",
        forms=forms if forms is not None else _invitation_forms(),
        invitations=invitations.invitations_of(db.session, current_user),
        now=utcnow(),
        statuses=InvitationStatus,
        purposes=invitations.PURPOSES,
    ), status


def _link_base() -> str:
    # From BASE_URL, not the request's Host header, which a client chooses: an emailed link
    # must lead to this site whatever host the request that sent it named.
    return external_url("referral_pages.accept_invitation", secret="")


@bp.get("/referrals/talent")
@login_required
def talent() -> Any:
    return _talent_page()


@bp.post("/referrals/talent/invite/<kind>")
@login_required
@invitation_rate
def invite(kind: str) -> Any:
    try:
        wanted = InvitationKind(kind)
    except ValueError:
        abort(404)
    forms = _invitation_forms()
    form = forms.get(kind)
    if form is None:
        abort(403, invitations.may_invite(current_user, wanted, utcnow()))
    if form.validate_on_submit():
        try:
            invitation = invitations.invite(
                db.session,
                current_user,
                InvitationKind(kind),
                form.purpose.data or "",
                form.first_name.data or "",
                form.last_name.data or "",
                form.email.data or "",
                utcnow(),
                _link_base(),
            )
        except invitations.InvitationError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        else:
            db.session.commit()
            flash(f"Your invitation to {invitation.full_name} is on its way.", "success")
            return redirect(url_for(".talent"))
    return _talent_page(forms, 422)


@bp.post("/referrals/talent/<int:invitation_id>/resend")
@login_required
@invitation_rate
def resend_invitation(invitation_id: int) -> Any:
    return _invitation_action(
        lambda: invitations.resend(db.session, current_user, invitation_id, utcnow(), _link_base()),
        lambda invitation: (
            f"Sent again to {invitation.email}, with a new link valid for 14 days.",
            "success",
        ),
    )


@bp.post("/referrals/talent/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(invitation_id: int) -> Any:
    return _invitation_action(
        lambda: invitations.revoke(db.session, current_user, invitation_id, utcnow()),
        lambda invitation: (
            f"The invitation to {invitation.full_name} is revoked; its link no longer works.",
            "info",
        ),
    )


def _invitation_action(act: Callable[[], Any], message: Callable[[Any], tuple[str, str]]) -> Any:
    """Run an action on one of the member's invitations from a button on the talent page:
    commit and say what happened, or say why not; 404 for another member's invitation."""
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        invitation = act()
    except invitations.InvitationNotFound:
        abort(404)
    except invitations.InvitationError as error:
        db.session.rollback()
        flash(error.message, error.category)
        return redirect(url_for(".talent"))
    db.session.commit()
    flash(*message(invitation))
    return redirect(url_for(".talent"))


def _suggested_username(first: str, last: str) -> str:
    plain = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "", plain.replace(" ", ".")).strip(".-")[:30]
    return name.lower() if len(name) >= 3 else ""


CLOSED_MESSAGES = {
    InvitationStatus.EXPIRED: "This invitation has expired. Ask the person who invited you "
    "to send it again: they can do so from their list of invitations.",
    InvitationStatus.REVOKED: "This invitation was withdrawn by the person who sent it.",
    InvitationStatus.ACCEPTED: "This invitation was already used to create an account. "
    "Sign in instead.",
}


@bp.route("/invitations/<secret>", methods=["GET", "POST"])
def accept_invitation(secret: str) -> Any:
    now = utcnow()
    try:
        invitation = invitations.open_invitation(db.session, secret, now)
    except invitations.InvitationNotFound:
        return render_template(
            "referrals/invitation_closed.html",
            message="This invitation link is not valid. Check that you copied all of it.",
        ), 404
    except invitations.InvitationClosed as closed:
        return render_template(
            "referrals/invitation_closed.html", message=CLOSED_MESSAGES[closed.status]
        ), 410
    if invitation.account_id is not None:  # an admin's override, for an existing account
        return override_views.accept_page(invitation, secret)
    if current_user.is_authenticated:
        return render_template(
            "referrals/invitation_closed.html",
            message="You are signed in already: invitations are for people new to the "
            "marketplace. Sign out first if this invitation is for someone else.",
        ), 409
    form = AcceptForm()
    if request.method == "GET":
        form.username.data = _suggested_username(invitation.first_name, invitation.last_name)
    if form.validate_on_submit():
        try:
            done = invitations.accept(
                db.session,
                secret,
                form.username.data or "",
                form.password.data or "",
                current_app.config["PASSWORD_HASH_METHOD"],
                now,
            )
        except accounts.AccountError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        except (invitations.InvitationClosed, invitations.InvitationNotFound):
            db.session.rollback()
            return render_template(
                "referrals/invitation_closed.html",
                message=CLOSED_MESSAGES[InvitationStatus.ACCEPTED],
            ), 410
        else:
            member_signed_up.send(
                current_app._get_current_object(), user=done.user, session=db.session
            )
            sessions.start(db.session, done.user, request.headers.get("User-Agent", ""), False)
            db.session.commit()
            login_user(done.user)
            flash(
                f"Welcome, {done.invitation.first_name}! You and "
                f"{done.invitation.inviter.username} are connected.",
                "success",
            )
            return redirect(url_for("boards.index"))
    return render_template(
        "referrals/accept_invitation.html",
        form=form,
        invitation=invitation,
        purposes=invitations.PURPOSES,
    ), (422 if form.errors else 200)
