"""Command-line commands: demo data, account administration, and the email outbox."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask, current_app

from forum import demo, outbox
from forum.accounts.models import Role, User
from forum.accounts.service import username_key
from forum.extensions import db
from forum.moderation import roles
from forum.moderation.errors import ModerationError
from forum.notifications import emails
from forum.signals import demo_loaded

demo_cli = click.Group("demo", help="Demo data for trying Townhall out.")
users_cli = click.Group("users", help="Manage member accounts.")
outbox_cli = click.Group("outbox", help="Send the emails queued in the database.")


@demo_cli.command("load")
def load_demo() -> None:
    """Load demo boards, accounts and threads into an empty database."""
    accounts = demo.load(db.session, current_app.config["PASSWORD_HASH_METHOD"])
    if accounts is None:
        click.echo("The database already has accounts; demo data not loaded.")
        return
    demo_loaded.send(current_app._get_current_object(), session=db.session)
    db.session.commit()
    click.echo("Demo data loaded. Sign in with any of:")
    for account in accounts:
        click.echo(f"  {account.username:<10} {account.password:<20} ({account.role.value})")


@users_cli.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice([r.value for r in Role]))
@click.option("--reason", default="", help="Why; kept in the moderation log.")
def set_role(username: str, role: str, reason: str) -> None:
    """Give USERNAME the ROLE member, moderator or admin (logged in the moderation log)."""
    user = db.session.scalar(sa.select(User).where(User.username_key == username_key(username)))
    if user is None:
        raise click.ClickException(f"No member is called {username!r}.")
    try:
        outcome = roles.set_role(db.session, None, user.id, role, reason)
    except ModerationError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(outcome.message)


@outbox_cli.command("send")
@click.option("--limit", type=int, default=None, help="Send at most this many emails.")
def outbox_send(limit: int | None) -> None:
    """Queue due notification emails, then send every queued email.

    Safe to run from several workers at once; run it every minute (cron, systemd timer).
    Sends through SMTP_URL, or prints the emails when it is not set.
    """
    queued = emails.queue_due_emails(db.session)
    db.session.commit()
    transport = outbox.transport_for(current_app.config)
    sent, failed = outbox.drain(db.session, transport, current_app.config["MAIL_FROM"], limit)
    click.echo(f"{queued} notification emails queued; {sent} emails sent, {failed} failed.")


@outbox_cli.command("digest")
def outbox_digest() -> None:
    """Queue the daily digest for every member who has one due (send them with `send`).

    Run it hourly or daily: a member gets at most one digest a day.
    """
    queued = emails.queue_digests(db.session)
    db.session.commit()
    click.echo(f"{queued} digests queued.")


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(outbox_cli)
