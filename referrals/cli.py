"""Command-line commands for the referral engine: programs, tokens, the approval job, reviews,
and importing spend events."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import Any

import click
import marshmallow as ma
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from forum import jsonbodies
from forum.accounts.models import User
from forum.accounts.service import username_key
from forum.database import utcnow
from forum.extensions import db
from referrals import (
    affiliates,
    attribution,
    audit,
    links,
    programs,
    rewards,
    spend,
    tokens,
    transactions,
)
from referrals.audit import AdminAct
from referrals.schemas import SpendEventSchema

referrals_cli = click.Group("referrals", help="Referral programs, API tokens, rewards, events.")


def _member(username: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.username_key == username_key(username)))
    if user is None:
        raise click.ClickException(f"No member is called {username!r}.")
    return user


def _admin(username: str) -> User:
    user = _member(username)
    if not user.is_admin:
        raise click.ClickException(f"{user.username} is not an admin.")
    return user


def _program(slug: str) -> Any:
    try:
        return programs.program_by_slug(db.session, slug)
    except programs.ProgramNotFound:
        raise click.ClickException(f"No program has the slug {slug!r}.") from None


def on_demo_loaded(sender: Any, session: Session, **extra: Any) -> None:
    """Give the demo the default programs and a link to click (``/r/alice``)."""
    now = utcnow()
    programs.setup_default_programs(session, now)
    alice = session.scalar(sa.select(User).where(User.username_key == "alice"))
    if alice is not None:
        client_program = programs.program_by_slug(session, "client-refers-client")
        links.create_link(session, alice, client_program, now, code="alice", target="/")


# --- programs ------------------------------------------------------------------------------


@referrals_cli.command("setup-programs")
def setup_programs() -> None:
    """Create the default programs that do not exist yet (edited ones are left alone)."""
    created = programs.setup_default_programs(db.session, utcnow())
    db.session.commit()
    if not created:
        click.echo("All default programs exist already.")
    for program in created:
        click.echo(f"Created {program.slug}")


@referrals_cli.command("programs")
def list_programs() -> None:
    """List the programs and their tiers."""
    for program in db.session.scalars(sa.select(programs.Program).order_by(programs.Program.id)):
        running = "running" if program.is_running(utcnow()) else "not running"
        click.echo(
            f"{program.slug}: {program.referrer_kind} → {program.referee_kind}, "
            f"{program.attribution_days} days to sign up, {program.hold_days} days' hold, "
            f"{running}"
        )
        for tier in program.tiers:
            click.echo(
                f"  tier {tier.position}: at {rewards.format_cents(tier.threshold_cents)} "
                f"→ {tier.reward_kind} {tier.reward_amount}"
            )


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time.") from None
    if moment.tzinfo is None:
        raise click.BadParameter("Give the time with its UTC offset, e.g. 2026-01-01T00:00:00Z.")
    return moment


@referrals_cli.command("edit-program")
@click.argument("slug")
@click.option("--name")
@click.option("--attribution-days", type=int)
@click.option("--hold-days", type=int)
@click.option("--referrer-cap-cents", type=int)
@click.option("--referee-cap-cents", type=int)
@click.option("--starts-at", help="ISO 8601 with offset")
@click.option("--ends-at", help="ISO 8601 with offset, or 'never'")
def edit_program(slug: str, **options: Any) -> None:
    """Change a program's settings (from now on; granted rewards keep their amounts)."""
    program = _program(slug)
    changes = {
        k: v for k, v in options.items() if v is not None and k not in ("starts_at", "ends_at")
    }
    if options["starts_at"]:
        changes["starts_at"] = _when(options["starts_at"])
    if options["ends_at"]:
        changes["ends_at"] = None if options["ends_at"] == "never" else _when(options["ends_at"])
    try:
        programs.update_program(db.session, program, changes, utcnow())
    except programs.ProgramError as error:
        raise click.ClickException(f"{error.field}: {error.message}") from None
    detail = ", ".join(f"{k}: {v}" for k, v in changes.items())
    audit.record(db.session, None, AdminAct.EDIT_PROGRAM, detail=f"{slug}: {detail} (command)")
    db.session.commit()
    click.echo(f"Updated {slug}.")


@referrals_cli.command("edit-tier")
@click.argument("slug")
@click.argument("position", type=int)
@click.option("--threshold-cents", type=int)
@click.option("--reward-amount", type=int)
@click.option("--share-months", type=int)
@click.option("--share-cap-cents", type=int)
def edit_tier(slug: str, position: int, **options: Any) -> None:
    """Change a tier of a program (its threshold, amount, revenue share months or cap)."""
    program = _program(slug)
    tier = next((t for t in program.tiers if t.position == position), None)
    if tier is None:
        raise click.ClickException(f"{slug} has no tier {position}.")
    changes = {k: v for k, v in options.items() if v is not None}
    try:
        programs.update_tier(db.session, tier, changes, utcnow())
    except programs.ProgramError as error:
        raise click.ClickException(f"{error.field}: {error.message}") from None
    detail = ", ".join(f"{k}: {v}" for k, v in changes.items())
    audit.record(
        db.session, None, AdminAct.EDIT_TIER, detail=f"{slug} tier {position}: {detail} (command)"
    )
    db.session.commit()
    click.echo(f"Updated tier {position} of {slug}.")


@referrals_cli.command("approve-affiliate")
@click.argument("username")
@click.option("--reject", is_flag=True, help="Reject instead of approving.")
def approve_affiliate(username: str, reject: bool) -> None:
    """Approve (or reject) a member as an affiliate."""
    member = _member(username)
    affiliate = affiliates.decide(db.session, member, not reject, None, utcnow())
    audit.record(
        db.session, None, AdminAct.DECIDE_AFFILIATE,
        detail=f"affiliate {'declined' if reject else 'approved'} (command)",
        target_user_id=member.id,
    )  # fmt: skip
    db.session.commit()
    click.echo(f"{username} is {affiliate.status} as an affiliate.")


@referrals_cli.command("create-link")
@click.argument("username")
@click.argument("program_slug")
@click.option("--code", help="Default: a random code.")
@click.option("--campaign")
@click.option("--target", default="/", show_default=True, help="A path on this site.")
def create_link(
    username: str, program_slug: str, code: str | None, campaign: str | None, target: str
) -> None:
    """Create a referral link for a member."""
    try:
        link = links.create_link(
            db.session,
            _member(username),
            _program(program_slug),
            utcnow(),
            code=code,
            campaign=campaign,
            target=target,
        )
    except links.LinkError as error:
        raise click.ClickException(f"{error.field}: {error.message}") from None
    db.session.commit()
    click.echo(f"/r/{link.code} → {link.target}")


# --- tokens --------------------------------------------------------------------------------


@referrals_cli.command("create-token")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(sorted(tokens.SCOPES)),
    help="Repeat for several scopes.",
)
def create_token(name: str, scopes: tuple[str, ...]) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    try:
        token, secret = tokens.create_token(db.session, name, scopes, utcnow())
    except tokens.TokenError as error:
        raise click.ClickException(str(error)) from None
    audit.record(
        db.session, None, AdminAct.CREATE_TOKEN, detail=f"token {name} ({token.scopes}) (command)"
    )
    db.session.commit()
    click.echo(secret)
    click.echo(
        f"Token {name!r} ({', '.join(sorted(scopes))}). Store it now: it is not shown again.",
        err=True,
    )


@referrals_cli.command("revoke-token")
@click.argument("name")
def revoke_token(name: str) -> None:
    """Revoke an API token by name."""
    try:
        tokens.revoke_token(db.session, name, utcnow())
    except tokens.TokenError as error:
        raise click.ClickException(str(error)) from None
    audit.record(db.session, None, AdminAct.REVOKE_TOKEN, detail=f"token {name} (command)")
    db.session.commit()
    click.echo(f"Revoked {name!r}.")


# --- rewards and reviews -------------------------------------------------------------------


@referrals_cli.command("approve-due")
def approve_due() -> None:
    """Approve the rewards whose hold has ended (safe to run from several workers at once)."""
    count = _retrying(lambda: rewards.approve_due(db.session, utcnow()))
    click.echo(f"Approved {count} reward{'s' if count != 1 else ''}.")


@referrals_cli.command("reverse-reward")
@click.argument("reward_id", type=int)
@click.option("--reason", required=True)
@click.option("--admin", "admin_name", required=True, help="The admin taking the decision.")
def reverse_reward(reward_id: int, reason: str, admin_name: str) -> None:
    """Reverse a pending or approved reward, with the reason."""
    admin = _admin(admin_name)
    try:
        reward = rewards.reverse_reward(db.session, reward_id, admin, reason, utcnow())
    except rewards.RewardNotFound:
        raise click.ClickException(f"There is no reward {reward_id}.") from None
    except rewards.RewardError as error:
        raise click.ClickException(str(error)) from None
    audit.record(
        db.session, admin, AdminAct.REVERSE_REWARD, reason=reward.reversal_reason or "",
        detail=f"reward {reward_id} (command)", target_user_id=reward.referrer_id,
    )  # fmt: skip
    db.session.commit()
    click.echo(f"Reversed reward {reward_id}.")


@referrals_cli.command("review-referral")
@click.argument("referral_id", type=int)
@click.option("--approve/--reject", required=True)
@click.option("--admin", "admin_name", required=True, help="The admin taking the decision.")
@click.option("--note", default="")
def review_referral(referral_id: int, approve: bool, admin_name: str, note: str) -> None:
    """Approve or reject a referral flagged as possible self-referral."""
    admin = _admin(admin_name)
    try:
        referral = attribution.review_referral(
            db.session, referral_id, admin, approve, note, utcnow()
        )
    except attribution.ReviewError as error:
        raise click.ClickException(str(error)) from None
    audit.record(
        db.session, admin, AdminAct.REVIEW_REFERRAL, reason=note,
        detail=f"referral {referral_id} {referral.review_status} (command)",
        target_user_id=referral.referrer_id,
    )  # fmt: skip
    db.session.commit()
    click.echo(f"Referral {referral_id} is {referral.review_status}.")


# --- importing events ----------------------------------------------------------------------


def _retrying(work: Any) -> Any:
    """Run ``work`` and commit, retrying deadlocks, busy databases and lost event races."""
    try:
        return transactions.committed(work)
    except transactions.Busy:
        raise click.ClickException("The database stayed busy; run the command again.") from None


def _first_message(messages: Any, path: str = "") -> str:
    """Return "field: problem" for the first problem in marshmallow's nested messages."""
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        return _first_message(value, f"{path}.{key}" if path else str(key))
    if isinstance(messages, list) and messages:
        return _first_message(messages[0], path)
    return f"{path}: {messages}" if path else str(messages)


@referrals_cli.command("import-events")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--chunk", default=500, show_default=True, help="Events per transaction.")
def import_events(path: str, chunk: int) -> None:
    """Load spend events from a JSON-lines file (one event per line, as in the API).

    Events go through the same checks and code as the API, one transaction per chunk. Events
    already stored are skipped unchanged, so an interrupted import can simply be run again.
    Refused lines are reported with their line number; the others are kept.
    """
    schema = SpendEventSchema()
    counts = {"new": 0, "replayed": 0, "refused": 0}
    problems: list[tuple[int, str]] = []
    pending: list[tuple[int, spend.EventIn]] = []

    def flush() -> None:
        def work() -> list[tuple[int, spend.Outcome | spend.SpendError]]:
            now = utcnow()
            results: list[tuple[int, spend.Outcome | spend.SpendError]] = []
            for number, event in pending:
                try:
                    results.append((number, spend.record_event(db.session, event, now, "import")))
                except spend.SpendError as error:
                    results.append((number, error))
            return results

        for number, result in _retrying(work):
            if isinstance(result, spend.SpendError):
                counts["refused"] += 1
                problems.append((number, f"{result.field}: {result.message}"))
            else:
                counts["replayed" if result.replayed else "new"] += 1
        pending.clear()

    with (
        open(path, "rb") as lines,
        click.progressbar(
            length=os.path.getsize(path),
            label="Importing spend events",
            file=sys.stderr,
        ) as bar,
    ):
        for number, raw in enumerate(lines, 1):
            bar.update(len(raw))
            if not raw.strip():
                continue
            try:
                pending.append((number, schema.load(jsonbodies.loads(raw))))
            except ValueError as error:  # not strict JSON, as the API reads it (forum.jsonbodies)
                counts["refused"] += 1
                problems.append((number, f"not JSON ({error})"))
            except ma.ValidationError as error:
                counts["refused"] += 1
                problems.append((number, _first_message(error.messages)))
            if len(pending) >= chunk:
                flush()
        flush()
    click.echo(
        f"{counts['new']} new, {counts['replayed']} already stored, {counts['refused']} refused."
    )
    for number, problem in sorted(problems)[:50]:
        click.echo(f"line {number}: {problem}", err=True)
    if len(problems) > 50:
        click.echo(f"… and {len(problems) - 50} more.", err=True)
    if problems:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(referrals_cli)
