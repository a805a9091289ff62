"""The machine API under /api/v1: spend events in, rewards out, member facts; bearer tokens
with scopes; an OpenAPI document generated from the schemas that validate the requests."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow as ma
import sqlalchemy as sa
from flask import Flask, g, request
from flask_smorest import Api, Blueprint, abort

from forum import jsonbodies
from forum.database import utcnow
from forum.extensions import csrf, db
from referrals import members, rewards, spend, tokens, transactions
from referrals.models import RewardKind, RewardStatus
from referrals.schemas import (
    MAX_ID,
    MemberFactsSchema,
    MemberSchema,
    PartySchema,
    RewardPageSchema,
    RewardQuerySchema,
    RewardSchema,
    SpendEventBatchResultSchema,
    SpendEventResultSchema,
    SpendEventSchema,
    fast_event,
    fast_result,
)

T = TypeVar("T")
SECURITY = [{"bearerAuth": []}]


# --- authentication and transactions ------------------------------------------------------


def require_scope(scope: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Let the view run only for a bearer token that has ``scope`` (401 without a valid
    token, 403 without the scope or when its owner is banned)."""

    def decorator(view: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
            token = None
            if scheme.lower() == "bearer":
                bind = db.session.get_bind()
                if bind.dialect.name == "sqlite" and isinstance(bind, sa.Engine):
                    # Read outside any transaction (SQLite's autocommit), on a connection of
                    # its own: a POST's transaction would take the one write lock here and
                    # hold it while the body is parsed and validated, queueing every other
                    # writer; and beginning and rolling back a read-only transaction through
                    # the session cost more than the read.
                    with bind.connect() as connection:
                        token = tokens.token_facts(connection, secret.strip())
                else:
                    # A read locks nothing: the view's work continues the transaction.
                    token = tokens.token_facts(db.session, secret.strip())
            if token is None:
                abort(
                    401,
                    message="Send a valid API token: Authorization: Bearer <token>.",
                    headers={"WWW-Authenticate": 'Bearer realm="townhall"'},
                )
            if token.owner_banned:
                abort(403, message="This token's owner is banned; their tokens read nothing.")
            if scope not in token.scope_set:
                abort(403, message=f"This token lacks the scope {scope}.")
            g.api_token_name = token.name
            g.api_token_owner_id = token.owner_id
            return view(*args, **kwargs)

        error = {"$ref": "#/components/responses/DEFAULT_ERROR"}
        return Blueprint.doc(
            security=SECURITY, responses={"401": error, "403": error}, **{"x-scope": scope}
        )(wrapper)

    return decorator


def committed(work: Callable[[], T]) -> T:
    """Run ``work`` and commit (retrying transient failures); 503 if the database stays busy."""
    try:
        return transactions.committed(work)
    except transactions.Busy:
        abort(503, message="The database is busy; please retry.", headers={"Retry-After": "1"})


def refuse_oversized_body() -> None:
    """Answer 413 for a declared body over MAX_CONTENT_LENGTH before anything reads it, even
    on endpoints that take no body, and before authentication spends any work on it."""
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        abort(413, message=f"The body is larger than the {limit:,} bytes accepted.")


def json_body(*kinds: type) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Let the view run only with a body that is strict JSON (see forum.jsonbodies), sent as
    application/json, whose top level is one of ``kinds``; put the value in ``g.json_body``.

    415 for another content type, 400 naming what is wrong with the JSON, 422 for a top level
    of another kind. Webargs would otherwise read the body with Python's lenient parser.
    """
    names = " or ".join("an object" if k is dict else "an array" for k in kinds)

    def decorator(view: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            if not request.is_json:
                abort(415, message="Send JSON, with the Content-Type application/json.")
            try:
                g.json_body = jsonbodies.loads(request.get_data(cache=True))
            except jsonbodies.InvalidJSON as error:
                abort(400, message=str(error), errors={"json": [str(error)]})
            if not isinstance(g.json_body, kinds):
                abort(422, errors={"json": {"_schema": [f"Send {names} as the body."]}})
            return view(*args, **kwargs)

        return wrapper

    return decorator


def collection_paused(view: Callable[..., T]) -> Callable[..., T]:
    """Run the view with Python's cycle collector paused.

    A batch's events, rows and results (tens of thousands of objects, freed by reference
    counting when the request ends) outlive the collector's young generations while the
    request runs, and so reach the oldest, whose collections then walk every object of the
    process: in-process, 10–15 ms a batch on average, a quarter of its CPU. Nothing a spend
    request makes needs the collector to be freed; cycles made meanwhile by anything else
    are collected once it resumes.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        if not gc.isenabled():
            return view(*args, **kwargs)
        gc.disable()
        try:
            return view(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper


def _field_errors(error: Any) -> dict[str, list[str]]:
    return {error.field: [error.message]}


# --- spend events --------------------------------------------------------------------------

events_blp = Blueprint(
    "spend-events",
    __name__,
    url_prefix="/api/v1",
    description="Money that moves on the marketplace: payments and refunds.",
)

_EVENT_REF = {"$ref": "#/components/schemas/SpendEvent"}
_EVENTS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    _EVENT_REF,
                    {
                        "type": "array",
                        "items": _EVENT_REF,
                        "minItems": 1,
                        "maxItems": spend.MAX_BATCH,
                    },
                ]
            }
        }
    },
}
_EVENTS_RESPONSE = {
    "oneOf": [
        {"$ref": "#/components/schemas/SpendEventResult"},
        {"$ref": "#/components/schemas/SpendEventBatchResult"},
    ]
}


def _load_events(body: dict | list) -> tuple[list[spend.EventIn], bool]:
    single = isinstance(body, dict)
    if not single and not 1 <= len(body) <= spend.MAX_BATCH:
        abort(422, errors={"json": {"_schema": [f"Send 1 to {spend.MAX_BATCH} events."]}})
    # Plainly valid events skip the schema machinery (even making a schema object costs more
    # than checking one event); any doubt loads the whole body with the schema, whose errors
    # name the fields (and the positions, for a batch).
    fast = [fast_event(item) for item in ([body] if single else body)]
    if all(event is not None for event in fast):
        return fast, single
    try:
        loaded = SpendEventSchema(many=not single).load(body)
    except ma.ValidationError as error:
        abort(422, errors={"json": error.messages})
    return ([loaded] if single else loaded), single


@events_blp.route("/spend-events", methods=["POST"])
@require_scope("events:write")
@collection_paused
@json_body(dict, list)
@events_blp.doc(
    summary="Record one spend event, or a batch of up to 1,000",
    description="Idempotent by `event_id`: the same event again answers exactly as the first "
    "time and changes nothing; a different event under a used id is refused (409). "
    "A batch is all or nothing: if any event is refused, none is stored, and the "
    "errors are keyed by the event's position in the array.",
    requestBody=_EVENTS_BODY,
    responses={
        "200": {
            "description": "Recorded (or recorded before)",
            "content": {"application/json": {"schema": _EVENTS_RESPONSE}},
        }
    },
)
@events_blp.alt_response(
    409, response="DEFAULT_ERROR", description="Event id used for another event"
)
@events_blp.alt_response(422, response="DEFAULT_ERROR", description="Invalid event (by field)")
def post_spend_events() -> Any:
    events, single = _load_events(g.json_body)
    try:
        outcomes = committed(lambda: spend.record_batch(db.session, events, utcnow(), "api"))
    except spend.BatchRejected as rejected:
        status = 409 if all(e.status == 409 for e in rejected.errors.values()) else 422
        if single:
            errors: dict[str, Any] = _field_errors(rejected.errors[0])
        else:
            errors = {str(i): _field_errors(e) for i, e in sorted(rejected.errors.items())}
        abort(status, errors={"json": errors})
    if single:
        return fast_result(outcomes[0])
    return {"results": [fast_result(outcome) for outcome in outcomes]}


# --- rewards -------------------------------------------------------------------------------

rewards_blp = Blueprint(
    "rewards",
    __name__,
    url_prefix="/api/v1/rewards",
    description="Rewards earned by referrers: what is due, and marking it fulfilled.",
)


@rewards_blp.route("", methods=["GET"])
@require_scope("rewards:read")
# Unknown parameters are refused, not ignored: "?stauts=approved" must not list every reward.
@rewards_blp.arguments(RewardQuerySchema, location="query", unknown=ma.RAISE)
@rewards_blp.response(200, RewardPageSchema)
@rewards_blp.doc(summary="List rewards, oldest first, filtered by status and kind")
def list_rewards(query: dict[str, Any]) -> Any:
    status = RewardStatus(query["status"]) if "status" in query else None
    kinds = [RewardKind(k) for k in query.get("kind", [])]
    page = rewards.rewards_page(db.session, status, kinds, query["after"], query["limit"])
    next_after = page[-1].id if len(page) == query["limit"] else None
    return {"rewards": page, "next_after": next_after}


@rewards_blp.route(f"/<int(max={MAX_ID}):reward_id>/fulfil", methods=["POST"])
@require_scope("rewards:write")
@rewards_blp.response(200, RewardSchema)
@rewards_blp.doc(summary="Mark an approved reward paid or applied (idempotent)")
@rewards_blp.alt_response(404, response="DEFAULT_ERROR", description="No such reward")
@rewards_blp.alt_response(409, response="DEFAULT_ERROR", description="Pending or reversed")
def fulfil_reward(reward_id: int) -> Any:
    try:
        return committed(lambda: rewards.fulfil(db.session, reward_id, g.api_token_name, utcnow()))
    except rewards.RewardNotFound:
        abort(404, message="There is no reward with that id.")
    except rewards.RewardError as error:
        abort(409, message=str(error))


# --- members -------------------------------------------------------------------------------

members_blp = Blueprint(
    "members",
    __name__,
    url_prefix="/api/v1/members",
    description="What only the marketplace knows about members.",
)


def _member_view(user: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "external_id": user.external_id,
        "id": user.id,
        "username": user.username,
        "client": user.hires,
        "freelancer": user.works,
        "top_rated": user.top_rated,
        "categories": members.categories_of(db.session, user),
        "eligibility": [
            {
                "program": program.slug,
                "name": program.name,
                "may_refer": e.allowed,
                "reason": e.reason,
            }
            for program, e in members.eligibility_by_program(db.session, user, now)
        ],
    }


@members_blp.route("/<external_id>", methods=["PUT"])
@require_scope("members:write")
@json_body(dict)
@members_blp.arguments(MemberFactsSchema)
@members_blp.response(200, MemberSchema)
@members_blp.doc(
    summary="Link a member to their marketplace id and set their marketplace facts",
    description="The first call for an id finds the Townhall account by the marketplace's "
    "verified email and links it; later calls find it by the id. The answer lists, "
    "for every program, whether the member may refer in it now, and if not, why.",
)
@members_blp.alt_response(404, response="DEFAULT_ERROR", description="No account has that email")
@members_blp.alt_response(409, response="DEFAULT_ERROR", description="Linked to someone else")
def put_member(facts: members.MemberFacts, external_id: str) -> Any:
    def work() -> dict[str, Any]:
        user = members.set_member_facts(db.session, external_id, facts, utcnow())
        return _member_view(user)

    try:
        return committed(work)
    except members.MemberError as error:
        location = "path" if error.field == "external_id" else "json"
        abort(422, errors={location: _field_errors(error)})
    except members.MemberNotFound:
        abort(404, message="No Townhall account has that email.")
    except members.MemberConflict as error:
        abort(409, message=str(error))


# --- wiring --------------------------------------------------------------------------------


for _blueprint in (events_blp, rewards_blp, members_blp):
    _blueprint.before_request(refuse_oversized_body)


class TownhallApi(Api):
    """flask-smorest's Api, minus its app-wide error handler: the forum's handlers answer for
    the whole app (pages in HTML, /api/ in JSON, field errors included)."""

    def _register_error_handlers(self) -> None:
        pass


def init_app(app: Flask) -> None:
    from referrals import stats_api

    app.config.setdefault("API_TITLE", "Townhall referrals API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = TownhallApi(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    # Registered before SpendEvent, which refers to it, so the document keeps its extra rule.
    api.spec.components.schema("Party", PartySchema.JSON_SCHEMA_EXTRA, schema=PartySchema)
    api.spec.components.schema("SpendEvent", schema=SpendEventSchema)
    api.spec.components.schema("SpendEventResult", schema=SpendEventResultSchema)
    api.spec.components.schema("SpendEventBatchResult", schema=SpendEventBatchResultSchema)
    for blueprint in (events_blp, rewards_blp, members_blp, stats_api.me_blp, stats_api.fees_blp):
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)
