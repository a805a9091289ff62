"""Thread tools: lock and unlock, pin and unpin, move, and boards only moderators see."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum.accounts.models import User
from forum.boards import posting
from forum.boards.models import Board, Post, Thread
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import removals, threads
from forum.moderation.errors import ModerationError
from forum.moderation.models import Action
from forum.permissions import PermissionDenied
from tests.conftest import Browser, make_board
from tests.forum.moderation.conftest import assert_counters_consistent, log_rows, make_thread


@pytest.fixture
def mod(app, moderator) -> Browser:
    return Browser(app.test_client()).sign_in(moderator)


def test_locked_threads_take_no_replies_and_say_so(app, mod, member, board):
    thread, _ = make_thread(member, board)
    response = mod.post(f"/moderation/threads/{thread.id}/lock")
    assert response.status_code == 302 and response.location.endswith(f"/t/{thread.id}")
    author = Browser(app.test_client()).sign_in(member)
    page = author.get(f"/t/{thread.id}").get_data(as_text=True)
    assert "This thread is locked: no new replies can be posted." in page
    assert f'action="/t/{thread.id}/reply"' not in page
    refused = author.post(f"/t/{thread.id}/reply", {"body": "let me in"})
    assert refused.status_code == 302
    assert "This thread is locked" in author.get(refused.location).get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 1
    assert "Locked" in author.get(f"/b/{board.slug}").get_data(as_text=True)

    mod.post(f"/moderation/threads/{thread.id}/unlock")
    assert author.post(f"/t/{thread.id}/reply", {"body": "thanks"}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 2
    assert [(e.action, e.thread_id, e.target_user_id) for e in log_rows()] == [
        ("lock_thread", thread.id, member.id), ("unlock_thread", thread.id, member.id)
    ]  # fmt: skip


def test_a_reply_checked_before_the_lock_is_still_refused(member, board):
    thread, _ = make_thread(member, board)
    # Another moderator locks it after this request loaded the thread, which still says open.
    db.session.execute(
        sa.update(Thread).where(Thread.id == thread.id).values(locked=True)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    assert not thread.locked
    with pytest.raises(PermissionDenied, match="locked"):
        posting.reply(db.session, member, thread, "sneaking in")


def test_moderators_may_still_reply_to_locked_threads(mod, moderator, member, board):
    thread, _ = make_thread(member, board)
    threads.set_flag(db.session, moderator, thread.id, Action.LOCK_THREAD)
    response = mod.post(f"/t/{thread.id}/reply", {"body": "Locking this, thanks all"})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 2


def test_pinned_threads_list_first(app, mod, member, board):
    old, _ = make_thread(member, board, title="Old rules")
    make_thread(member, board, title="Newer chatter")
    mod.post(f"/moderation/threads/{old.id}/pin")
    listing = Browser(app.test_client()).get(f"/b/{board.slug}").get_data(as_text=True)
    assert listing.index("Old rules") < listing.index("Newer chatter")
    assert "Pinned" in listing
    mod.post(f"/moderation/threads/{old.id}/unpin")
    listing = Browser(app.test_client()).get(f"/b/{board.slug}").get_data(as_text=True)
    assert listing.index("Newer chatter") < listing.index("Old rules")
    assert [e.action for e in log_rows()] == ["pin_thread", "unpin_thread"]


def test_flags_that_are_already_set_change_nothing_and_are_logged(moderator, member, board):
    thread, _ = make_thread(member, board)
    assert threads.set_flag(db.session, moderator, thread.id, Action.PIN_THREAD).changed
    again = threads.set_flag(db.session, moderator, thread.id, Action.PIN_THREAD)
    assert not again.changed and again.message == "The thread was already pinned."
    assert [(e.action, e.changed, e.detail) for e in log_rows()][1] == (
        "pin_thread",
        False,
        "no change: already pinned",
    )


def test_moving_a_thread_carries_its_counts_and_activity(app, mod, member, other_member, board):
    target = make_board("payments")
    make_thread(other_member, target, title="Already in payments")
    thread, _ = make_thread(member, board, [other_member, member], title="Fees question")
    form = mod.get(f"/moderation/threads/{thread.id}/move").get_data(as_text=True)
    assert ">Payments<" in form and ">General<" not in form  # not its own board
    response = mod.post(f"/moderation/threads/{thread.id}/move",
                        {"board": str(target.id), "reason": "About fees"})  # fmt: skip
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Thread, thread.id).board_id == target.id
    source, target = db.session.get(Board, board.id), db.session.get(Board, target.id)
    assert (source.thread_count, source.post_count, source.last_thread_id) == (0, 0, None)
    assert (target.thread_count, target.post_count, target.last_thread_id) == (2, 4, thread.id)
    assert_counters_consistent()
    page = Browser(app.test_client()).get(f"/t/{thread.id}").get_data(as_text=True)
    assert 'href="/b/payments">Payments</a>' in page
    [entry] = log_rows("move_thread")
    assert (entry.reason, entry.detail) == ("About fees", "from General to Payments")


def test_moving_needs_a_reason_and_a_real_board(mod, moderator, member, board):
    thread, _ = make_thread(member, board)
    target = make_board("elsewhere")
    response = mod.post(f"/moderation/threads/{thread.id}/move", {"board": str(target.id)})
    assert response.status_code == 422 and 'id="reason-error"' in response.get_data(as_text=True)
    response = mod.post(f"/moderation/threads/{thread.id}/move",
                        {"board": "424242", "reason": "x"})  # fmt: skip
    assert response.status_code == 422 and "Choose a board" in response.get_data(as_text=True)
    with pytest.raises(ModerationError):
        threads.move(db.session, moderator, thread.id, target.id, "")
    assert not threads.move(db.session, moderator, thread.id, board.id, "same").changed


def test_moving_a_removed_thread_leaves_counts_alone(moderator, member, board):
    target = make_board("elsewhere")
    thread, posts = make_thread(member, board, [member])
    removals.remove_post(db.session, moderator, posts[0].id, "Spam")
    threads.move(db.session, moderator, thread.id, target.id, "tidy up")
    assert_counters_consistent()
    removals.restore_post(db.session, moderator, posts[0].id)
    db.session.expire_all()
    assert db.session.get(Board, target.id).post_count == 2
    assert_counters_consistent()


def test_moving_into_the_lounge_hides_the_thread_from_members(app, mod, member, board):
    lounge = make_board("lounge", moderators_only=True)
    thread, posts = make_thread(member, board, title="Needs staff eyes")
    mod.post(f"/moderation/threads/{thread.id}/move", {"board": str(lounge.id), "reason": "x"})
    author = Browser(app.test_client()).sign_in(member)
    for path in (f"/t/{thread.id}", f"/posts/{posts[0].id}", "/b/lounge", "/b/lounge/new",
                 f"/posts/{posts[0].id}/revisions", f"/posts/{posts[0].id}/report"):  # fmt: skip
        assert author.get(path).status_code == 404, path
    assert "Needs staff eyes" not in author.get("/").get_data(as_text=True)
    assert "Needs staff eyes" not in author.get("/u/ann").get_data(as_text=True)
    assert mod.get(f"/t/{thread.id}").status_code == 200
    assert re.search(r"Lounge</a>\s*<span class=\"badge badge-moderator\">Moderators only",
                     mod.get("/").get_data(as_text=True))  # fmt: skip


def test_the_thread_page_offers_moderators_their_tools(app, mod, member, board):
    thread, posts = make_thread(member, board, [member])
    html = mod.get(f"/t/{thread.id}").get_data(as_text=True)
    assert 'aria-label="Moderator tools for this thread"' in html
    for path in (f"/moderation/threads/{thread.id}/lock", f"/moderation/threads/{thread.id}/pin",
                 f"/moderation/threads/{thread.id}/move", f"/moderation/posts/{posts[0].id}/remove",
                 f"/moderation/posts/{posts[1].id}/remove"):  # fmt: skip
        assert path in html, path
    member_html = (
        Browser(app.test_client()).sign_in(member).get(f"/t/{thread.id}").get_data(as_text=True)
    )
    assert "/moderation/" not in member_html and "Moderator tools" not in member_html


def test_unknown_threads_are_404(mod):
    assert mod.post("/moderation/threads/424242/lock").status_code == 404
    assert mod.get("/moderation/threads/424242/move").status_code == 404
    assert mod.post("/moderation/threads/1/explode").status_code == 404


def test_a_reply_checked_before_a_move_to_a_moderators_board_is_refused(member, board):
    thread, _ = make_thread(member, board)
    hidden = make_board("staff-room", moderators_only=True)
    # A moderator moves it to a board members cannot see after this request loaded the
    # thread (a reply reads and renders before it takes the write lock).
    db.session.execute(
        sa.update(Thread).where(Thread.id == thread.id).values(board_id=hidden.id)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    assert thread.board_id == board.id
    with pytest.raises(PermissionDenied):
        posting.reply(db.session, member, thread, "sneaking in")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 1


def test_a_reply_checked_before_a_suspension_is_refused(member, board):
    thread, _ = make_thread(member, board)
    # A moderator suspends the member after this request loaded them (a reply reads and
    # renders before it takes the write lock).
    db.session.execute(
        sa.update(User).where(User.id == member.id)
        .values(suspended_until=utcnow() + timedelta(days=1))
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    assert not member.is_suspended()
    with pytest.raises(PermissionDenied, match="suspended"):
        posting.reply(db.session, member, thread, "sneaking in")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 1
