"""Spend events against the real server: many clients posting the same event, events that
cross thresholds together, and worker processes killed with SIGKILL while batches stream in.

Each case runs ROUNDS times on fresh referrals; afterwards every event is stored once or not
at all, every batch wholly or not at all, the referral totals equal the sum of the stored
events, and every reward exists exactly once.
"""

from __future__ import annotations

import http.client
import os
import queue
import random
import signal
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from forum.database import utcnow
from forum.extensions import db
from referrals import tokens
from referrals.models import Referral, Reward, SpendEvent
from referrals.programs import TierSpec
from tests.referrals.factories import counterparty, make_program, make_referral
from tests.stress.conftest import ROUNDS
from tests.stress.harness import Http, in_parallel, wait_for

pytestmark = pytest.mark.stress

CLIENTS = 12
TIERS = (TierSpec(50_000, "cash", 1_000), TierSpec(100_000, "credit", 5_000))


def _token(name: str) -> str:
    return tokens.create_token(db.session, name, ["events:write"], utcnow())[1]


def _referrals(prefix: str, count: int) -> list[tuple[int, str]]:
    """Create ``count`` client referrals in a two-tier program; return (referral id, the
    referee's marketplace id) for each."""
    program = make_program(tiers=TIERS)
    made = []
    for number in range(count):
        referral = make_referral(program)
        referral.referee.external_id = f"{prefix}-C-{number}"
        counterparty(referral).external_id = f"{prefix}-F-{number}"
        made.append((referral.id, referral.referee.external_id))
    db.session.commit()
    return made


def _event(event_id: str, payer: str, payee: str, amount: int) -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": utcnow().isoformat(), "kind": "payment",
            "payer": {"external_id": payer}, "payee": {"external_id": payee},
            "amount_cents": amount, "currency": "USD"}  # fmt: skip


def _problems_with_totals(referral_id: int, event_prefix: str) -> list[str]:
    """Return how the referral's totals and rewards differ from its stored events."""
    referral = db.session.get(Referral, referral_id)
    stored = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(SpendEvent.amount_cents), 0)).where(
            SpendEvent.event_id.like(f"{event_prefix}%")
        )
    ).one()
    problems = []
    if (referral.event_count, referral.net_cents) != tuple(stored):
        problems.append(f"referral {referral_id}: totals {referral.event_count, referral.net_cents}"
                        f" but stored {tuple(stored)}")  # fmt: skip
    rewards = db.session.scalars(sa.select(Reward).where(Reward.referral_id == referral_id)).all()
    reached = [
        tier for tier in referral.program.tiers if referral.net_cents >= tier.threshold_cents
    ]
    if sorted(r.tier_id for r in rewards) != sorted(t.id for t in reached):
        granted = [(r.tier_id, r.status) for r in rewards]
        problems.append(f"referral {referral_id}: rewards {granted} for tiers {reached}")
    rewarded = sum(r.amount for r in rewards if r.kind in ("cash", "credit"))
    if referral.rewarded_cents != rewarded:
        problems.append(f"referral {referral_id}: rewarded {referral.rewarded_cents} != {rewarded}")
    return problems


def test_many_clients_posting_the_same_event_store_it_once(seeding, server, tally) -> None:
    secret = _token("stress-same-event")
    referrals = _referrals("same", ROUNDS)
    for round_number, (_, payer) in enumerate(referrals):
        body = _event(f"same-{round_number}", payer, f"same-F-{round_number}", 120_000)
        replies = in_parallel(
            CLIENTS,
            lambda _, body=body: Http(server.base_url).post_json(
                "/api/v1/spend-events", body, secret
            ),
        )
        assert [getattr(r, "status", r) for r in replies] == [200] * CLIENTS
        assert len({r.body for r in replies}) == 1, "every answer must be the first answer"
    db.session.remove()
    for round_number, (referral_id, _) in enumerate(referrals):
        assert _problems_with_totals(referral_id, f"same-{round_number}") == []
        assert db.session.get(Referral, referral_id).event_count == 1
    tally.add("same event from 12 clients", rounds=ROUNDS, requests=ROUNDS * CLIENTS)


def test_events_that_cross_thresholds_together_grant_each_reward_once(
    seeding, server, tally
) -> None:
    secret = _token("stress-threshold")
    referrals = _referrals("cross", ROUNDS)
    requests = 0
    for round_number, (referral_id, payer) in enumerate(referrals):
        # Twelve clients at once, each 10,000 cents to a different freelancer (so nothing but the
        # referral's own lock orders them): together they cross both tiers. Every third client
        # sends a batch of two halves instead.
        def send(client: int, round_number: int = round_number, payer: str = payer) -> Any:
            prefix = f"cross-{round_number}-{client}"
            payee = f"cross-F-{round_number}-{client}"
            if client % 3 == 0:
                body: Any = [_event(f"{prefix}-a", payer, payee, 5_000),
                             _event(f"{prefix}-b", payer, payee, 5_000)]  # fmt: skip
            else:
                body = _event(prefix, payer, payee, 10_000)
            return Http(server.base_url).post_json("/api/v1/spend-events", body, secret)

        replies = in_parallel(CLIENTS, send)
        requests += CLIENTS
        assert [getattr(r, "status", r) for r in replies] == [200] * CLIENTS
        db.session.remove()
        assert _problems_with_totals(referral_id, f"cross-{round_number}-") == []
        referral = db.session.get(Referral, referral_id)
        assert referral.net_cents == CLIENTS * 10_000
        assert db.session.scalar(
            sa.select(sa.func.count()).select_from(Reward).where(Reward.referral_id == referral_id)
        ) == len(TIERS)
    tally.add("events crossing two thresholds together", rounds=ROUNDS, requests=requests)


BATCHES = 10
# Large enough that a round's batches take a while even now that a batch is fast: a kill has
# to land while workers are busy with them.
BATCH_SIZE = 200
STREAMS = 6


def _stream(
    base_url: str,
    secret: str,
    batches: dict[int, list[dict]],
    answers: dict[int, int | str] | None = None,
) -> dict[int, int | str]:
    """Post the batches from STREAMS client threads; return each batch's status, or the
    error's name when the connection broke. ``answers`` fills as they come (for watchers)."""
    work: queue.Queue[int] = queue.Queue()
    for number in batches:
        work.put(number)
    answers = {} if answers is None else answers

    def client(_: int) -> None:
        while True:
            try:
                number = work.get_nowait()
            except queue.Empty:
                return
            try:
                reply = Http(base_url).post_json("/api/v1/spend-events", batches[number], secret)
                answers[number] = reply.status
            # The worker died under this request: before the answer (a reset connection), or
            # while sending it (http.client's IncompleteRead or BadStatusLine).
            except (OSError, http.client.HTTPException) as error:
                answers[number] = type(error).__name__

    in_parallel(STREAMS, client)
    return answers


def test_a_worker_killed_mid_batch_leaves_each_batch_whole_or_absent(
    seeding, server, tally
) -> None:
    secret = _token("stress-kill-worker")
    referrals = _referrals("kill", ROUNDS)
    requests = kills = broken = 0
    for round_number, (referral_id, payer) in enumerate(referrals):
        batches = {
            b: [_event(f"kill-{round_number}-{b}-{n}", payer, f"kill-F-{round_number}", 300)
                for n in range(BATCH_SIZE)]
            for b in range(BATCHES)
        }  # fmt: skip
        done = threading.Event()
        answers: dict[int, int | str] = {}

        def killer(
            round_number: int = round_number,
            done: threading.Event = done,
            answers: dict[int, int | str] = answers,
        ) -> None:
            nonlocal kills
            # Kill a worker twice per round while the streams keep every worker busy: after
            # a number of answers (not after a time, which a fast or a loaded machine turns
            # into "before the first request" or "after the last"), differing per round.
            chance = random.Random(round_number)  # noqa: S311 - timing, not secrecy
            for after in sorted(chance.sample(range(1, BATCHES - STREAMS // 2), 2)):
                while len(answers) < after:
                    if done.wait(0.002):
                        return
                workers = server.worker_pids()
                if not workers:  # all being replaced: try at the next answer
                    continue
                time.sleep(chance.uniform(0, 0.01))
                try:
                    os.kill(chance.choice(workers), signal.SIGKILL)
                except ProcessLookupError:  # it exited since it was listed (replaced): skip
                    continue
                kills += 1

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        _stream(server.base_url, secret, batches, answers)
        done.set()
        thread.join(timeout=30)
        requests += len(answers)
        assert not any(isinstance(a, int) and a >= 500 and a != 503 for a in answers.values()), (
            answers
        )
        failed = [b for b, a in answers.items() if a != 200]
        broken += len(failed)

        db.session.remove()
        for number in batches:
            stored = db.session.scalar(
                sa.select(sa.func.count()).where(
                    SpendEvent.event_id.like(f"kill-{round_number}-{number}-%")
                )
            )
            expected = {BATCH_SIZE} if answers[number] == 200 else {0, BATCH_SIZE}
            assert stored in expected, (number, answers[number], stored)
        assert _problems_with_totals(referral_id, f"kill-{round_number}-") == []

        # Retrying the failed batches converges: each is then stored exactly once.
        server.wait_until_ready()
        for attempt in range(5):
            if not failed:
                break
            answers = _stream(server.base_url, secret, {b: batches[b] for b in failed})
            requests += len(answers)
            failed = [b for b, a in answers.items() if a != 200]
            time.sleep(0.5 * attempt)
        assert failed == []
        db.session.remove()
        assert _problems_with_totals(referral_id, f"kill-{round_number}-") == []
        referral = db.session.get(Referral, referral_id)
        assert referral.event_count == BATCHES * BATCH_SIZE
        assert referral.net_cents == BATCHES * BATCH_SIZE * 300
    assert broken >= 1, "no kill landed during a request: the test proved nothing"
    tally.add(
        "worker SIGKILL during batch streams",
        rounds=ROUNDS,
        requests=requests,
        events=ROUNDS * BATCHES * BATCH_SIZE,
        kills=kills,
        broken_requests=broken,
    )
    wait_for(lambda: len(server.worker_pids()) == server.workers, 30, "the workers to be back")
