"""The payout pages of the referral console (``/admin/referrals/payouts``): approved cash
rewards gathered into batches, exported as CSV, and marked paid. Admins only; every act is in
the moderation log."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms.fields.choices import SelectChoice

from forum.database import utcnow
from forum.extensions import db
from forum.forms import add_field_error
from referrals import audit, exports, payouts
from referrals.admin_views import action_form_or_400, admin_required, bp
from referrals.audit import AdminAct
from referrals.forms import PayoutForm
from referrals.rewards_text import format_cents

# --- payout batches ------------------------------------------------------------------------


def _payouts_page(form: PayoutForm | None = None, status: int = 200) -> Any:
    payable = payouts.payable_rewards(db.session)
    form = form or PayoutForm()
    form.rewards.choices = [SelectChoice(r.id, f"#{r.id}") for r in payable]
    return render_template(
        "referrals_admin/payouts.html",
        form=form,
        payable=payable,
        batches=payouts.batches(db.session),
    ), status


@bp.get("/payouts")
@admin_required
def payout_list() -> Any:
    return _payouts_page()


@bp.post("/payouts")
@admin_required
def create_payout() -> Any:
    form = PayoutForm()
    if form.validate_on_submit():
        try:
            batch = payouts.create_batch(
                db.session, current_user, form.rewards.data or [], form.note.data or "", utcnow()
            )
            audit.record(
                db.session, current_user, AdminAct.CREATE_PAYOUT,
                detail=f"batch {batch.id}: {batch.reward_count} rewards, "
                f"{format_cents(batch.total_cents)}",
            )  # fmt: skip
            db.session.commit()
        except payouts.PayoutError as error:
            db.session.rollback()
            add_field_error(form, "rewards", str(error))
        except IntegrityError:
            db.session.rollback()
            add_field_error(form, "rewards", "Another admin just put some of these rewards "
                            "in a batch. Look at the list again.")  # fmt: skip
        else:
            flash(f"Payout batch #{batch.id} is ready: export it, pay, then mark it paid.",
                  "success")  # fmt: skip
            return redirect(url_for(".payout", batch_id=batch.id))
    return _payouts_page(form, 422)


@bp.get("/payouts/<int:batch_id>")
@admin_required
def payout(batch_id: int) -> Any:
    batch = payouts.batch_with_items(db.session, batch_id)
    if batch is None:
        abort(404)
    return render_template("referrals_admin/payout.html", batch=batch)


@bp.get("/payouts/<int:batch_id>.csv")
@admin_required
def payout_csv(batch_id: int) -> Response:
    batch = payouts.batch_with_items(db.session, batch_id)
    if batch is None:
        abort(404)
    response = Response(exports.payout_csv(db.session, batch), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="payout-{batch.id}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/payouts/<int:batch_id>/paid")
@admin_required
def pay_payout(batch_id: int) -> Any:
    action_form_or_400()
    try:
        batch, marked = payouts.mark_paid(db.session, batch_id, current_user, utcnow())
    except payouts.PayoutError as error:
        db.session.rollback()
        if "no such" in str(error):
            abort(404)
        flash(str(error), "error")
        return redirect(url_for(".payout", batch_id=batch_id))
    audit.record(
        db.session, current_user, AdminAct.PAY_PAYOUT,
        detail=f"batch {batch.id}: {marked} of {batch.reward_count} rewards marked paid",
    )  # fmt: skip
    db.session.commit()
    flash(f"Batch #{batch.id} is paid: {marked} rewards marked paid.", "success")
    return redirect(url_for(".payout", batch_id=batch.id))
