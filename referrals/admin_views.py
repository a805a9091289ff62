"""The referral admin console under /admin/referrals: programs and tiers, service fees, the
review queue, rewards, payout batches, affiliate applications and API tokens.

Admins only (members and moderators get 403: money decisions are not moderation). Every act
is written to the moderation log in the act's own transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from forum.database import utcnow
from forum.extensions import db
from forum.forms import ActionForm, add_field_error
from forum.guards import role_required
from forum.redirects import query_values
from forum.requests import positive_int
from referrals import (
    affiliates,
    attribution,
    audit,
    console,
    fees,
    programs,
    rewards,
    tokens,
)
from referrals.audit import AdminAct
from referrals.forms import (
    AdminTokenForm,
    DecisionForm,
    FeeBandsForm,
    ProgramForm,
    ReverseForm,
    TierForm,
)
from referrals.models import Affiliate, Program, Reward, RewardStatus, Tier
from referrals.rewards_text import format_cents

bp = Blueprint("referral_admin", __name__, url_prefix="/admin/referrals")


# Also imported by the other console modules (payouts).
admin_required = role_required(lambda user: user.is_admin, "The referral console is for admins.")


def action_form_or_400() -> None:
    if not ActionForm().validate_on_submit():
        abort(400)


@bp.get("/")
@admin_required
def index() -> Any:
    return render_template("referrals_admin/index.html", overview=console.overview(db.session))


# --- programs and tiers --------------------------------------------------------------------


@bp.get("/programs")
@admin_required
def program_list() -> Any:
    return render_template(
        "referrals_admin/programs.html",
        programs=console.all_programs(db.session),
        now=utcnow(),
    )


def _program_or_404(program_id: int) -> Program:
    program = db.session.get(Program, program_id)
    if program is None:
        abort(404)
    return program


def _program_page(
    program: Program, form: ProgramForm, tier_forms: dict[int, TierForm], status: int = 200
) -> Any:
    return render_template(
        "referrals_admin/program.html",
        program=program,
        form=form,
        tier_forms=tier_forms,
        now=utcnow(),
        action_form=ActionForm(),
    ), status


def _tier_forms(program: Program) -> dict[int, TierForm]:
    return {
        tier.id: TierForm(prefix=f"tier{tier.id}", obj=tier, formdata=None)
        for tier in program.tiers
    }


def _describe(changes: dict[str, Any], before: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {before[k]} → {v}" for k, v in changes.items() if before[k] != v)


@bp.route("/programs/<int:program_id>", methods=["GET", "POST"])
@admin_required
def program(program_id: int) -> Any:
    program = _program_or_404(program_id)
    form = ProgramForm(obj=program)
    if form.validate_on_submit():
        changes = {
            "name": (form.name.data or "").strip(),
            "description": (form.description.data or "").strip(),
            "attribution_days": form.attribution_days.data,
            "hold_days": form.hold_days.data,
            "referrer_cap_cents": form.referrer_cap_cents.data,
            "referee_cap_cents": form.referee_cap_cents.data,
        }
        before = {k: getattr(program, k) for k in changes}
        try:
            programs.update_program(db.session, program, changes, utcnow())
        except programs.ProgramError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        else:
            detail = _describe(changes, before) or "no change"
            audit.record(db.session, current_user, AdminAct.EDIT_PROGRAM,
                         detail=f"{program.slug}: {detail}")  # fmt: skip
            db.session.commit()
            flash(f"“{program.name}” is saved.", "success")
            return redirect(url_for(".program", program_id=program.id))
    return _program_page(program, form, _tier_forms(program), 422 if form.errors else 200)


@bp.post("/programs/<int:program_id>/tiers/<int:tier_id>")
@admin_required
def tier(program_id: int, tier_id: int) -> Any:
    program = _program_or_404(program_id)
    tier = db.session.get(Tier, tier_id)
    if tier is None or tier.program_id != program.id:
        abort(404)
    tier_forms = _tier_forms(program)
    form = TierForm(prefix=f"tier{tier.id}")
    tier_forms[tier.id] = form
    if form.validate_on_submit():
        changes: dict[str, Any] = {
            "threshold_cents": form.threshold_cents.data,
            "reward_amount": form.reward_amount.data,
        }
        if tier.is_revenue_share:
            changes["share_months"] = form.share_months.data
            changes["share_cap_cents"] = form.share_cap_cents.data
        before = {k: getattr(tier, k) for k in changes}
        try:
            programs.update_tier(db.session, tier, changes, utcnow())
        except programs.ProgramError as error:
            db.session.rollback()
            add_field_error(form, error.field.rsplit(".", 1)[-1], error.message)
        else:
            detail = _describe(changes, before) or "no change"
            audit.record(
                db.session, current_user, AdminAct.EDIT_TIER,
                detail=f"{program.slug} tier {tier.position + 1}: {detail}",
            )  # fmt: skip
            db.session.commit()
            flash(f"Tier {tier.position + 1} of “{program.name}” is saved.", "success")
            return redirect(url_for(".program", program_id=program.id))
    return _program_page(program, ProgramForm(obj=program, formdata=None), tier_forms, 422)


@bp.post("/programs/<int:program_id>/<any(deactivate, activate):act>")
@admin_required
def program_state(program_id: int, act: str) -> Any:
    action_form_or_400()
    program = _program_or_404(program_id)
    now = utcnow()
    ends_at = now if act == "deactivate" else None
    try:
        programs.update_program(db.session, program, {"ends_at": ends_at}, now)
    except programs.ProgramError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for(".program", program_id=program.id))
    kind = AdminAct.DEACTIVATE_PROGRAM if act == "deactivate" else AdminAct.ACTIVATE_PROGRAM
    audit.record(db.session, current_user, kind, detail=program.slug)
    db.session.commit()
    if act == "deactivate":
        flash(f"“{program.name}” is stopped: its links lead home and count nothing.", "info")
    else:
        flash(f"“{program.name}” runs again.", "success")
    return redirect(url_for(".program", program_id=program.id))


# --- service fees --------------------------------------------------------------------------


def _bands_text(bands: tuple[fees.FeeBand, ...]) -> str:
    return "\n".join(f"{b.from_cents} {b.rate_bp}" for b in bands)


def _parse_bands(text: str) -> list[fees.FeeBand]:
    bands = []
    for number, line in enumerate((line for line in text.splitlines() if line.strip()), 1):
        parts = line.replace(",", " ").split()
        if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
            raise fees.FeeError(
                "bands", f"Line {number}: write two whole numbers, the start in cents and the rate."
            )
        bands.append(fees.FeeBand(int(parts[0]), int(parts[1])))
    return bands


@bp.route("/fees", methods=["GET", "POST"])
@admin_required
def fee_bands() -> Any:
    current = fees.current_bands(db.session)
    form = FeeBandsForm()
    if request.method == "GET":
        form.bands.data = _bands_text(current)
    if form.validate_on_submit():
        try:
            bands = _parse_bands(form.bands.data or "")
            fees.save_bands(db.session, bands, utcnow())
        except fees.FeeError as error:
            db.session.rollback()
            message = error.message
            if error.field.startswith("bands."):
                message = f"Band {int(error.field.split('.')[1]) + 1}: {message}"
            add_field_error(form, "bands", message)
        else:
            audit.record(
                db.session, current_user, AdminAct.EDIT_FEES,
                detail="; ".join(f"from {format_cents(b.from_cents)}: {fees.percent(b.rate_bp)}"
                                 for b in bands),
            )  # fmt: skip
            db.session.commit()
            flash("The service fee bands are saved; new quotes use them.", "success")
            return redirect(url_for(".fee_bands"))
    return render_template(
        "referrals_admin/fees.html", form=form, bands=current, percent=fees.percent
    ), (422 if form.errors else 200)


# --- the review queue ----------------------------------------------------------------------


def _review_page(forms: dict[int, DecisionForm] | None = None, status: int = 200) -> Any:
    queue = console.review_queue(db.session)
    forms = forms or {}
    for evidence in queue:
        forms.setdefault(
            evidence.referral.id, DecisionForm(prefix=f"r{evidence.referral.id}", formdata=None)
        )
    return render_template("referrals_admin/reviews.html", queue=queue, forms=forms), status


@bp.get("/reviews")
@admin_required
def reviews() -> Any:
    return _review_page()


@bp.post("/reviews/<int:referral_id>")
@admin_required
def review(referral_id: int) -> Any:
    form = DecisionForm(prefix=f"r{referral_id}")
    if form.validate_on_submit():
        approve = form.decision.data == "approve"
        try:
            referral = attribution.review_referral(
                db.session, referral_id, current_user, approve, form.note.data or "", utcnow()
            )
        except attribution.ReviewError as error:
            db.session.rollback()
            flash(str(error), "error")
            return redirect(url_for(".reviews"))
        audit.record(
            db.session, current_user, AdminAct.REVIEW_REFERRAL,
            reason=form.note.data or "",
            detail=f"referral {referral.id} {'approved' if approve else 'rejected'}",
            target_user_id=referral.referrer_id,
        )  # fmt: skip
        db.session.commit()
        flash(f"Referral {referral.id} is {referral.review_status}.", "success")
        return redirect(url_for(".reviews"))
    return _review_page({referral_id: form}, 422)


# --- rewards -------------------------------------------------------------------------------


def _date_arg(name: str) -> datetime | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise console.FilterError(name, "Use a date like 2026-05-31.") from None


def _rewards_page(reverse_forms: dict[int, ReverseForm] | None = None, status: int = 200) -> Any:
    error = None
    found: list[Reward] = []
    program_arg = request.args.get("program", "")
    try:
        since, until = _date_arg("since"), _date_arg("until")
        if since and until and until < since:
            raise console.FilterError("until", "The end date must be after the start date.")
        filters = console.RewardFilter(
            program_id=positive_int(program_arg),
            status=request.args.get("status") or None,
            referrer=request.args.get("referrer") or None,
            since=since,
            until=until + timedelta(days=1) if until else None,  # the end date is included
        )
        found = console.filtered_rewards(db.session, filters)
    except console.FilterError as problem:
        error = problem
        status = 422
    return render_template(
        "referrals_admin/rewards.html",
        rewards=found,
        programs=console.all_programs(db.session),
        statuses=[s.value for s in RewardStatus],
        args=request.args,
        filter_error=error,
        reverse_forms=reverse_forms or {},
        reverse_form=ReverseForm(formdata=None),
    ), status


@bp.get("/rewards")
@admin_required
def reward_list() -> Any:
    return _rewards_page()


@bp.post("/rewards/<int:reward_id>/reverse")
@admin_required
def reverse(reward_id: int) -> Any:
    form = ReverseForm()
    if form.validate_on_submit():
        batch_id = console.open_batch_of(db.session, reward_id)
        if batch_id is not None:
            add_field_error(
                form, "reason",
                f"This reward is in open payout batch #{batch_id}, which may already be on its "
                "way; mark that batch paid or settle it before reversing.",
            )  # fmt: skip
            return _rewards_page({reward_id: form}, 409)
        try:
            reward = rewards.reverse_reward(
                db.session, reward_id, current_user, form.reason.data or "", utcnow()
            )
        except rewards.RewardNotFound:
            abort(404)
        except rewards.RewardError as error:
            db.session.rollback()
            add_field_error(form, "reason", str(error))
            return _rewards_page({reward_id: form}, 409)
        audit.record(
            db.session, current_user, AdminAct.REVERSE_REWARD,
            reason=reward.reversal_reason or "",
            detail=f"reward {reward.id} ({reward.kind} {reward.amount})",
            target_user_id=reward.referrer_id,
        )  # fmt: skip
        db.session.commit()
        flash(f"Reward {reward.id} is reversed.", "success")
        return redirect(url_for(".reward_list", **query_values()))
    return _rewards_page({reward_id: form}, 422)


# --- affiliate applications ----------------------------------------------------------------


def _affiliates_page(forms: dict[int, DecisionForm] | None = None, status: int = 200) -> Any:
    found = console.applications(db.session)
    forms = forms or {}
    for record in found:
        forms.setdefault(record.user_id, DecisionForm(prefix=f"a{record.user_id}", formdata=None))
    return render_template(
        "referrals_admin/affiliates.html", applications=found, forms=forms
    ), status


@bp.get("/affiliates")
@admin_required
def affiliate_list() -> Any:
    return _affiliates_page()


@bp.post("/affiliates/<int:user_id>")
@admin_required
def decide_affiliate(user_id: int) -> Any:
    record = db.session.scalar(db.select(Affiliate).where(Affiliate.user_id == user_id))
    if record is None:
        abort(404)
    form = DecisionForm(prefix=f"a{user_id}")
    if form.validate_on_submit():
        approve = form.decision.data == "approve"
        try:
            affiliates.decide(
                db.session, record.user, approve, current_user, utcnow(), form.note.data
            )
        except affiliates.AffiliateError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        else:
            audit.record(
                db.session, current_user, AdminAct.DECIDE_AFFILIATE,
                reason=form.note.data or "",
                detail=f"affiliate {'approved' if approve else 'declined'}",
                target_user_id=record.user_id,
            )  # fmt: skip
            db.session.commit()
            flash(f"{record.user.username} is {'approved' if approve else 'declined'}.", "success")
            return redirect(url_for(".affiliate_list"))
    return _affiliates_page({user_id: form}, 422)


# --- API tokens ----------------------------------------------------------------------------


@bp.route("/tokens", methods=["GET", "POST"])
@admin_required
def token_list() -> Any:
    form = AdminTokenForm()
    secret = None
    if form.validate_on_submit():
        try:
            token, secret = tokens.create_token(
                db.session, form.name.data or "", form.scopes.data or [], utcnow()
            )
        except tokens.TokenError as error:
            db.session.rollback()
            add_field_error(form, "name", str(error))
        else:
            audit.record(
                db.session, current_user, AdminAct.CREATE_TOKEN,
                detail=f"token {token.name} ({token.scopes})",
            )  # fmt: skip
            db.session.commit()
            form = AdminTokenForm(formdata=None)
    return render_template(
        "referrals_admin/tokens.html",
        form=form,
        secret=secret,
        tokens=tokens.all_tokens(db.session),
        label_of=tokens.label_of,
    ), (422 if form.errors else 200)


@bp.post("/tokens/<int:token_id>/revoke")
@admin_required
def revoke_token(token_id: int) -> Any:
    action_form_or_400()
    try:
        token = tokens.live_token(db.session, token_id)
    except tokens.TokenError:
        abort(404)
    name = token.name
    tokens.revoke(db.session, token, utcnow())
    audit.record(
        db.session, current_user, AdminAct.REVOKE_TOKEN,
        detail=f"token {name}", target_user_id=token.owner_id,
    )  # fmt: skip
    db.session.commit()
    flash(f"The token {name} is revoked.", "info")
    return redirect(url_for(".token_list"))
