"""Who hears of what: one notification per member per event, never for one's own acts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import current_app

from forum import notifications, watching
from forum.accounts.models import Role
from forum.boards import posting
from forum.boards.models import Post
from forum.extensions import db
from forum.notifications.inbox import describe
from forum.notifications.models import Notification, NotificationSettings
from forum.signals import post_removed
from tests.conftest import count_queries, make_board, make_user


def _rows(user) -> list[Notification]:  # noqa: ANN001
    return list(
        db.session.scalars(
            sa.select(Notification)
            .where(Notification.recipient_id == user.id)
            .order_by(Notification.id)
        )
    )


def _kinds(user) -> list[str]:  # noqa: ANN001
    return [row.kind for row in _rows(user)]


def _first_post(thread) -> Post:  # noqa: ANN001
    return db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id, Post.number == 1))


def test_a_reply_notifies_the_thread_author_and_watchers_but_not_the_replier(
    member, other_member, board
) -> None:
    watcher = make_user("wendy")
    thread = posting.create_thread(db.session, member, board, "Question", "Body")
    watching.set_thread_watch(db.session, watcher, thread, True)
    reply = posting.reply(db.session, other_member, thread, "An answer")
    assert _kinds(member) == ["reply"]
    assert _kinds(watcher) == ["reply"]
    assert _kinds(other_member) == []
    row = _rows(member)[0]
    assert (row.actor_id, row.post_id, row.thread_id) == (other_member.id, reply.id, thread.id)


def test_banned_members_are_not_notified_of_quotes_or_mentions(member, other_member, board) -> None:
    banned = make_user("bert")
    thread = posting.create_thread(db.session, banned, board, "Question", "Body")
    banned.banned_at = datetime.now(UTC)
    question = _first_post(thread)
    posting.reply(db.session, other_member, thread, "@bert and @ann", quoted_post=question)
    assert _kinds(banned) == []
    assert _kinds(member) == ["mention"]


def test_replying_watches_the_thread_unless_the_setting_is_off(member, other_member, board) -> None:
    quiet = make_user("quiet")
    db.session.add(NotificationSettings(user_id=quiet.id, watch_on_post=False))
    thread = posting.create_thread(db.session, member, board, "Question", "Body")
    posting.reply(db.session, other_member, thread, "I reply, so I watch")
    posting.reply(db.session, quiet, thread, "I reply, but do not watch")
    posting.reply(db.session, member, thread, "Thanks all")
    assert _kinds(other_member) == ["reply", "reply"]
    assert _kinds(quiet) == []


def test_a_thread_author_with_the_setting_off_does_not_watch(member, other_member, board) -> None:
    db.session.add(NotificationSettings(user_id=member.id, watch_on_post=False))
    thread = posting.create_thread(db.session, member, board, "Question", "Body")
    posting.reply(db.session, other_member, thread, "Reply")
    assert _kinds(member) == []


def test_stopping_watching_sticks(member, other_member, board) -> None:
    thread = posting.create_thread(db.session, member, board, "Question", "Body")
    watching.set_thread_watch(db.session, member, thread, False)
    posting.reply(db.session, member, thread, "Replying does not watch again")
    watching.set_board_watch(db.session, member, board, True)
    posting.reply(db.session, other_member, thread, "Reply")
    assert _kinds(member) == []


def test_board_watchers_hear_of_new_threads_and_replies(member, other_member, board) -> None:
    watching.set_board_watch(db.session, other_member, board, True)
    thread = posting.create_thread(db.session, member, board, "New topic", "Body")
    posting.reply(db.session, member, thread, "Bump")
    assert _kinds(other_member) == ["new_thread", "reply"]
    watching.set_board_watch(db.session, other_member, board, False)
    posting.reply(db.session, member, thread, "Bump again")
    assert _kinds(other_member) == ["new_thread", "reply"]


def test_the_most_specific_reason_wins(member, other_member, board) -> None:
    thread = posting.create_thread(db.session, member, board, "Question", "Body")
    question = _first_post(thread)
    # ann watches (her thread), is quoted and mentioned: one "quote".
    posting.reply(db.session, other_member, thread, "@ann you wrote this", quoted_post=question)
    # ann is mentioned and watches: one "mention".
    posting.reply(db.session, other_member, thread, "What do you think, @ann?")
    # ann only watches: one "reply".
    posting.reply(db.session, other_member, thread, "Anyone?")
    assert _kinds(member) == ["quote", "mention", "reply"]


def test_quoting_your_own_post_notifies_nobody(member, board) -> None:
    thread = posting.create_thread(db.session, member, board, "Question", "Body")
    posting.reply(db.session, member, thread, "Me again", quoted_post=_first_post(thread))
    assert _kinds(member) == []


def test_members_are_not_told_of_posts_in_staff_boards(member, moderator) -> None:
    lounge = make_board("lounge", moderators_only=True)
    colleague = make_user("colleague", role=Role.MODERATOR)
    watching.set_board_watch(db.session, member, lounge, True)
    watching.set_board_watch(db.session, colleague, lounge, True)
    posting.create_thread(db.session, moderator, lounge, "Staff only", "@ann and @colleague")
    assert _kinds(member) == []
    assert _kinds(colleague) == ["mention"]


def test_kudos_group_into_one_notification_marked_unread_again(member, board) -> None:
    thread = posting.create_thread(db.session, member, board, "Question", "Body")
    post = _first_post(thread)
    givers = [make_user(f"giver{n}") for n in range(3)]
    posting.give_kudos(db.session, givers[0], post)
    db.session.execute(sa.update(Notification).values(read_at=datetime.now(UTC)))
    posting.give_kudos(db.session, givers[1], post)
    posting.give_kudos(db.session, givers[2], post)
    posting.give_kudos(db.session, givers[2], post)  # twice: counted once
    rows = _rows(member)
    assert len(rows) == 1
    db.session.refresh(rows[0])
    assert (rows[0].kind, rows[0].count, rows[0].actor_id) == ("kudos", 3, givers[2].id)
    assert rows[0].read_at is None
    assert describe(rows[0]).text == "3 people gave kudos to your post in “Question”"


def test_an_accepted_solution_notifies_its_author_once(member, other_member, board) -> None:
    thread = posting.create_thread(db.session, member, board, "Question", "Body")
    answer = posting.reply(db.session, other_member, thread, "Answer")
    posting.accept_solution(db.session, member, answer)
    posting.unaccept_solution(db.session, member, thread)
    posting.accept_solution(db.session, member, answer)
    assert _kinds(other_member) == ["solution"]
    own = posting.reply(db.session, member, thread, "My own answer")
    posting.accept_solution(db.session, member, own)
    assert "solution" not in _kinds(member)


def test_a_removal_tells_the_author_why(app, member, moderator, board) -> None:
    thread = posting.create_thread(db.session, member, board, "Question", "Body")
    post = _first_post(thread)
    post.removed_at = datetime.now(UTC)
    post_removed.send(
        current_app._get_current_object(),
        post=post,
        moderator=moderator,
        reason="Asked to pay off the platform",
        session=db.session,
    )
    row = _rows(member)[0]
    assert (row.kind, row.detail, row.actor_id) == (
        "post_removed",
        "Asked to pay off the platform",
        moderator.id,
    )
    assert describe(row).text == "A moderator removed your post in “Question”"
    assert describe(row).detail == "Reason: Asked to pay off the platform"


def test_a_moderator_removing_their_own_post_is_not_notified(app, moderator, board) -> None:
    thread = posting.create_thread(db.session, moderator, board, "Question", "Body")
    post_removed.send(
        current_app._get_current_object(),
        post=_first_post(thread),
        moderator=moderator,
        reason="oops",
        session=db.session,
    )
    assert _kinds(moderator) == []


def test_referral_events_through_the_public_function(member, other_member) -> None:
    assert notifications.notify(
        db.session,
        member.id,
        "referral_signed_up",
        actor_id=other_member.id,
        detail="ben signed up through your link.",
        link="/referrals",
        dedupe_key="referral:7:signed_up",
    )
    assert not notifications.notify(
        db.session, member.id, "referral_signed_up", dedupe_key="referral:7:signed_up"
    )
    assert notifications.notify(
        db.session, member.id, notifications.NotificationKind.REWARD_APPROVED, detail="$100 credit"
    )
    assert not notifications.notify(db.session, member.id, "reward_approved", actor_id=member.id)
    assert _kinds(member) == ["referral_signed_up", "reward_approved"]
    texts = [(describe(row).text, describe(row).detail) for row in _rows(member)]
    assert texts == [
        ("Someone you referred signed up", "ben signed up through your link."),
        ("A referral reward was approved", "$100 credit"),
    ]


@pytest.mark.parametrize("link", ["https://evil.example/", "//evil.example", "javascript:x"])
def test_notify_refuses_off_site_links(member, link) -> None:
    with pytest.raises(ValueError, match="not a path on this site"):
        notifications.notify(db.session, member.id, "reward_approved", link=link)


def test_notify_refuses_unknown_kinds(member) -> None:
    with pytest.raises(ValueError):
        notifications.notify(db.session, member.id, "party")


def test_fan_out_costs_the_same_for_two_or_two_hundred_watchers(member, board) -> None:
    def reply_queries(watchers: int) -> int:
        thread = posting.create_thread(db.session, member, board, "Busy", "Body")
        users = [make_user() for _ in range(watchers)]
        for user in users:
            watching.set_thread_watch(db.session, user, thread, True)
        db.session.flush()
        db.session.expire_all()
        thread = db.session.get(type(thread), thread.id)
        replier = make_user()
        with count_queries() as statements:
            posting.reply(db.session, replier, thread, "Hello watchers")
        notified = db.session.scalar(
            sa.select(sa.func.count()).where(Notification.thread_id == thread.id)
        )
        assert notified == watchers + 1  # the author too
        return len(statements)

    few = reply_queries(2)
    many = reply_queries(200)
    assert few == many
    assert many <= 20
