"""The outbox: emails queued with the change that causes them, sent by workers, retried."""

from __future__ import annotations

import io
import socketserver
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum import outbox
from forum.database import utcnow
from forum.extensions import db
from forum.outbox import ConsoleTransport, OutboxEmail, OutboxStatus, SmtpTransport

SENDER = "Townhall <no-reply@townhall.test>"


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to accept mail; refuses recipients containing "reject"."""

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: SmtpServer = self.server  # type: ignore[assignment]
        self._reply("220 test SMTP ready")
        recipients: list[str] = []
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250-test greets you\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
            elif verb == "AUTH":
                server.logins.append(command)
                self._reply("235 authenticated")
            elif verb == "MAIL":
                recipients = []
                self._reply("250 ok")
            elif verb == "RCPT":
                if "reject" in command:
                    self._reply("550 no such mailbox")
                else:
                    recipients.append(command.split(":", 1)[1])
                    self._reply("250 ok")
            elif verb == "DATA":
                self._reply("354 go ahead")
                data = []
                while (body_line := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(body_line.decode())
                server.received.append((recipients, "".join(data)))
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 ok")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.received: list[tuple[list[str], str]] = []
        self.logins: list[str] = []


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _queue(to: str = "ann@example.com", subject: str = "Hello") -> OutboxEmail:
    email = outbox.enqueue(
        db.session,
        to,
        subject,
        "Plain body ✓",
        kind="test",
        html_body="<p>HTML body</p>",
        headers={"List-Unsubscribe": "<https://townhall.test/unsubscribe/x>"},
    )
    db.session.flush()
    return email


def _status(email: OutboxEmail) -> tuple[str, int]:
    db.session.refresh(email)
    return email.status, email.attempts


def test_the_console_transport_prints_and_marks_sent(app) -> None:
    email = _queue()
    stream = io.StringIO()
    assert outbox.drain(db.session, ConsoleTransport(stream), SENDER) == (1, 0)
    printed = stream.getvalue()
    assert "Subject: Hello" in printed and "To: ann@example.com" in printed
    assert "List-Unsubscribe: <https://townhall.test/unsubscribe/x>" in printed
    assert "Auto-Submitted: auto-generated" in printed
    assert _status(email) == (OutboxStatus.SENT, 1)
    assert email.sent_at is not None
    assert outbox.drain(db.session, ConsoleTransport(stream), SENDER) == (0, 0)


def test_smtp_delivers_with_login(app, smtp_server) -> None:
    first, second = _queue(), _queue("ben@example.com", "Second")
    port = smtp_server.server_address[1]
    transport = SmtpTransport(f"smtp://mailer:s%40cret@127.0.0.1:{port}")
    assert outbox.drain(db.session, transport, SENDER) == (2, 0)
    assert len(smtp_server.logins) == 1  # one connection for the batch
    assert [r for r, _ in smtp_server.received] == [
        ["<ann@example.com>"],
        ["<ben@example.com>"],
    ]
    message = smtp_server.received[0][1]
    assert "Subject: Hello" in message and "multipart/alternative" in message
    assert _status(first)[0] == _status(second)[0] == OutboxStatus.SENT


def test_a_refused_email_is_retried_later_then_given_up(app, smtp_server) -> None:
    refused, fine = _queue("reject@example.com"), _queue()
    transport = SmtpTransport(f"smtp://127.0.0.1:{smtp_server.server_address[1]}")
    assert outbox.drain(db.session, transport, SENDER) == (1, 1)
    assert _status(refused) == (OutboxStatus.QUEUED, 1)
    assert "SMTPRecipientsRefused" in refused.last_error
    assert refused.next_attempt_at > utcnow()
    assert _status(fine)[0] == OutboxStatus.SENT
    for attempt in range(2, outbox.MAX_ATTEMPTS + 1):
        db.session.execute(
            sa.update(OutboxEmail).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        outbox.drain(db.session, transport, SENDER)
        assert _status(refused)[1] == attempt
    assert _status(refused) == (OutboxStatus.FAILED, outbox.MAX_ATTEMPTS)


def test_an_unreachable_server_leaves_the_batch_queued(app) -> None:
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as closed:
        port = closed.server_address[1]
    email = _queue()
    assert outbox.drain(db.session, SmtpTransport(f"smtp://127.0.0.1:{port}"), SENDER) == (0, 1)
    assert _status(email) == (OutboxStatus.QUEUED, 1)
    assert "ConnectionRefusedError" in email.last_error


def test_a_claim_abandoned_by_a_dead_worker_is_taken_again(app) -> None:
    email = _queue()
    assert [c.id for c in outbox.claim(db.session)] == [email.id]
    assert outbox.claim(db.session) == []
    later = utcnow() + outbox.CLAIM_TIMEOUT + timedelta(seconds=1)
    assert [c.id for c in outbox.claim(db.session, now=later)] == [email.id]
    assert _status(email) == (OutboxStatus.SENDING, 2)


@pytest.mark.parametrize("url", ["http://host", "smtp://", "mail.example.com:25"])
def test_smtp_url_must_be_an_smtp_url(url: str) -> None:
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpTransport(url)


def test_transport_follows_the_configuration() -> None:
    assert isinstance(outbox.transport_for({"SMTP_URL": None}), ConsoleTransport)
    smtp = outbox.transport_for({"SMTP_URL": "smtps://u:p@mail.example.com"})
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.host, smtp.port, smtp.implicit_tls, smtp.username) == (
        "mail.example.com",
        465,
        True,
        "u",
    )


def test_the_send_command(app, runner, capsys) -> None:
    _queue()
    db.session.commit()
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "1 emails sent, 0 failed" in result.output


def test_the_send_command_queues_due_notification_emails(app, runner, member, board) -> None:
    from forum.boards import posting
    from tests.conftest import make_user

    posting.create_thread(db.session, make_user("asker"), board, "Hello", "@ann look")
    db.session.commit()
    app.config["NOTIFICATION_EMAIL_DELAY"] = 0
    try:
        result = runner.invoke(args=["outbox", "send"])
    finally:
        app.config["NOTIFICATION_EMAIL_DELAY"] = 600
    assert result.exit_code == 0, result.output
    assert "1 notification emails queued; 1 emails sent" in result.output
    assert (
        "asker mentioned you in =E2=80=9CHi=E2=80=9D" in result.output
        or "asker mentioned you" in result.output
    )


def test_the_digest_command(app, runner) -> None:
    result = runner.invoke(args=["outbox", "digest"])
    assert result.exit_code == 0 and "0 digests queued." in result.output


@pytest.mark.concurrency
def test_parallel_workers_never_claim_the_same_email(committed_app) -> None:
    for n in range(60):
        outbox.enqueue(db.session, f"m{n}@example.com", "Hi", "Body", kind="test")
    db.session.commit()
    claimed: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def worker() -> None:
        try:
            with committed_app.app_context():
                from sqlalchemy.orm import Session

                with Session(db.engine) as session:
                    barrier.wait()
                    mine: list[int] = []
                    while batch := outbox.claim(session, limit=7):
                        session.commit()
                        mine.extend(email.id for email in batch)
                    claimed.append(mine)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    every = [email_id for mine in claimed for email_id in mine]
    assert len(every) == len(set(every)) == 60
