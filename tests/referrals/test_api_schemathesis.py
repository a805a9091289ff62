"""Schemathesis against the live app: requests generated from /api/v1/openapi.json, valid and
invalid, for every operation, on both databases. No answer may be a 500, and every answer
must match what the document says (status, content type, body schema, headers).

``TOWNHALL_FUZZ_EXAMPLES`` sets the examples per operation: modest in ``make test``, larger in
``make stress``. Generation is derandomized, so a failure reproduces on the next run.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from forum import create_app
from forum.database import utcnow
from forum.extensions import db
from referrals import rewards, spend, tokens
from referrals.programs import TierSpec
from tests.conftest import make_user
from tests.referrals.factories import counterparty, make_program, make_referral, spend_event

EXAMPLES = int(os.environ.get("TOWNHALL_FUZZ_EXAMPLES", "25"))

# A request the document calls valid may still break a rule no JSON Schema can state (a
# refund larger than what was paid, a time in the future, an email that is not verified,
# the same member on both sides, a member id nobody has): those get 422, and that is right.
CONFIG = SchemathesisConfig.from_str("""
[[operations]]
include-path = "/api/v1/spend-events"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "409", "422"]

[[operations]]
include-path-regex = "^/api/v1/members/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
include-path = "/api/v1/fees/quote"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "422"]

# The rewards list refuses unknown query parameters (unknown=RAISE, tested in test_api.py);
# at 250 examples schemathesis generates an "extra" parameter whose name does not survive
# URL encoding, sends a valid request, and reports the 200 as a schema violation accepted.
[[operations]]
include-path = "/api/v1/rewards"
checks.negative_data_rejection.enabled = false
""")


def _document_app():  # noqa: ANN202
    # The document needs no database: an in-memory SQLite app serves it at collection time.
    config = {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    return create_app(config)


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _document_app(), config=CONFIG)
# For the token checks, only requests the document calls valid: an invalid one may lack the
# Authorization header on purpose (401 whatever the token), or use another method (405).
valid_only = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json",
    _document_app(),
    config=SchemathesisConfig.from_dict({"generation": {"mode": "positive"}}),
)

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def seeded(app) -> dict[str, str]:  # noqa: ANN001
    """Rewards in every status and linked members, so that ids the fuzzer tries can exist;
    return a token for each scope: the marketplace's, and a referrer's own for ``me:read``."""
    now = utcnow()
    program = make_program(tiers=(TierSpec(100, "cash", 500),), hold_days=0)
    held = make_program(tiers=(TierSpec(100, "credit", 700),), hold_days=30)
    referrals = []
    for number, chosen in enumerate((program, program, held, held)):
        referral = make_referral(chosen)
        other = counterparty(referral)
        other.external_id = f"M-{number}"
        spend.record_event(db.session, spend_event(referral, other, 10_000), now)
        referrals.append(referral)
    first = rewards.rewards_page(db.session)[0]
    rewards.fulfil(db.session, first.id, "seed", now)
    make_user(email="linkable@example.com")
    marketplace = tokens.create_token(db.session, "fuzz-all", sorted(tokens.SCOPES), now)[1]
    referrer = referrals[0].referrer
    own = tokens.create_token(db.session, "fuzz", ["me:read"], now, owner=referrer)[1]
    db.session.flush()
    return {**dict.fromkeys(tokens.SCOPES, marketplace), **dict.fromkeys(tokens.MEMBER_SCOPES, own)}


@pytest.fixture
def tokens_lacking_one_scope(app) -> dict[str, str]:  # noqa: ANN001
    """For each scope, a token with every other scope a token of its kind can have (for
    ``me:read``, the marketplace's token with every scope)."""
    lacking = {
        scope: tokens.create_token(
            db.session, f"fuzz-no-{scope.replace(':', '-')}", set(tokens.SCOPES) - {scope}, utcnow()
        )[1]
        for scope in tokens.SCOPES
    }
    everything = tokens.create_token(db.session, "fuzz-market", sorted(tokens.SCOPES), utcnow())
    return {**lacking, **dict.fromkeys(tokens.MEMBER_SCOPES, everything[1])}


def _call(case, app, headers: dict[str, str]):  # noqa: ANN001, ANN202
    # Each call gets its own app context, as a real request does (see conftest.IsolatedClient).
    with app.app_context():
        return case.call_and_validate(app=app, headers=headers)


def _other_method(case) -> bool:  # noqa: ANN001
    return case.method.upper() != case.operation.method.upper()


@schema.parametrize()
@FUZZ
def test_every_operation_with_a_token_that_has_every_scope(case, app, seeded) -> None:  # noqa: ANN001
    secret = seeded[case.operation.definition.raw["x-scope"]]
    response = _call(case, app, {"Authorization": f"Bearer {secret}"})
    assert response.status_code < 500


@valid_only.parametrize()
@FUZZ
def test_every_operation_without_a_token_is_401(case, app) -> None:  # noqa: ANN001
    response = _call(case, app, {})
    if _other_method(case):
        assert response.status_code == 405
        return
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == ['Bearer realm="townhall"']


@valid_only.parametrize()
@FUZZ
def test_every_operation_without_its_scope_is_403(case, app, tokens_lacking_one_scope) -> None:  # noqa: ANN001, E501
    secret = tokens_lacking_one_scope[case.operation.definition.raw["x-scope"]]
    response = _call(case, app, {"Authorization": f"Bearer {secret}"})
    assert response.status_code == (405 if _other_method(case) else 403), response.text
