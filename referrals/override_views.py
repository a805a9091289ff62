"""The admin override of refused bring-your-own invitations: the console page that sends one
to an account that was never active (``/admin/referrals/invitations``), and what its link
shows — sign in as that account, then accept."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from forum.database import utcnow
from forum.extensions import db, login_manager
from forum.forms import ActionForm, add_field_error
from forum.templating import external_url
from referrals import audit, invitations, overrides
from referrals.admin_views import admin_required, bp
from referrals.audit import AdminAct
from referrals.forms import OverrideForm
from referrals.tables import Invitation

# The domain's field names that the form shows under another name.
FORM_FIELDS = {"kind": "invitation", "purpose": "invitation"}


@bp.route("/invitations", methods=["GET", "POST"])
@admin_required
def invitation_overrides() -> Any:
    form = OverrideForm()
    if form.validate_on_submit():
        kind, _, purpose = (form.invitation.data or "").partition(":")
        try:
            done = overrides.override(
                db.session, form.inviter.data or "", kind, purpose, form.first_name.data or "",
                form.last_name.data or "", form.email.data or "", utcnow(),
                # BASE_URL, never the request's Host: an emailed link must lead to this site.
                external_url("referral_pages.accept_invitation", secret=""),
            )  # fmt: skip
        except invitations.InvitationError as error:
            db.session.rollback()
            add_field_error(form, FORM_FIELDS.get(error.field, error.field), error.message)
        else:
            invitation = done.invitation
            if done.sent:
                replaced = f"; open invitation {done.replaced.id} revoked" if done.replaced else ""
                audit.record(
                    db.session, current_user, AdminAct.OVERRIDE_INVITATION,
                    reason=form.reason.data or "",
                    detail=f"invitation {invitation.id} from {invitation.inviter.username} sent "
                    f"to never-active account {done.account.username}{replaced}",
                    target_user_id=done.account.id,
                )  # fmt: skip
                db.session.commit()
                flash(f"The invitation to {invitation.email} is on its way; its link asks them "
                      f"to sign in as {done.account.username}.", "success")  # fmt: skip
            else:
                flash(f"This invitation was already sent on {invitation.created_at:%-d %B %Y} "
                      "and is still open: nothing was sent again.", "info")  # fmt: skip
            return redirect(url_for(".invitation_overrides"))
    return render_template(
        "referrals_admin/invitations.html",
        form=form,
        sent=overrides.recent(db.session),
        now=utcnow(),
    ), (422 if form.errors else 200)


def accept_page(invitation: Invitation, secret: str) -> Any:
    """Answer the link of an override invitation (GET shows it, POST accepts it): visitors
    are asked to sign in as the invited account, another account gets 403, and the invited
    account accepts with a button."""
    if not current_user.is_authenticated:
        if request.method == "POST":
            return login_manager.unauthorized()
        return render_template(
            "referrals/accept_existing.html",
            invitation=invitation,
            purposes=invitations.PURPOSES,
            sign_in=url_for("accounts.sign_in", next=request.path),
        )
    if not overrides.is_for(invitation, current_user):
        return _closed(
            "This invitation is for another account. Sign out, then sign in with the account "
            f"of {invitation.email} to accept it.", 403,
        )  # fmt: skip
    form = ActionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            done = overrides.accept(db.session, secret, current_user, utcnow())
        except overrides.NotTheInvitedAccount:
            return _closed("This invitation is for another account.", 403)
        except invitations.InvitationError as error:
            db.session.rollback()
            return _closed(error.message, 409)
        except (invitations.InvitationClosed, invitations.InvitationNotFound):
            db.session.rollback()
            return _closed("This invitation was already accepted.", 410)
        db.session.commit()
        flash(f"You and {done.invitation.inviter.username} are connected.", "success")
        return redirect(url_for("boards.index"))
    return render_template(
        "referrals/accept_existing.html",
        invitation=invitation,
        purposes=invitations.PURPOSES,
        form=form,
    )


def _closed(message: str, status: int) -> Any:
    return render_template("referrals/invitation_closed.html", message=message), status
