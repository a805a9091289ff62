"""The API's request and response schemas: the same classes validate requests and generate
the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from referrals import members, rewards, spend
from referrals.models import EventKind, RewardKind, RewardStatus

# The largest row id of our INTEGER id columns (rewards, members, referrals): PostgreSQL
# refuses to compare them with anything larger ("integer out of range", a 500) where SQLite
# would just find nothing.
MAX_ID = 2**31 - 1


class StrictInteger(fields.Integer):
    """An integer that must arrive as a JSON integer: not a string, float or boolean."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class StrictBoolean(fields.Boolean):
    """true or false, nothing that merely looks like them ("yes", 1, "true")."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _only_usd(value: str) -> None:
    if value not in spend.SUPPORTED_CURRENCIES:
        raise ma.ValidationError(f"Only USD is supported for now, not {value!r}.")


class PartySchema(ma.Schema):
    """A member, named by exactly one of their Townhall id or the marketplace's id."""

    # What ``_exactly_one`` checks, said in the OpenAPI document (see api.init_app).
    JSON_SCHEMA_EXTRA = {"minProperties": 1, "maxProperties": 1}

    id = StrictInteger(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "Townhall member id"},
    )
    external_id = fields.String(
        validate=validate.Regexp(members.EXTERNAL_ID_PATTERN),
        metadata={"description": "The marketplace's id for the member"},
    )

    @ma.validates_schema
    def _exactly_one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("id" in data) == ("external_id" in data):
            raise ma.ValidationError("Name the member by exactly one of id or external_id.")

    @ma.post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> spend.Party:
        return spend.Party(user_id=data.get("id"), external_id=data.get("external_id"))


class SpendEventSchema(ma.Schema):
    """Money that moved on the marketplace: a payment from a client to a freelancer, or a
    refund of one."""

    event_id = fields.String(
        required=True,
        validate=[
            validate.Length(1, 100),
            validate.Regexp(r"^[\x21-\x7e]+$", error="Use printable ASCII without spaces."),
        ],
        metadata={"description": "The marketplace's unique id for this event"},
    )
    occurred_at = fields.AwareDateTime(
        required=True, metadata={"description": "ISO 8601 with a UTC offset"}
    )
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in EventKind]))
    payer = fields.Nested(PartySchema, required=True, metadata={"description": "The client"})
    payee = fields.Nested(PartySchema, required=True, metadata={"description": "The freelancer"})
    amount_cents = StrictInteger(
        required=True,
        validate=validate.Range(min=1, max=spend.MAX_AMOUNT_CENTS),
        metadata={
            "description": "Positive whole cents; a refund may not exceed what the payer "
            "has paid the payee"
        },
    )
    currency = fields.String(
        required=True,
        validate=_only_usd,
        metadata={"enum": sorted(spend.SUPPORTED_CURRENCIES), "example": "USD"},
    )

    @ma.post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> spend.EventIn:
        return spend.EventIn(**{**data, "kind": EventKind(data["kind"])})


# --- spend events without the schema machinery -------------------------------------------
#
# A batch of 1,000 events through SpendEventSchema costs far more than storing them. These
# functions take the fast road for an event that is exactly what the schema accepts, checked
# with the schema's own validators, and answer None for anything else: the caller then loads
# with the schema, which names the fields at fault. So the errors, and the OpenAPI document,
# still come from the schemas; tests/referrals/test_schemas.py holds the two roads equal.


def _field_validators(schema: type[ma.Schema], name: str) -> tuple:
    return tuple(schema._declared_fields[name].validators)


_EVENT_FIELDS = frozenset(SpendEventSchema._declared_fields)
_EVENT_ID_CHECKS = _field_validators(SpendEventSchema, "event_id")
_KIND_CHECKS = _field_validators(SpendEventSchema, "kind")
_AMOUNT_CHECKS = _field_validators(SpendEventSchema, "amount_cents")
_CURRENCY_CHECKS = _field_validators(SpendEventSchema, "currency")
_PARTY_ID_CHECKS = _field_validators(PartySchema, "id")
_EXTERNAL_ID_CHECKS = _field_validators(PartySchema, "external_id")
_KINDS = {k.value: k for k in EventKind}


def _fast_party(value: Any) -> spend.Party | None:
    if type(value) is not dict or len(value) != 1:
        return None
    if "id" in value:
        user_id = value["id"]
        if type(user_id) is not int:
            return None
        for check in _PARTY_ID_CHECKS:
            check(user_id)
        return spend.Party(user_id=user_id)
    external_id = value.get("external_id")
    if type(external_id) is not str:
        return None
    for check in _EXTERNAL_ID_CHECKS:
        check(external_id)
    return spend.Party(external_id=external_id)


def fast_event(item: Any) -> spend.EventIn | None:
    """Return the event SpendEventSchema would load from ``item``, or None when the item is
    not plainly valid (then load it with the schema for the errors)."""
    if type(item) is not dict or item.keys() != _EVENT_FIELDS:
        return None
    event_id, occurred_at, kind = item["event_id"], item["occurred_at"], item["kind"]
    amount, currency = item["amount_cents"], item["currency"]
    if not (
        type(event_id) is str
        and type(occurred_at) is str
        and type(kind) is str
        and type(amount) is int
        and type(currency) is str
    ):
        return None
    try:
        for checks, value in (
            (_EVENT_ID_CHECKS, event_id),
            (_KIND_CHECKS, kind),
            (_AMOUNT_CHECKS, amount),
            (_CURRENCY_CHECKS, currency),
        ):
            for check in checks:
                check(value)
        when = datetime.fromisoformat(occurred_at)  # what fields.AwareDateTime parses with
        payer, payee = _fast_party(item["payer"]), _fast_party(item["payee"])
    except (ma.ValidationError, ValueError, TypeError):
        return None
    if when.tzinfo is None or when.tzinfo.utcoffset(when) is None or not (payer and payee):
        return None
    return spend.EventIn(event_id, when, _KINDS[kind], payer, payee, amount, currency)


def fast_result(outcome: spend.Outcome) -> dict[str, Any]:
    """Return what SpendEventResultSchema dumps for the outcome."""
    return {
        "event_id": outcome.event_id,
        "kind": outcome.kind,
        "attributed": bool(outcome.attributed),
        "recorded_at": outcome.recorded_at.isoformat(),
    }


class SpendEventResultSchema(ma.Schema):
    event_id = fields.String()
    kind = fields.String()
    attributed = fields.Boolean(
        metadata={
            "description": "Whether it counted towards a referral (false for members "
            "Townhall does not know, or nobody referred)"
        },
    )
    recorded_at = fields.AwareDateTime()


class SpendEventBatchResultSchema(ma.Schema):
    results = fields.List(fields.Nested(SpendEventResultSchema))


class RewardSchema(ma.Schema):
    id = fields.Integer()
    status = fields.String()
    kind = fields.String()
    amount = fields.Integer(
        metadata={
            "description": "cents (cash, credit, revenue_share: negative for a refund's "
            "claw-back), Connects, or basis points (fee_discount: the flat "
            "service fee the relationship pays)"
        },
    )
    unit = fields.Method("_unit")
    currency = fields.String()
    program = fields.Function(lambda reward: reward.referral.program.slug)
    referral_id = fields.Integer()
    referrer = fields.Function(lambda reward: _member(reward.referral.referrer))
    referee = fields.Function(lambda reward: _member(reward.referral.referee))
    created_at = fields.AwareDateTime()
    hold_until = fields.AwareDateTime()
    approved_at = fields.AwareDateTime(allow_none=True)
    paid_at = fields.AwareDateTime(allow_none=True)
    reversed_at = fields.AwareDateTime(allow_none=True)
    reversal_reason = fields.String(allow_none=True)

    def _unit(self, reward: Any) -> str:
        if reward.kind == RewardKind.CONNECTS:
            return "connects"
        if reward.kind == RewardKind.FEE_DISCOUNT:
            return "basis_points"
        return "cents"


def _member(user: Any) -> dict[str, Any]:
    return {"id": user.id, "external_id": user.external_id}


class RewardQuerySchema(ma.Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in RewardStatus]))
    kind = fields.List(
        fields.String(validate=validate.OneOf([k.value for k in RewardKind])),
        metadata={"description": "Repeat to ask for several kinds"},
    )
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={"description": "Only rewards with a larger id"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(1, rewards.MAX_PAGE))


class RewardPageSchema(ma.Schema):
    rewards = fields.List(fields.Nested(RewardSchema))
    next_after = fields.Integer(
        allow_none=True,
        metadata={"description": "Pass as `after` for the next page; null at the end"},
    )


class MemberFactsSchema(ma.Schema):
    client = StrictBoolean(required=True)
    freelancer = StrictBoolean(required=True)
    top_rated = StrictBoolean(required=True)
    categories = fields.List(
        fields.String(),
        validate=validate.Length(max=members.MAX_CATEGORIES),
        metadata={"description": "Job categories; omit to keep them"},
    )
    email = fields.Email(metadata={"description": "Needed only to link the account the first time"})
    email_verified = StrictBoolean(load_default=False)

    @ma.post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> members.MemberFacts:
        categories = data.get("categories")
        return members.MemberFacts(
            client=data["client"],
            freelancer=data["freelancer"],
            top_rated=data["top_rated"],
            categories=None if categories is None else tuple(categories),
            email=data.get("email"),
            email_verified=data["email_verified"],
        )


class EligibilitySchema(ma.Schema):
    program = fields.String()
    name = fields.String()
    may_refer = fields.Boolean()
    reason = fields.String(metadata={"description": "Why not, when may_refer is false"})


class MemberSchema(ma.Schema):
    external_id = fields.String()
    id = fields.Integer()
    username = fields.String()
    client = fields.Boolean()
    freelancer = fields.Boolean()
    top_rated = fields.Boolean()
    categories = fields.List(fields.String())
    eligibility = fields.List(fields.Nested(EligibilitySchema))


# --- a member's own stats (read-only tokens) ----------------------------------------------


class PageQuerySchema(ma.Schema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={"description": "Only rows with a larger id"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


class RewardTotalsSchema(ma.Schema):
    count = fields.Integer()
    money_cents = fields.Integer(metadata={"description": "cash, credit and revenue share"})


class LinkStatsSchema(ma.Schema):
    code = fields.String()
    program = fields.String()
    campaign = fields.String(allow_none=True)
    target = fields.String()
    enabled = fields.Boolean()
    clicks = fields.Integer()
    sign_ups = fields.Integer()


class MeStatsSchema(ma.Schema):
    clicks = fields.Integer(metadata={"description": "clicks by people (bots left out)"})
    unique_visitors = fields.Integer()
    sign_ups = fields.Integer()
    conversion_percent = fields.Float(allow_none=True)
    referee_spend_cents = fields.Integer()
    rewards = fields.Dict(keys=fields.String(), values=fields.Nested(RewardTotalsSchema))
    links = fields.List(fields.Nested(LinkStatsSchema))


class MeReferralSchema(ma.Schema):
    id = fields.Integer()
    program = fields.Function(lambda r: r.program.slug)
    referee = fields.Function(lambda r: r.referee.username)
    clicked_at = fields.AwareDateTime()
    signed_up_at = fields.AwareDateTime(attribute="created_at")
    review_status = fields.String(
        metadata={"description": "clear, flagged (under review), approved or rejected"}
    )
    net_cents = fields.Integer(metadata={"description": "the referee's net spend or earnings"})
    rewarded_cents = fields.Integer()


class MeReferralPageSchema(ma.Schema):
    referrals = fields.List(fields.Nested(MeReferralSchema))
    next_after = fields.Integer(allow_none=True)


class MeRewardSchema(ma.Schema):
    id = fields.Integer()
    referral_id = fields.Integer()
    program = fields.Function(lambda w: w.referral.program.slug)
    kind = fields.String()
    amount = fields.Integer()
    unit = fields.Method("_unit")
    status = fields.String()
    created_at = fields.AwareDateTime()
    hold_until = fields.AwareDateTime()
    approved_at = fields.AwareDateTime(allow_none=True)
    paid_at = fields.AwareDateTime(allow_none=True)
    reversed_at = fields.AwareDateTime(allow_none=True)
    reversal_reason = fields.String(allow_none=True)

    def _unit(self, reward: Any) -> str:
        return RewardSchema()._unit(reward)


class MeRewardPageSchema(ma.Schema):
    rewards = fields.List(fields.Nested(MeRewardSchema))
    next_after = fields.Integer(allow_none=True)


# --- service fee quotes --------------------------------------------------------------------

PARTY_PATTERN = r"^(id:[1-9][0-9]{0,9}|[A-Za-z0-9][A-Za-z0-9._:-]{0,63})$"


class FeeQuoteQuerySchema(ma.Schema):
    client = fields.String(
        required=True,
        validate=validate.Regexp(PARTY_PATTERN, error="Name the member by marketplace id or id:N."),
        metadata={"description": "The paying client: the marketplace's id, or id:<Townhall id>"},
    )
    freelancer = fields.String(
        required=True,
        validate=validate.Regexp(PARTY_PATTERN, error="Name the member by marketplace id or id:N."),
        metadata={"description": "The freelancer paid, named the same way"},
    )
    amount_cents = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=spend.MAX_AMOUNT_CENTS),
        metadata={"description": "The payment, in positive whole cents (USD)"},
    )


class FeeLineSchema(ma.Schema):
    from_cents = fields.Integer(
        metadata={"description": "lifetime billings where this part starts"}
    )
    to_cents = fields.Integer()
    amount_cents = fields.Integer()
    rate_bp = fields.Integer(metadata={"description": "basis points: 2000 is 20%"})
    fee_cents_exact = fields.String(
        metadata={"description": "the part's fee before rounding, in cents, as a decimal"}
    )


class FeeQuoteSchema(ma.Schema):
    client = fields.String()
    freelancer = fields.String()
    amount_cents = fields.Integer()
    currency = fields.String()
    relationship = fields.String(metadata={"description": "standard or bring_your_own"})
    lifetime_billings_cents = fields.Integer(
        metadata={"description": "what the client paid the freelancer before, net of refunds"}
    )
    flat_rate_bp = fields.Integer(allow_none=True)
    fee_cents = fields.Integer(metadata={"description": "the sum of the lines, rounded down"})
    freelancer_receives_cents = fields.Integer()
    lines = fields.List(fields.Nested(FeeLineSchema))
    arithmetic = fields.List(fields.String())
