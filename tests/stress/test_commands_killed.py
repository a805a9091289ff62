"""The command-line jobs under faults and races: ``referrals import-events`` killed with
SIGKILL while it loads a file of payments and refunds, or racing API clients that post the
same events; ``referrals approve-due`` killed while its approval is in flight. Afterwards
every event is stored once or not at all, the referral totals equal the stored events, every
reward exists exactly once, and running the command again finishes the job: the import ends in
exactly the state of an import that was never interrupted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from forum import create_app
from forum.database import utcnow
from forum.extensions import db
from referrals import tokens
from referrals.models import Referral, ReferrerTotal, Reward, SpendEvent
from referrals.programs import TierSpec
from tests.conftest import _test_config
from tests.referrals.factories import make_program, make_referral
from tests.stress.conftest import ROUNDS, _schema, drop_schema, fresh_schema
from tests.stress.harness import Http, in_parallel, start_command, wait_for

pytestmark = pytest.mark.stress

REFEREES = 5
EVENTS = 600
CHUNK = 40
TIERS = (TierSpec(50_000, "cash", 1_000), TierSpec(150_000, "credit", 5_000))


@pytest.fixture(scope="module")
def reference_app() -> Iterator[Flask]:
    """A second schema where the same imports run without interruption, for comparison."""
    name = f"{_schema()}_ref"
    app = create_app(_test_config(fresh_schema(name)))
    yield app
    with app.app_context():
        db.engine.dispose()
    drop_schema(name)


def _seed(prefix: str) -> None:
    """Referrals whose referees are ``<prefix>-C-<n>``, in a fresh two-tier program."""
    program = make_program(tiers=TIERS, hold_days=30)
    for number in range(REFEREES):
        referral = make_referral(program, clicked=utcnow() - timedelta(hours=2))
        referral.referee.external_id = f"{prefix}-C-{number}"
    db.session.commit()


def _write_events(path: Path, prefix: str) -> None:
    """Payments, and now and then a refund, spread over the referees in a fixed order."""
    at = utcnow() - timedelta(minutes=30)
    net = [0] * REFEREES
    with path.open("w") as file:
        for number in range(EVENTS):
            referee = number % REFEREES
            refund = number % 7 == 3 and net[referee] >= 4_000
            amount = 4_000 if refund else 1_000 + (number * 37) % 2_000
            net[referee] += -amount if refund else amount
            event = {"event_id": f"{prefix}-{number}", "kind": "refund" if refund else "payment",
                     "occurred_at": (at + timedelta(milliseconds=number)).isoformat(),
                     "payer": {"external_id": f"{prefix}-C-{referee}"},
                     "payee": {"external_id": f"{prefix}-F-{referee}"},
                     "amount_cents": amount, "currency": "USD"}  # fmt: skip
            file.write(json.dumps(event) + "\n")


def _stored(prefix: str) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).where(SpendEvent.event_id.like(f"{prefix}-%"))
    )


def _state(prefix: str) -> dict[str, Any]:
    """What an import leaves behind, named by the marketplace's ids and tier positions (row ids
    and times differ between schemas and runs)."""
    db.session.remove()
    events = db.session.execute(
        sa.select(SpendEvent.event_id, SpendEvent.kind, SpendEvent.amount_cents,
                  SpendEvent.attributed)
        .where(SpendEvent.event_id.like(f"{prefix}-%")).order_by(SpendEvent.event_id)
    ).all()  # fmt: skip
    referrals = {}
    for referral in db.session.scalars(sa.select(Referral)):
        if not (referral.referee.external_id or "").startswith(f"{prefix}-C-"):
            continue
        tiers = {tier.id: tier.position for tier in referral.program.tiers}
        rewards = db.session.scalars(
            sa.select(Reward).where(Reward.referral_id == referral.id).order_by(Reward.id)
        )
        referrals[referral.referee.external_id] = {
            "totals": (referral.net_cents, referral.event_count, referral.rewarded_cents),
            "rewards": [(tiers[r.tier_id], r.kind, r.amount, r.status) for r in rewards],
        }
    return {"events": [tuple(e) for e in events], "referrals": referrals}


def _problems(prefix: str) -> list[str]:
    """Return how the referrals' totals and rewards differ from the events stored for them."""
    db.session.remove()
    problems = []
    for referral in db.session.scalars(sa.select(Referral)):
        if not (referral.referee.external_id or "").startswith(f"{prefix}-C-"):
            continue
        signed = sa.case((SpendEvent.kind == "refund", -SpendEvent.amount_cents),
                         else_=SpendEvent.amount_cents)  # fmt: skip
        count, net = db.session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(signed), 0)).where(
                SpendEvent.payer_id == referral.referee_id
            )
        ).one()
        if (referral.event_count, referral.net_cents) != (count, net):
            problems.append(f"{referral.id}: totals {referral.event_count, referral.net_cents} "
                            f"!= stored {count, net}")  # fmt: skip
        live = db.session.scalars(
            sa.select(Reward).where(Reward.referral_id == referral.id, Reward.live_key.isnot(None))
        ).all()
        reached = sorted(t.id for t in referral.program.tiers if net >= t.threshold_cents)
        if sorted(r.tier_id for r in live) != reached:
            problems.append(f"{referral.id}: live rewards {[r.tier_id for r in live]} != {reached}")
        if referral.rewarded_cents != sum(r.amount for r in live):
            problems.append(f"{referral.id}: rewarded {referral.rewarded_cents}")
    for total in db.session.scalars(sa.select(ReferrerTotal)):
        live_sum = db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Reward.amount), 0)).where(
                Reward.program_id == total.program_id,
                Reward.referrer_id == total.referrer_id,
                Reward.live_key.isnot(None),
            )
        )
        if total.rewarded_cents != live_sum:
            problems.append(f"referrer total {total.id}: {total.rewarded_cents} != {live_sum}")
    return problems


def _activity(condition: str, application_name: str) -> int:
    """Count the command's connections in pg_stat_activity that meet ``condition``, on a
    connection of its own: the view is a snapshot taken once per transaction."""
    with db.engine.connect() as connection:
        return connection.scalar(
            sa.text(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                    f"AND {condition}"),
            {"name": application_name},
        )  # fmt: skip


def _connections(application_name: str) -> int:
    """Return how many server connections the killed command still has open."""
    return _activity("true", application_name)


def _import(url: str, path: Path, name: str) -> subprocess.Popen:
    return start_command(
        url, "referrals", "import-events", str(path), "--chunk", str(CHUNK), application_name=name
    )


def test_an_import_killed_half_way_resumes_to_the_state_of_an_uninterrupted_one(
    seeding, stress_url, reference_app, tmp_path, tally
) -> None:
    for round_number in range(ROUNDS):
        prefix = f"imp{round_number}"
        path = tmp_path / f"{prefix}.jsonl"
        _write_events(path, prefix)
        _seed(prefix)
        with reference_app.app_context():
            _seed(prefix)

        name = f"townhall-stress-{prefix}"
        process = _import(stress_url, path, name)
        kill_at = EVENTS * (2 + round_number) // 10  # 20 %, 30 %, … of the file
        wait_for(lambda: _stored(prefix) >= kill_at or process.poll() is not None, 120,
                 f"{kill_at} events imported")  # fmt: skip
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL, "the import finished before the kill"
        wait_for(lambda: _connections(name) == 0, 30, "the killed import's connection to close")
        db.session.remove()
        stored = _stored(prefix)
        assert 0 < stored < EVENTS and stored % CHUNK == 0, stored  # whole chunks, or nothing
        assert _problems(prefix) == []

        again = _import(stress_url, path, f"{name}-again")
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err[-2000:]
        assert f"{EVENTS - stored} new, {stored} already stored, 0 refused." in out
        assert _problems(prefix) == []

        reference = _import(reference_app.config["SQLALCHEMY_DATABASE_URI"], path, f"{name}-ref")
        out, err = reference.communicate(timeout=300)
        assert reference.returncode == 0, err[-2000:]
        with reference_app.app_context():
            expected = _state(prefix)
        assert len(expected["events"]) == EVENTS
        assert _state(prefix) == expected
    tally.add(
        "import-events killed with SIGKILL, re-run, compared with an uninterrupted import",
        rounds=ROUNDS,
        events=ROUNDS * EVENTS,
    )


RACERS = 6


def test_an_import_racing_api_clients_with_the_same_events_stores_each_once(
    seeding, stress_url, server, tmp_path, tally
) -> None:
    secret = tokens.create_token(db.session, "stress-import-race", ["events:write"], utcnow())[1]
    db.session.commit()
    requests = by_import = by_api = busy = 0
    for round_number in range(ROUNDS):
        prefix = f"race{round_number}"
        path = tmp_path / f"{prefix}.jsonl"
        _write_events(path, prefix)
        _seed(prefix)
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        # The API clients send the file in batches of 25, each client from another point.
        batches = [lines[n : n + 25] for n in range(0, len(lines), 25)]
        process = _import(stress_url, path, f"townhall-stress-{prefix}")

        def post(client: int, batches: list = batches) -> list[int]:
            http = Http(server.base_url)
            order = batches[client::RACERS] + batches[:client:RACERS]
            return [http.post_json("/api/v1/spend-events", b, secret).status for b in order]

        answers = in_parallel(RACERS, post)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        assert all(isinstance(a, list) for a in answers), answers
        statuses = [s for a in answers for s in a]
        requests += len(statuses)
        # Refunds posted before their payment (the import and the clients go in their own
        # orders) may be refused with 422, and a batch that kept colliding with the import
        # gets the documented 503 "busy, retry" (Retry-After: 1); both are sent again below.
        # Nothing else may fail.
        assert set(statuses) <= {200, 422, 503}, statuses
        busy += statuses.count(503)
        retry = [b for b in batches if _stored_ids(b) != {e["event_id"] for e in b}]
        for batch in retry:
            reply = Http(server.base_url).post_json("/api/v1/spend-events", batch, secret)
            assert reply.status == 200, reply.text[:500]
        requests += len(retry)
        new, replayed = (int(n) for n in re.findall(r"(\d+) new, (\d+) already stored", out)[0])
        assert new + replayed == EVENTS and "0 refused" in out, out
        by_import, by_api = by_import + new, by_api + replayed
        assert _stored(prefix) == EVENTS
        assert _problems(prefix) == []
    assert by_import and by_api, "the import and the clients must both have stored some"
    tally.add("import-events racing 6 API clients on the same events", rounds=ROUNDS,
              events=ROUNDS * EVENTS, requests=requests, stored_by_import=by_import,
              stored_by_api=by_api, answered_busy=busy)  # fmt: skip


def _stored_ids(batch: list[dict]) -> set[str]:
    ids = [event["event_id"] for event in batch]
    db.session.remove()
    return set(
        db.session.scalars(sa.select(SpendEvent.event_id).where(SpendEvent.event_id.in_(ids)))
    )


APPROVALS = 200


def test_approve_due_killed_mid_approval_approves_nothing_and_the_rerun_everything(
    seeding, stress_url, tally
) -> None:
    engine = db.engine
    for round_number in range(ROUNDS):
        program = make_program(tiers=(TierSpec(0, "connects", 5),), hold_days=30)
        for _ in range(APPROVALS):
            make_referral(program)  # threshold 0: a pending reward at sign-up
        db.session.commit()
        # The hold ends: move the rewards' hold into the past (time travel for the test).
        ids = db.session.scalars(
            sa.select(Reward.id).where(Reward.program_id == program.id).order_by(Reward.id)
        ).all()
        assert len(ids) == APPROVALS
        db.session.execute(
            sa.update(Reward).where(Reward.id.in_(ids))
            .values(hold_until=utcnow() - timedelta(minutes=1))
        )  # fmt: skip
        db.session.commit()

        # Hold one of the rows, so that the job's UPDATE has approved some rows, uncommitted,
        # and waits for this one: then kill the job, and let go.
        blocker = engine.connect()
        transaction = blocker.begin()
        victim = ids[(round_number + 1) * APPROVALS // (ROUNDS + 2)]
        blocker.execute(sa.text("SELECT 1 FROM referral_rewards WHERE id = :id FOR UPDATE"),
                        {"id": victim})  # fmt: skip
        name = f"townhall-stress-approve-{round_number}"
        process = start_command(stress_url, "referrals", "approve-due", application_name=name)
        try:
            wait_for(lambda n=name: _waiting_on_a_lock(n), 60, "approve-due to wait on the row")
            os.kill(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
        finally:
            transaction.rollback()
            blocker.close()
        wait_for(lambda n=name: _connections(n) == 0, 30, "the killed job's connection to close")
        db.session.remove()
        statuses = db.session.scalars(sa.select(Reward.status).where(Reward.id.in_(ids))).all()
        assert statuses == ["pending"] * APPROVALS, "a killed approval must leave no trace"

        again = start_command(
            stress_url, "referrals", "approve-due", application_name=f"{name}-again"
        )
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err[-2000:]
        assert out.strip() == f"Approved {APPROVALS} rewards."
        db.session.remove()
        rows = db.session.execute(
            sa.select(Reward.status, Reward.approved_at).where(Reward.id.in_(ids))
        ).all()
        assert {status for status, _ in rows} == {"approved"}
        assert len({at for _, at in rows}) == 1, "approved together, once"
    tally.add("approve-due killed with SIGKILL mid-approval, re-run", rounds=ROUNDS,
              rewards=ROUNDS * APPROVALS)  # fmt: skip


def _waiting_on_a_lock(application_name: str) -> bool:
    return bool(
        _activity(
            "wait_event_type = 'Lock' AND query ILIKE 'UPDATE referral_rewards%'", application_name
        )
    )
