"""The bell, the notifications page, following and marking read, settings, unsubscribing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import current_app

from forum import notifications
from forum.boards import posting
from forum.boards.models import Post
from forum.extensions import db
from forum.notifications import preferences
from forum.notifications.models import EmailMode, EmailPreference, Notification, NotificationKind
from tests.conftest import Browser, make_board, make_user


def _bell(html: str) -> str:
    match = re.search(r'<a class="bell[^"]*" href="/notifications"[^>]*>(.*?)</a>', html)
    assert match, "no bell on the page"
    return re.sub(r"<[^>]+>", "", match.group(1))


@pytest.fixture
def asked(member, board):  # noqa: ANN001, ANN201
    return posting.create_thread(db.session, member, board, "Where is my payout?", "Body")


def test_the_bell_counts_unread_notifications_on_every_page(
    app, signed_in, member, other_member, asked
) -> None:
    assert _bell(signed_in.get("/").get_data(as_text=True)) == "Notifications"
    posting.reply(db.session, other_member, asked, "One")
    posting.reply(db.session, make_user(), asked, "Two")
    db.session.commit()
    for path in ("/", "/b/general", f"/t/{asked.id}", "/search?q=x", "/u/ben", "/notifications"):
        assert _bell(signed_in.get(path).get_data(as_text=True)) == "Notifications (2)", path


def test_guests_have_no_bell(client) -> None:
    assert 'class="bell' not in client.get("/").get_data(as_text=True)


def test_hidden_content_does_not_count(app, signed_in, member, other_member, asked) -> None:
    post = posting.reply(db.session, other_member, asked, "Spam reply @ann")
    gone = posting.create_thread(db.session, other_member, asked.board, "Spam thread", "@ann")
    post.removed_at = datetime.now(UTC)
    gone.removed_at = datetime.now(UTC)
    db.session.commit()
    html = signed_in.get("/notifications").get_data(as_text=True)
    assert _bell(html) == "Notifications"
    assert "Spam" not in html
    # Thread and board pages count the bell in their own query: the same rules.
    for path in ("/b/general", f"/t/{asked.id}"):
        assert _bell(signed_in.get(path).get_data(as_text=True)) == "Notifications", path


def test_a_moderators_bell_counts_what_moderators_see(app, moderator, other_member) -> None:
    lounge = make_board("lounge", moderators_only=True)
    thread = posting.create_thread(db.session, moderator, lounge, "Staff", "Body")
    posting.reply(db.session, other_member, thread, "A staff reply")
    db.session.commit()
    staff = Browser(app.test_client()).sign_in(moderator)
    for path in ("/", "/b/lounge", f"/t/{thread.id}"):
        assert _bell(staff.get(path).get_data(as_text=True)) == "Notifications (1)", path


def test_the_notifications_page_lists_and_follows(
    app, signed_in, member, other_member, asked
) -> None:
    reply = posting.reply(db.session, other_member, asked, "Payouts take two days")
    db.session.commit()
    html = signed_in.get("/notifications").get_data(as_text=True)
    assert "ben replied in “Where is my payout?”" in html
    row = db.session.scalar(sa.select(Notification).where(Notification.recipient_id == member.id))
    response = signed_in.get(f"/notifications/{row.id}")
    assert response.status_code == 302
    assert response.location.endswith(f"/posts/{reply.id}")
    db.session.refresh(row)
    assert row.read_at is not None
    assert _bell(signed_in.get("/").get_data(as_text=True)) == "Notifications"


def test_mark_one_and_all_as_read(app, signed_in, member, other_member, asked) -> None:
    for n in range(3):
        posting.reply(db.session, other_member, asked, f"Reply {n}")
    db.session.commit()
    first = db.session.scalar(
        sa.select(Notification.id).where(Notification.recipient_id == member.id).limit(1)
    )
    assert signed_in.post(f"/notifications/{first}/read").status_code == 302
    assert _bell(signed_in.get("/").get_data(as_text=True)) == "Notifications (2)"
    assert signed_in.post("/notifications/read-all").status_code == 302
    assert _bell(signed_in.get("/").get_data(as_text=True)) == "Notifications"


def test_marking_needs_the_form_token(app, signed_in, member, other_member, asked) -> None:
    posting.reply(db.session, other_member, asked, "Reply")
    db.session.commit()
    assert signed_in.client.post("/notifications/read-all").status_code == 400


def test_nobody_follows_or_marks_another_members_notification(
    app, member, other_member, asked
) -> None:
    posting.reply(db.session, other_member, asked, "Reply")
    row = db.session.scalar(sa.select(Notification).where(Notification.recipient_id == member.id))
    db.session.commit()
    ben = Browser(app.test_client()).sign_in(other_member)
    assert ben.get(f"/notifications/{row.id}").status_code == 404
    ben.post(f"/notifications/{row.id}/read")
    db.session.refresh(row)
    assert row.read_at is None


def test_notifications_page_needs_sign_in(client) -> None:
    assert client.get("/notifications").status_code == 302


def test_a_referral_notification_follows_its_link(app, signed_in, member) -> None:
    notifications.notify(db.session, member.id, "reward_approved", detail="$50", link="/u/ann")
    db.session.commit()
    row = db.session.scalar(sa.select(Notification).where(Notification.recipient_id == member.id))
    html = signed_in.get("/notifications").get_data(as_text=True)
    assert "A referral reward was approved" in html and "$50" in html
    assert signed_in.get(f"/notifications/{row.id}").location.endswith("/u/ann")


def test_settings_page_saves_email_modes_and_watching(app, signed_in, member) -> None:
    html = signed_in.get("/settings/notifications").get_data(as_text=True)
    assert '<label for="email_mention">Someone mentions you</label>' in html
    assert "Watch threads I start or reply to" in html
    data = {f"email_{kind.value}": "off" for kind in NotificationKind}
    data["email_mention"] = "daily"
    response = signed_in.post("/settings/notifications", data)
    assert response.status_code == 302
    saved = preferences.get_preferences(db.session, member)
    assert saved.watch_on_post is False  # an unticked box is "off"
    assert saved.email_modes[NotificationKind.MENTION] == EmailMode.DAILY
    assert saved.email_modes[NotificationKind.REPLY] == EmailMode.OFF


def test_settings_refuse_unknown_modes(app, signed_in) -> None:
    data = {f"email_{kind.value}": "off" for kind in NotificationKind}
    data["email_kudos"] = "hourly"
    assert signed_in.post("/settings/notifications", data).status_code == 422


def _token(member, kind: str) -> str:  # noqa: ANN001
    return preferences.unsubscribe_token(current_app.config["SECRET_KEY"], member.id, kind)


def test_unsubscribe_asks_then_unsubscribes(app, client, member) -> None:
    db.session.commit()
    path = f"/unsubscribe/{_token(member, 'mention')}"
    page = client.get(path)
    assert page.status_code == 200
    assert "Stop emails for “someone mentions you” to ann?" in page.get_data(as_text=True)
    assert client.post(path).status_code == 400  # the confirm form carries its CSRF token
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    done = client.post(path, data={"csrf_token": token})
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    modes = preferences.email_modes(db.session, [member.id])[member.id]
    assert modes[NotificationKind.MENTION] == EmailMode.OFF
    assert modes[NotificationKind.QUOTE] == EmailMode.IMMEDIATELY


def test_one_click_unsubscribe_needs_no_session(app, client, member) -> None:
    db.session.commit()
    response = client.post(
        f"/unsubscribe/{_token(member, 'digest')}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    modes = preferences.email_modes(db.session, [member.id])[member.id]
    assert EmailMode.DAILY not in modes.values()
    assert modes[NotificationKind.MENTION] == EmailMode.IMMEDIATELY


@pytest.mark.parametrize("token", ["nonsense", "WzEsICJtZW50aW9uIl0.forged"])
def test_a_bad_unsubscribe_link_is_refused(client, token) -> None:
    assert client.get(f"/unsubscribe/{token}").status_code == 404
    assert (
        client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 404
    )


def test_a_token_signed_with_another_key_is_refused(client, member) -> None:
    db.session.commit()
    token = preferences.unsubscribe_token("another-key", member.id, "mention")
    assert client.get(f"/unsubscribe/{token}").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailPreference)) == 0


def test_watch_buttons_on_threads_and_boards(app, signed_in, member, other_member, board) -> None:
    thread = posting.create_thread(db.session, other_member, board, "Theirs", "Body")
    db.session.commit()
    page = signed_in.get(f"/t/{thread.id}").get_data(as_text=True)
    assert ">Watch thread</button>" in page
    signed_in.post(f"/t/{thread.id}/watch", {"watching": "on"})
    assert ">Stop watching</button>" in signed_in.get(f"/t/{thread.id}").get_data(as_text=True)
    posting.reply(db.session, make_user(), thread, "News")
    db.session.commit()
    assert _bell(signed_in.get("/").get_data(as_text=True)) == "Notifications (1)"
    signed_in.post(f"/t/{thread.id}/watch", {"watching": "off"})
    assert ">Watch thread</button>" in signed_in.get(f"/t/{thread.id}").get_data(as_text=True)

    assert ">Watch board</button>" in signed_in.get("/b/general").get_data(as_text=True)
    signed_in.post("/b/general/watch", {"watching": "on"})
    assert ">Stop watching board</button>" in signed_in.get("/b/general").get_data(as_text=True)
    # Watching the board does not undo stopping to watch the thread.
    assert ">Watch thread</button>" in signed_in.get(f"/t/{thread.id}").get_data(as_text=True)
    other = posting.create_thread(db.session, other_member, board, "Another", "Body")
    db.session.commit()
    assert ">Stop watching</button>" in signed_in.get(f"/t/{other.id}").get_data(as_text=True)


def test_watching_a_hidden_board_or_thread_is_not_found(app, signed_in, moderator) -> None:
    lounge = make_board("lounge", moderators_only=True)
    thread = posting.create_thread(db.session, moderator, lounge, "Staff", "Body")
    db.session.commit()
    assert signed_in.post("/b/lounge/watch").status_code == 404
    assert signed_in.post(f"/t/{thread.id}/watch").status_code == 404


def test_follow_goes_to_the_removed_post_tombstone(
    app, signed_in, member, moderator, asked
) -> None:
    from forum.notifications.fanout import post_removed

    post = db.session.scalar(sa.select(Post).where(Post.thread_id == asked.id))
    post.removed_at = datetime.now(UTC)
    post_removed(db.session, post, moderator, "spam")
    db.session.commit()
    html = signed_in.get("/notifications").get_data(as_text=True)
    assert "A moderator removed your post" in html and "Reason: spam" in html
