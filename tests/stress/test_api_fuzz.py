"""Schemathesis against the real server: requests generated from /api/v1/openapi.json, valid
and invalid, sent over HTTP to gunicorn on PostgreSQL with a token that has every scope. No
answer may be a 500 (the server's log is checked too), and every answer must match the
document. More examples per operation than the in-process run of ``make test``."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from forum.database import utcnow
from forum.extensions import db
from referrals import rewards, spend, tokens
from referrals.programs import TierSpec
from tests.conftest import make_user
from tests.referrals.factories import counterparty, make_program, make_referral, spend_event
from tests.referrals.test_api_schemathesis import CONFIG, _document_app

pytestmark = pytest.mark.stress

EXAMPLES = int(os.environ.get("TOWNHALL_STRESS_FUZZ_EXAMPLES", "250"))


def _document() -> dict:
    app = _document_app()
    return app.test_client().get("/api/v1/openapi.json").json


schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)


@pytest.fixture(scope="module")
def live_token(stress_app) -> str:  # noqa: ANN001
    """A token with every scope, and rewards in every status for the ids the fuzzer tries."""
    with stress_app.app_context():
        now = utcnow()
        for hold_days in (0, 0, 30):
            referral = make_referral(make_program(tiers=(TierSpec(100, "cash", 500),),
                                                  hold_days=hold_days))  # fmt: skip
            other = counterparty(referral)
            spend.record_event(db.session, spend_event(referral, other, 10_000), now)
        rewards.fulfil(db.session, rewards.rewards_page(db.session)[0].id, "seed", now)
        make_user(email="fuzz-linkable@example.com")
        secret = tokens.create_token(db.session, "stress-fuzz", sorted(tokens.SCOPES), now)[1]
        db.session.commit()
        db.session.remove()
    return secret


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_the_live_server_answers_every_generated_request_by_its_document(
    case, server, live_token, tally
) -> None:  # noqa: ANN001
    response = case.call(
        base_url=server.base_url, headers={"Authorization": f"Bearer {live_token}"}, timeout=60
    )
    if response.status_code == 414 and not response.headers.get("Content-Type", "").startswith(
        "application/json"
    ):
        # A request line past gunicorn's limit (4,094 bytes) is refused by gunicorn itself,
        # with its own HTML page, before the app sees it (a reverse proxy does the same).
        tally.add("schemathesis against gunicorn", refused_by_gunicorn_414=1)
        return
    case.validate_response(response)
    assert response.status_code < 500
    tally.add("schemathesis against gunicorn", generated_cases=1)
