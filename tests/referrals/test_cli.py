"""The referrals command line: programs, tokens, the approval job, reviews, links, imports."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum.database import utcnow
from forum.extensions import db
from referrals import programs, spend, tokens
from referrals.models import (
    Affiliate,
    ApiToken,
    Link,
    Program,
    Referral,
    Reward,
    SpendEvent,
)
from referrals.programs import TierSpec
from tests.conftest import make_user
from tests.referrals.factories import counterparty, make_program, make_referral, spend_event


def _run(runner, *args):  # noqa: ANN001, ANN202
    return runner.invoke(args=list(args))


def test_setup_programs_is_idempotent_and_programs_are_editable(runner) -> None:
    first = _run(runner, "referrals", "setup-programs")
    assert first.exit_code == 0 and "Created client-refers-client" in first.output
    assert (
        "All default programs exist already." in _run(runner, "referrals", "setup-programs").output
    )
    edited = _run(
        runner,
        "referrals",
        "edit-program",
        "affiliate",
        "--hold-days",
        "45",
        "--ends-at",
        "2099-01-01T00:00:00Z",
    )
    assert edited.exit_code == 0, edited.output
    assert (
        _run(
            runner, "referrals", "edit-tier", "affiliate", "0", "--threshold-cents", "20000"
        ).exit_code
        == 0
    )
    _run(runner, "referrals", "setup-programs")
    affiliate = programs.program_by_slug(db.session, "affiliate")
    assert affiliate.hold_days == 45 and affiliate.ends_at.year == 2099
    assert affiliate.tiers[0].threshold_cents == 20_000
    refused = _run(runner, "referrals", "edit-program", "affiliate", "--attribution-days", "0")
    assert refused.exit_code != 0 and "attribution_days" in refused.output
    assert "affiliate: affiliate → client" in _run(runner, "referrals", "programs").output


def test_demo_load_sets_up_the_programs_and_a_link(runner) -> None:
    assert _run(runner, "demo", "load").exit_code == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Program)) == 5
    assert db.session.scalar(sa.select(Link.code)) == "alice"


def test_create_and_revoke_tokens(runner) -> None:
    made = _run(
        runner,
        "referrals",
        "create-token",
        "marketplace",
        "--scope",
        "events:write",
        "--scope",
        "rewards:read",
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.splitlines()[0]
    token = tokens.token_facts(db.session, secret)
    assert token.scope_set == {"events:write", "rewards:read"}
    assert db.session.scalar(sa.select(ApiToken.token_hash)) != secret
    assert (
        _run(
            runner, "referrals", "create-token", "marketplace", "--scope", "events:write"
        ).exit_code
        != 0
    )
    assert _run(runner, "referrals", "create-token", "x", "--scope", "root").exit_code != 0
    assert _run(runner, "referrals", "revoke-token", "marketplace").exit_code == 0
    assert tokens.token_facts(db.session, secret) is None


def test_approve_due(runner) -> None:
    referral = make_referral(make_program(hold_days=0, tiers=(TierSpec(100, "cash", 100),)))
    held = make_referral(make_program(tiers=(TierSpec(100, "cash", 100),)))
    for each in (referral, held):
        spend.record_event(db.session, spend_event(each, counterparty(each), 100), utcnow())
    result = _run(runner, "referrals", "approve-due")
    assert (
        result.exit_code == 0 and "Approved 0 rewards." in result.output
    )  # hold 0: approved at once
    db.session.scalar(sa.select(Reward).where(Reward.referral_id == held.id)).hold_until = utcnow()
    db.session.flush()
    assert "Approved 1 reward." in _run(runner, "referrals", "approve-due").output


def test_reverse_a_reward_as_an_admin(runner, admin, member) -> None:
    referral = make_referral(make_program(tiers=(TierSpec(100, "cash", 100),)))
    spend.record_event(db.session, spend_event(referral, counterparty(referral), 100), utcnow())
    reward = db.session.scalar(sa.select(Reward))
    not_admin = _run(
        runner,
        "referrals",
        "reverse-reward",
        str(reward.id),
        "--reason",
        "x",
        "--admin",
        member.username,
    )
    assert not_admin.exit_code != 0 and "not an admin" in not_admin.output
    done = _run(
        runner,
        "referrals",
        "reverse-reward",
        str(reward.id),
        "--reason",
        "Fraud ring",
        "--admin",
        admin.username,
    )
    assert done.exit_code == 0, done.output
    db.session.refresh(reward)
    assert (reward.status, reward.reversal_reason) == ("reversed", "Fraud ring")
    assert (
        _run(
            runner,
            "referrals",
            "reverse-reward",
            "999999",
            "--reason",
            "x",
            "--admin",
            admin.username,
        ).exit_code
        != 0
    )


def test_review_a_flagged_referral(runner, admin) -> None:
    program = make_program(tiers=(TierSpec(0, "connects", 5),))
    referral = make_referral(
        program,
        referrer=make_user(email="zed@gmail.com"),
        referee=make_user(email="z.e.d+2@gmail.com"),
    )
    assert referral.review_status == "flagged"
    result = _run(
        runner,
        "referrals",
        "review-referral",
        str(referral.id),
        "--approve",
        "--admin",
        admin.username,
        "--note",
        "Checked ID",
    )
    assert result.exit_code == 0, result.output
    db.session.refresh(referral)
    assert referral.review_status == "approved"
    assert db.session.scalar(sa.select(Reward.kind)) == "connects"
    again = _run(
        runner,
        "referrals",
        "review-referral",
        str(referral.id),
        "--reject",
        "--admin",
        admin.username,
    )
    assert again.exit_code != 0 and "not waiting for review" in again.output


def test_affiliates_and_links_from_the_command_line(runner, member) -> None:
    programs.setup_default_programs(db.session, utcnow())
    refused = _run(runner, "referrals", "create-link", member.username, "affiliate")
    assert refused.exit_code != 0 and "approved affiliates" in refused.output
    assert _run(runner, "referrals", "approve-affiliate", member.username).exit_code == 0
    assert db.session.scalar(sa.select(Affiliate.status)) == "approved"
    made = _run(
        runner,
        "referrals",
        "create-link",
        member.username,
        "affiliate",
        "--code",
        "Podcast",
        "--campaign",
        "Episode 12",
        "--target",
        "/b/clients",
    )
    assert made.exit_code == 0 and "/r/Podcast → /b/clients" in made.output
    assert _run(runner, "referrals", "create-link", "nobody", "affiliate").exit_code != 0


def _jsonl(path, lines) -> str:  # noqa: ANN001
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    )
    return str(path)


@pytest.fixture
def event_file(tmp_path):  # noqa: ANN001, ANN201
    referral = make_referral(make_program(tiers=(TierSpec(30_000, "cash", 1_000),)))
    other = counterparty(referral)
    referral.referee.external_id, other.external_id = "C-9", "F-9"
    db.session.flush()
    at = (utcnow() - timedelta(minutes=1)).isoformat()

    def event(number, amount, kind="payment"):  # noqa: ANN001, ANN202
        return {
            "event_id": f"imp-{number}",
            "occurred_at": at,
            "kind": kind,
            "payer": {"external_id": "C-9"},
            "payee": {"external_id": "F-9"},
            "amount_cents": amount,
            "currency": "USD",
        }

    lines = [event(n, 10_000) for n in range(1, 5)]
    lines.insert(2, "{this is not json")
    lines.append("")
    lines.append(event(9, 1_000_000, "refund"))
    lines.append({**event(10, 5), "currency": "EUR"})
    return referral, _jsonl(tmp_path / "events.jsonl", lines)


def test_import_events_reports_refusals_and_can_be_run_again(runner, event_file) -> None:
    referral, path = event_file
    first = _run(runner, "referrals", "import-events", path, "--chunk", "2")
    assert first.exit_code == 1
    assert "4 new, 0 already stored, 3 refused." in first.stdout
    assert "line 3: not JSON" in first.stderr
    assert "line 7: amount_cents: This refund" in first.stderr
    assert "line 8: currency: Only USD" in first.stderr
    assert first.stderr.index("line 7") < first.stderr.index("line 8")
    assert "Importing spend events" in first.stderr
    again = _run(runner, "referrals", "import-events", path)
    assert "0 new, 4 already stored, 3 refused." in again.stdout
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SpendEvent)) == 4
    db.session.refresh(referral)
    assert referral.net_cents == 40_000 and referral.event_count == 4
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Reward)) == 1
    events = db.session.scalars(sa.select(SpendEvent.source)).all()
    assert set(events) == {"import"}
    assert db.session.scalar(sa.select(Referral.id)) == referral.id


def test_an_interrupted_import_resumes_where_it_stopped(runner, tmp_path, monkeypatch) -> None:
    referral = make_referral(make_program(tiers=(TierSpec(30_000, "cash", 1_000),)))
    other = counterparty(referral)
    referral.referee.external_id, other.external_id = "C-r", "F-r"
    db.session.flush()
    at = (utcnow() - timedelta(minutes=1)).isoformat()
    lines = [
        {"event_id": f"resume-{n}", "occurred_at": at, "kind": "payment",
         "payer": {"external_id": "C-r"}, "payee": {"external_id": "F-r"},
         "amount_cents": 10_000, "currency": "USD"}
        for n in range(6)
    ]  # fmt: skip
    path = _jsonl(tmp_path / "resume.jsonl", lines)
    record, calls = spend.record_event, []

    def interrupted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        if len(calls) == 4:  # inside the second transaction, after one of its events
            raise KeyboardInterrupt
        return record(*args, **kwargs)

    monkeypatch.setattr(spend, "record_event", interrupted)
    stopped = _run(runner, "referrals", "import-events", path, "--chunk", "2")
    assert stopped.exit_code == 1 and "Aborted!" in stopped.output  # click's answer to Ctrl-C
    monkeypatch.setattr(spend, "record_event", record)
    stored = sa.select(SpendEvent.event_id).order_by(SpendEvent.event_id)
    assert db.session.scalars(stored).all() == ["resume-0", "resume-1"]  # the first chunk
    resumed = _run(runner, "referrals", "import-events", path, "--chunk", "2")
    assert resumed.exit_code == 0 and "4 new, 2 already stored, 0 refused." in resumed.stdout
    again = _run(runner, "referrals", "import-events", path)
    assert "0 new, 6 already stored, 0 refused." in again.stdout
    db.session.refresh(referral)
    assert (referral.net_cents, referral.event_count) == (60_000, 6)
    assert db.session.scalars(sa.select(Reward.amount)).all() == [1_000]


def test_import_reads_lines_as_strictly_as_the_api(runner, tmp_path) -> None:
    line = (
        '{"event_id": "a", "event_id": "b", "occurred_at": "2026-01-01T00:00:00Z", '
        '"kind": "payment", "payer": {"id": 1}, "payee": {"id": 2}, '
        '"amount_cents": AMOUNT, "currency": "USD"}'
    )
    path = _jsonl(tmp_path / "strict.jsonl", [line.replace("AMOUNT", "5")])
    result = _run(runner, "referrals", "import-events", path)
    assert result.exit_code == 1 and 'line 1: not JSON (Duplicate key "event_id"' in result.stderr
    nan = line.replace('"event_id": "a", ', "").replace("AMOUNT", "NaN")
    result = _run(runner, "referrals", "import-events", _jsonl(tmp_path / "nan.jsonl", [nan]))
    assert "line 1: not JSON (NaN is not a JSON number" in result.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SpendEvent)) == 0


def test_a_clean_import_exits_zero(runner, tmp_path) -> None:
    line = {
        "event_id": "only",
        "occurred_at": utcnow().isoformat(),
        "kind": "payment",
        "payer": {"id": 1},
        "payee": {"id": 2},
        "amount_cents": 1,
        "currency": "USD",
    }
    result = _run(runner, "referrals", "import-events", _jsonl(tmp_path / "one.jsonl", [line]))
    assert result.exit_code == 0 and "1 new" in result.stdout


def test_admin_commands_write_the_moderation_log(app, runner) -> None:
    from forum.moderation.models import ModerationAction

    programs.setup_default_programs(db.session, utcnow())
    make_user("aff")
    db.session.commit()
    for args in (
        ["referrals", "edit-program", "affiliate", "--hold-days", "10"],
        ["referrals", "approve-affiliate", "aff"],
        ["referrals", "create-token", "ops", "--scope", "fees:read"],
        ["referrals", "revoke-token", "ops"],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    actions = db.session.scalars(
        sa.select(ModerationAction.action).order_by(ModerationAction.id)
    ).all()
    assert actions == ["edit_program", "decide_affiliate", "create_token", "revoke_token"]
