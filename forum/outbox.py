"""The outbox: emails queued in the database with the change that causes them, sent later.

Queuing an email is a row in the same transaction as the event, so an email goes out only
if the event was committed, and a slow or failing mail server never slows a page.
``flask --app forum outbox send`` drains it, from as many workers as you like: each claims a
batch with one UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers never wait for
each other), commits, sends, then records the outcome. A worker that dies mid-batch leaves
its rows "sending"; they are claimed again after CLAIM_TIMEOUT, so delivery is at least once.
Failures are retried with a growing delay, MAX_ATTEMPTS times in all.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Protocol, TextIO
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from forum.database import UTCDateTime, utcnow
from forum.extensions import db

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
CLAIM_TIMEOUT = timedelta(minutes=15)
BATCH_SIZE = 50


class OutboxStatus:
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxEmail(db.Model):
    __tablename__ = "outbox_emails"
    __table_args__ = (sa.Index("ix_outbox_emails_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str | None] = mapped_column(sa.Text)
    # Extra headers, e.g. List-Unsubscribe.
    headers: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    # What the email is about ("notification", "digest", "invitation", ...), for operators.
    kind: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(10), default=OutboxStatus.QUEUED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))

    def __repr__(self) -> str:
        return f"<OutboxEmail {self.id} {self.kind} to={self.to_address!r} {self.status}>"


def enqueue(
    session: Session,
    to: str,
    subject: str,
    text_body: str,
    *,
    kind: str,
    html_body: str | None = None,
    headers: dict[str, str] | None = None,
) -> OutboxEmail:
    """Queue an email (added to the session, not committed) and return it."""
    now = utcnow()
    email = OutboxEmail(
        to_address=to,
        subject=" ".join(subject.split())[:300],
        text_body=text_body,
        html_body=html_body,
        headers=dict(headers or {}),
        kind=kind,
        status=OutboxStatus.QUEUED,
        created_at=now,
        next_attempt_at=now,
        attempts=0,
    )
    session.add(email)
    return email


@dataclass(frozen=True)
class ClaimedEmail:
    """An email a worker has claimed: plain values, usable after the claim is committed."""

    id: int
    to_address: str
    subject: str
    text_body: str
    html_body: str | None
    headers: dict[str, str]
    attempts: int


def claim(
    session: Session, limit: int = BATCH_SIZE, now: datetime | None = None
) -> list[ClaimedEmail]:
    """Claim up to ``limit`` emails due for sending and return them; the caller commits.

    Emails claimed by a worker that stopped more than CLAIM_TIMEOUT ago count as due.
    """
    now = now or utcnow()
    due = sa.or_(
        sa.and_(OutboxEmail.status == OutboxStatus.QUEUED, OutboxEmail.next_attempt_at <= now),
        sa.and_(
            OutboxEmail.status == OutboxStatus.SENDING, OutboxEmail.claimed_at < now - CLAIM_TIMEOUT
        ),
    )
    candidates = sa.select(OutboxEmail.id).where(due).order_by(OutboxEmail.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    rows = session.execute(
        sa.update(OutboxEmail)
        # `due` again: on SQLite the rows are re-checked under the write lock.
        .where(OutboxEmail.id.in_(candidates.scalar_subquery()), due)
        .values(status=OutboxStatus.SENDING, claimed_at=now, attempts=OutboxEmail.attempts + 1)
        .returning(
            OutboxEmail.id,
            OutboxEmail.to_address,
            OutboxEmail.subject,
            OutboxEmail.text_body,
            OutboxEmail.html_body,
            OutboxEmail.headers,
            OutboxEmail.attempts,
        )
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((ClaimedEmail(*row) for row in rows), key=lambda email: email.id)


def mark_sent(session: Session, email_id: int, now: datetime | None = None) -> None:
    session.execute(
        sa.update(OutboxEmail)
        .where(OutboxEmail.id == email_id)
        .values(status=OutboxStatus.SENT, sent_at=now or utcnow(), last_error=None)
    )


def mark_failed(
    session: Session, email: ClaimedEmail, error: str, now: datetime | None = None
) -> None:
    """Record a failed attempt: retry later with a growing delay, or give up."""
    now = now or utcnow()
    final = email.attempts >= MAX_ATTEMPTS
    session.execute(
        sa.update(OutboxEmail)
        .where(OutboxEmail.id == email.id)
        .values(
            status=OutboxStatus.FAILED if final else OutboxStatus.QUEUED,
            next_attempt_at=now + timedelta(minutes=2**email.attempts),
            last_error=error[:1000],
        )
    )


def to_message(email: ClaimedEmail, sender: str) -> EmailMessage:
    """Return the email as a MIME message ready for SMTP."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to_address
    message["Subject"] = email.subject
    domain = sender.rsplit("@", 1)[-1].strip(" >") or "townhall.invalid"
    message["Message-ID"] = make_msgid(idstring=f"outbox-{email.id}", domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (email.headers or {}).items():
        message[name] = value
    message.set_content(email.text_body)
    if email.html_body:
        message.add_alternative(email.html_body, subtype="html")
    return message


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class ConsoleTransport:
    """Development: print each email instead of sending it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(self, message: EmailMessage) -> None:
        logger.info("email to %s: %s", message["To"], message["Subject"])
        self.stream.write(message.as_string() + "\n")


class SmtpTransport:
    """Sends through an SMTP server given as smtp://user:password@host:port.

    ``smtp://`` upgrades with STARTTLS when the server offers it; ``smtps://`` is TLS from the
    first byte (port 465).
    """

    def __init__(self, url: str, timeout: float = 30) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:587")
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self._connection: smtplib.SMTP | None = None

    @contextmanager
    def connected(self) -> Iterator[SmtpTransport]:
        """Keep one connection open for a batch."""
        context = ssl.create_default_context()
        if self.implicit_tls:
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            connection.ehlo()
            if connection.has_extn("starttls"):
                connection.starttls(context=context)
                connection.ehlo()
        try:
            if self.username:
                connection.login(self.username, self.password or "")
            self._connection = connection
            yield self
        finally:
            self._connection = None
            try:
                connection.quit()
            except smtplib.SMTPException:
                connection.close()

    def send(self, message: EmailMessage) -> None:
        if self._connection is None:
            with self.connected():
                self.send(message)
            return
        self._connection.send_message(message)


def transport_for(config: dict[str, Any]) -> Transport:
    """Return the SMTP transport when SMTP_URL is set, else the console."""
    if config.get("SMTP_URL"):
        return SmtpTransport(config["SMTP_URL"])
    return ConsoleTransport()


@contextmanager
def _batch(transport: Transport) -> Iterator[Transport]:
    if isinstance(transport, SmtpTransport):
        with transport.connected() as connected:
            yield connected
    else:
        yield transport


def drain(
    session: Session, transport: Transport, sender: str, limit: int | None = None
) -> tuple[int, int]:
    """Send every due email; return (sent, failed).

    Like a CLI command this owns its commits: a claim is committed before sending, so no
    transaction stays open while talking to the mail server.
    """
    sent = failed = 0
    while limit is None or sent + failed < limit:
        batch_size = BATCH_SIZE if limit is None else min(BATCH_SIZE, limit - sent - failed)
        emails = claim(session, batch_size)
        session.commit()
        if not emails:
            break
        done: set[int] = set()
        try:
            with _batch(transport) as connected:
                for email in emails:
                    try:
                        connected.send(to_message(email, sender))
                    except (smtplib.SMTPException, OSError, ValueError) as error:
                        mark_failed(session, email, f"{type(error).__name__}: {error}")
                        failed += 1
                    else:
                        mark_sent(session, email.id)
                        sent += 1
                    done.add(email.id)
        except (smtplib.SMTPException, OSError) as error:
            # The server could not be reached: what was not sent is retried later.
            for email in emails:
                if email.id not in done:
                    mark_failed(session, email, f"{type(error).__name__}: {error}")
                    failed += 1
            session.commit()
            break
        session.commit()
    return sent, failed
