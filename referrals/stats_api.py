"""The read-only API of a member's own referral data (``/api/v1/me/…``, tokens a member
makes for themself) and the service fee quote (``/api/v1/fees/quote``, for the marketplace)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import g
from flask_smorest import Blueprint, abort
from sqlalchemy.orm import selectinload

from forum.accounts.models import User
from forum.extensions import db
from referrals import dashboard, fees, members
from referrals.api import refuse_oversized_body, require_scope
from referrals.models import Referral, Reward
from referrals.schemas import (
    MAX_ID,
    FeeQuoteQuerySchema,
    FeeQuoteSchema,
    MeReferralPageSchema,
    MeRewardPageSchema,
    MeStatsSchema,
    PageQuerySchema,
)

me_blp = Blueprint(
    "me",
    __name__,
    url_prefix="/api/v1/me",
    description="A referrer's own stats, referrals and rewards, for tokens a member makes on "
    "their API tokens page (scope me:read). A token reads only its owner's data.",
)
fees_blp = Blueprint(
    "fees",
    __name__,
    url_prefix="/api/v1/fees",
    description="Freelancer service fees: what a payment pays, with the arithmetic.",
)


def _owner_id() -> int:
    owner_id = g.get("api_token_owner_id")
    if owner_id is None:
        abort(403, message="This token belongs to no member; /me needs a member's own token.")
    return owner_id


@me_blp.route("/stats", methods=["GET"])
@require_scope("me:read")
@me_blp.response(200, MeStatsSchema)
@me_blp.doc(summary="Your totals: clicks, visitors, sign-ups, spend, rewards; your links")
def me_stats() -> Any:
    owner_id = _owner_id()
    totals = dashboard.totals(db.session, owner_id)
    return {
        "clicks": totals.clicks,
        "unique_visitors": totals.unique_visitors,
        "sign_ups": totals.sign_ups,
        "conversion_percent": totals.conversion_percent,
        "referee_spend_cents": totals.referee_spend_cents,
        "rewards": {
            status: {"count": totals.reward_counts[status], "money_cents": cents}
            for status, cents in totals.reward_cents.items()
        },
        "links": [
            {
                "code": row.link.code,
                "program": row.link.program.slug,
                "campaign": row.link.campaign,
                "target": row.link.target,
                "enabled": row.link.enabled,
                "clicks": row.clicks,
                "sign_ups": row.sign_ups,
            }
            for row in dashboard.link_rows(db.session, owner_id)
        ],
    }


def _page(model: Any, query: dict[str, Any], *options: Any) -> tuple[list[Any], int | None]:
    rows = list(
        db.session.scalars(
            sa.select(model)
            .where(model.referrer_id == _owner_id(), model.id > query["after"])
            .options(*options)
            .order_by(model.id)
            .limit(query["limit"])
        )
    )
    return rows, (rows[-1].id if len(rows) == query["limit"] else None)


@me_blp.route("/referrals", methods=["GET"])
@require_scope("me:read")
@me_blp.arguments(PageQuerySchema, location="query", unknown=ma.RAISE)
@me_blp.response(200, MeReferralPageSchema)
@me_blp.doc(summary="Your referrals, oldest first")
def me_referrals(query: dict[str, Any]) -> Any:
    rows, next_after = _page(
        Referral, query, selectinload(Referral.program), selectinload(Referral.referee)
    )
    return {"referrals": rows, "next_after": next_after}


@me_blp.route("/rewards", methods=["GET"])
@require_scope("me:read")
@me_blp.arguments(PageQuerySchema, location="query", unknown=ma.RAISE)
@me_blp.response(200, MeRewardPageSchema)
@me_blp.doc(summary="Your rewards, oldest first")
def me_rewards(query: dict[str, Any]) -> Any:
    rows, next_after = _page(
        Reward, query, selectinload(Reward.referral).selectinload(Referral.program)
    )
    return {"rewards": rows, "next_after": next_after}


def _party(field: str, value: str) -> tuple[User | None, str | None]:
    if value.startswith("id:"):
        number = int(value[3:])
        # Ids are INTEGER: PostgreSQL refuses to look up a larger one (a 500), SQLite finds none.
        user = db.session.get(User, number) if number <= MAX_ID else None
        if user is None:
            abort(422, errors={"query": {field: [f"No member has the id {value[3:]}."]}})
        return user, None
    return members.member_by_external_id(db.session, value), value


@fees_blp.route("/quote", methods=["GET"])
@require_scope("fees:read")
@fees_blp.arguments(FeeQuoteQuerySchema, location="query", unknown=ma.RAISE)
@fees_blp.response(200, FeeQuoteSchema)
@fees_blp.doc(
    summary="Quote the freelancer service fee on a payment",
    description="By the relationship's lifetime billings (20% of the first $500, 10% to "
    "$10,000, 5% beyond, by default; admins edit the bands), or the flat rate of a "
    "bring-your-own relationship. Each part pays its band's rate and the exact total is "
    "rounded down once, so a payment split in two never pays more fee.",
)
def fee_quote(query: dict[str, Any]) -> Any:
    client, client_external = _party("client", query["client"])
    freelancer, freelancer_external = _party("freelancer", query["freelancer"])
    quote = fees.quote_for(
        db.session, client, freelancer, query["amount_cents"], client_external, freelancer_external
    )
    return {
        "client": query["client"],
        "freelancer": query["freelancer"],
        "amount_cents": quote.amount_cents,
        "currency": "USD",
        "relationship": "standard" if quote.flat_rate_bp is None else "bring_your_own",
        "lifetime_billings_cents": quote.lifetime_before_cents,
        "flat_rate_bp": quote.flat_rate_bp,
        "fee_cents": quote.fee_cents,
        "freelancer_receives_cents": quote.freelancer_receives_cents,
        "lines": [
            {
                "from_cents": line.from_cents,
                "to_cents": line.to_cents,
                "amount_cents": line.amount_cents,
                "rate_bp": line.rate_bp,
                "fee_cents_exact": fees.exact_fraction_text(line.fee_exact),
            }
            for line in quote.lines
        ],
        "arithmetic": quote.arithmetic,
    }


for _blueprint in (me_blp, fees_blp):
    _blueprint.before_request(refuse_oversized_body)
