"""Notification emails: after a delay, only if still unread and visible, per the member's choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from forum import watching
from forum.boards import posting
from forum.extensions import db
from forum.notifications import emails, preferences
from forum.notifications.models import (
    EmailMode,
    EmailState,
    Notification,
    NotificationKind,
    NotificationSettings,
)
from forum.outbox import OutboxEmail
from tests.conftest import make_user

LATER = timedelta(minutes=11)


def _outbox() -> list[OutboxEmail]:
    return list(db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)))


def _states(user) -> list[str]:  # noqa: ANN001
    return list(
        db.session.scalars(
            sa.select(Notification.email_state)
            .where(Notification.recipient_id == user.id)
            .order_by(Notification.id)
        )
    )


def _choose(user, kind: NotificationKind, mode: EmailMode) -> None:  # noqa: ANN001
    current = preferences.get_preferences(db.session, user)
    modes = {**current.email_modes, kind: mode}
    preferences.save_preferences(db.session, user, preferences.Preferences(modes, True))


def _now() -> datetime:
    return datetime.now(UTC) + LATER


@pytest.fixture
def mentioned(member, other_member, board):  # noqa: ANN001, ANN201
    """ben mentions ann in a new thread."""
    return posting.create_thread(db.session, other_member, board, "Fees", "What say you, @ann?")


def test_a_mention_is_emailed_after_the_delay(app, member, mentioned) -> None:
    assert emails.queue_due_emails(db.session, now=datetime.now(UTC)) == 0
    assert emails.queue_due_emails(db.session, now=_now()) == 1
    [email] = _outbox()
    assert email.to_address == "ann@example.com"
    assert email.subject == "ben mentioned you in “Fees”"
    assert email.kind == "notification:mention"
    assert "What say you, @ann?" in email.text_body
    row = db.session.scalar(sa.select(Notification).where(Notification.recipient_id == member.id))
    assert f"http://townhall.test/notifications/{row.id}" in email.text_body
    unsubscribe = email.headers["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://townhall.test/unsubscribe/")
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = unsubscribe.strip("<>").rsplit("/", 1)[1]
    assert preferences.read_unsubscribe_token(current_app.config["SECRET_KEY"], token) == (
        member.id,
        "mention",
    )
    assert unsubscribe.strip("<>") in email.text_body
    assert _states(member) == [EmailState.QUEUED]
    assert emails.queue_due_emails(db.session, now=_now()) == 0  # no duplicates
    assert len(_outbox()) == 1


def test_nothing_is_emailed_for_what_was_read_meanwhile(member, mentioned) -> None:
    db.session.execute(sa.update(Notification).values(read_at=datetime.now(UTC)))
    assert emails.queue_due_emails(db.session, now=_now()) == 0
    assert _states(member) == [EmailState.SKIPPED] and _outbox() == []


def test_nothing_is_emailed_for_content_removed_meanwhile(member, mentioned) -> None:
    mentioned.removed_at = datetime.now(UTC)
    db.session.flush()
    assert emails.queue_due_emails(db.session, now=_now()) == 0
    assert _states(member) == [EmailState.SKIPPED] and _outbox() == []


def test_off_means_no_email(member, mentioned) -> None:
    _choose(member, NotificationKind.MENTION, EmailMode.OFF)
    assert emails.queue_due_emails(db.session, now=_now()) == 0
    assert _states(member) == [EmailState.SKIPPED]


def test_the_daily_digest_gathers_and_comes_once_a_day(member, other_member, mentioned) -> None:
    _choose(member, NotificationKind.MENTION, EmailMode.DAILY)
    watching.set_thread_watch(db.session, member, mentioned, True)
    posting.reply(db.session, other_member, mentioned, "A reply in your watched thread")
    assert emails.queue_due_emails(db.session, now=_now()) == 0
    assert _states(member) == [EmailState.DIGEST, EmailState.DIGEST]
    assert emails.queue_digests(db.session, now=_now()) == 1
    [digest] = _outbox()
    assert digest.subject == "Your Townhall digest: 2 new notifications"
    assert "ben mentioned you in “Fees”" in digest.text_body
    assert "ben replied in “Fees”" in digest.text_body
    assert digest.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert _states(member) == [EmailState.DIGESTED, EmailState.DIGESTED]
    assert db.session.get(NotificationSettings, member.id).last_digest_at is not None

    posting.reply(db.session, other_member, mentioned, "Another reply")
    emails.queue_due_emails(db.session, now=_now())
    assert emails.queue_digests(db.session, now=_now()) == 0  # not twice in a day
    assert emails.queue_digests(db.session, now=_now() + timedelta(days=1)) == 1


def test_the_digest_leaves_out_what_was_read(member, other_member, mentioned) -> None:
    _choose(member, NotificationKind.MENTION, EmailMode.DAILY)
    emails.queue_due_emails(db.session, now=_now())
    db.session.execute(sa.update(Notification).values(read_at=datetime.now(UTC)))
    assert emails.queue_digests(db.session, now=_now()) == 0
    assert _states(member) == [EmailState.SKIPPED]


@pytest.mark.parametrize("unsubscribed_from", ["digest", "mention"])
def test_no_digest_after_unsubscribing(member, mentioned, unsubscribed_from) -> None:  # noqa: ANN001
    # Decided for the digest, then the member unsubscribes (from the last digest's link, or
    # turns the kind off): the next digest must not carry it.
    _choose(member, NotificationKind.MENTION, EmailMode.DAILY)
    emails.queue_due_emails(db.session, now=_now())
    assert _states(member) == [EmailState.DIGEST]
    preferences.unsubscribe(db.session, member.id, unsubscribed_from)
    assert emails.queue_digests(db.session, now=_now()) == 0
    assert _states(member) == [EmailState.SKIPPED] and _outbox() == []


def test_a_kind_moved_from_the_digest_to_right_away_still_arrives(member, mentioned) -> None:
    _choose(member, NotificationKind.MENTION, EmailMode.DAILY)
    emails.queue_due_emails(db.session, now=_now())
    _choose(member, NotificationKind.MENTION, EmailMode.IMMEDIATELY)
    assert emails.queue_digests(db.session, now=_now()) == 1
    assert _states(member) == [EmailState.DIGESTED]


def test_more_kudos_make_the_notification_pending_again(member, board) -> None:
    thread = posting.create_thread(db.session, member, board, "Kudos please", "Body")
    post = db.session.scalar(sa.select(posting.Post).where(posting.Post.thread_id == thread.id))
    _choose(member, NotificationKind.KUDOS, EmailMode.IMMEDIATELY)
    posting.give_kudos(db.session, make_user("first"), post)
    assert emails.queue_due_emails(db.session, now=_now()) == 1
    posting.give_kudos(db.session, make_user("second"), post)
    assert emails.queue_due_emails(db.session, now=_now()) == 1
    assert [email.subject for email in _outbox()] == [
        "first gave kudos to your post in “Kudos please”",
        "2 people gave kudos to your post in “Kudos please”",
    ]


def test_referral_notifications_are_emailed(member) -> None:
    from forum import notifications

    notifications.notify(db.session, member.id, "reward_approved", detail="$100 credit approved.")
    assert emails.queue_due_emails(db.session, now=_now()) == 1
    [email] = _outbox()
    assert email.subject == "A referral reward was approved"
    assert "$100 credit approved." in email.text_body
