"""Removal keeps everything: tombstones for members, the original for moderators, restore."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from forum.accounts.models import User
from forum.boards import posting
from forum.boards.models import Board, Post, PostRevision, Thread
from forum.extensions import db
from forum.moderation import removals
from forum.moderation.errors import ModerationError
from forum.permissions import PermissionDenied
from forum.signals import post_removed
from tests.conftest import Browser, make_user
from tests.forum.moderation.conftest import assert_counters_consistent, log_rows, make_thread

TOMBSTONE = "This post was removed by a moderator: Spam."


@pytest.fixture
def mod(app, moderator) -> Browser:
    return Browser(app.test_client()).sign_in(moderator)


def test_members_see_a_tombstone_and_moderators_the_original(app, mod, moderator, member, board):
    spammer = make_user("spammer")
    thread, posts = make_thread(member, board, [spammer])
    posts[1].body_source = "cheap followers"
    posting.edit_post(db.session, spammer, posts[1], "Buy cheap followers at example.com")
    form = mod.get(f"/moderation/posts/{posts[1].id}/remove").get_data(as_text=True)
    assert "Buy cheap followers" in form and "Nothing is deleted" in form
    response = mod.post(f"/moderation/posts/{posts[1].id}/remove", {"reason": "Spam."})
    assert response.status_code == 302 and response.location.endswith(f"#post-{posts[1].id}")

    for viewer in (Browser(app.test_client()).sign_in(member), Browser(app.test_client())):
        html = viewer.get(f"/t/{thread.id}").get_data(as_text=True)
        assert TOMBSTONE in html
        assert "cheap followers" not in html
        assert f'href="/posts/{posts[1].id}/report"' not in html
    moderator_view = mod.get(f"/t/{thread.id}").get_data(as_text=True)
    assert "Buy cheap followers" in moderator_view
    assert "Removed by a moderator: Spam" in moderator_view
    assert f'action="/moderation/posts/{posts[1].id}/restore"' in moderator_view
    # Nothing was deleted: the row, its body and every revision are still there.
    db.session.expire_all()
    post = db.session.get(Post, posts[1].id)
    assert post.body_source == "Buy cheap followers at example.com"
    assert (post.removal_reason, post.removed_by_id) == ("Spam", moderator.id)
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(PostRevision)
            .where(PostRevision.post_id == post.id)
        )
        == 2
    )


def test_removal_and_restore_move_counts_and_last_activity(app, mod, moderator, member, board):
    replier = make_user("replier")
    make_thread(member, board, title="Earlier thread")
    thread, posts = make_thread(member, board, [member, replier], title="Busy thread")
    db.session.refresh(board)
    assert (board.post_count, board.last_thread_id) == (4, thread.id)
    removals.remove_post(db.session, moderator, posts[2].id, "Spam")
    db.session.expire_all()
    thread = db.session.get(Thread, thread.id)
    assert thread.reply_count == 1 and thread.last_post_author_id == member.id
    assert db.session.get(Board, board.id).post_count == 3
    assert db.session.get(User, replier.id).post_count == 0
    assert_counters_consistent()
    listing = Browser(app.test_client()).get("/b/general").get_data(as_text=True)
    assert re.search(r'Busy thread</a>.*?<td class="num">1</td>', listing, re.S)
    removals.restore_post(db.session, moderator, posts[2].id)
    db.session.expire_all()
    thread = db.session.get(Thread, thread.id)
    assert thread.reply_count == 2 and thread.last_post_author_id == replier.id
    assert db.session.get(User, replier.id).post_count == 1
    assert_counters_consistent()
    assert [e.action for e in log_rows()] == ["remove_post", "restore_post"]
    assert log_rows()[1].detail.startswith("was removed by mod: Spam")


def test_removing_the_first_post_removes_the_thread(
    app, mod, moderator, member, other_member, board
) -> None:
    # The earlier thread takes over the board's "last activity" while the later one is gone.
    make_thread(other_member, board, title="Earlier thread")
    thread, posts = make_thread(member, board, [other_member, member], title="Off-platform offer")
    member_browser = Browser(app.test_client()).sign_in(other_member)
    form = mod.get(f"/moderation/posts/{posts[0].id}/remove").get_data(as_text=True)
    assert "the whole thread is removed with it" in form
    mod.post(f"/moderation/posts/{posts[0].id}/remove", {"reason": "Circumvention"})

    page = member_browser.get(f"/t/{thread.id}")
    assert page.status_code == 410
    # Whatever page is asked for: the tombstone comes first.
    assert member_browser.get(f"/t/{thread.id}?page=abc").status_code == 410
    html = page.get_data(as_text=True)
    assert "This thread was removed by a moderator: Circumvention." in html
    assert "Off-platform offer" not in html and "Question by" not in html
    for post in posts:  # permalinks land on the tombstone, never on the content
        assert member_browser.get(f"/posts/{post.id}").status_code == 410
        assert member_browser.get(f"/posts/{post.id}/revisions").status_code == 404
    listing = member_browser.get("/b/general").get_data(as_text=True)
    assert "Off-platform offer" not in listing and "Earlier thread" in listing
    index = member_browser.get("/").get_data(as_text=True)
    assert "Off-platform offer" not in index and "Earlier thread" in index
    assert re.search(r"<dt>Threads</dt><dd>1</dd>", index)
    assert re.search(r"<dt>Posts</dt><dd>1</dd>", index)
    assert_counters_consistent()

    moderator_view = mod.get(f"/t/{thread.id}")
    assert moderator_view.status_code == 200
    html = moderator_view.get_data(as_text=True)
    assert "This thread was removed by a moderator: Circumvention" in html
    assert "Restore thread" in html and "Off-platform offer" in html
    assert "Removed</span>" in mod.get("/b/general").get_data(as_text=True)

    mod.post(f"/moderation/posts/{posts[0].id}/restore")
    assert member_browser.get(f"/t/{thread.id}").status_code == 200
    index = member_browser.get("/").get_data(as_text=True)
    assert re.search(r"<dt>Posts</dt><dd>4</dd>", index) and "Off-platform offer" in index
    assert_counters_consistent()
    assert [e.action for e in log_rows()] == ["remove_thread", "restore_thread"]


def test_replies_removed_inside_a_removed_thread_stay_removed_on_restore(
    mod, moderator, member, board
) -> None:
    thread, posts = make_thread(member, board, [member, make_user("other")])
    removals.remove_post(db.session, moderator, posts[0].id, "Spam")
    removals.remove_post(db.session, moderator, posts[1].id, "Rude")
    assert_counters_consistent()
    removals.restore_post(db.session, moderator, posts[0].id)
    assert_counters_consistent()
    db.session.expire_all()
    assert db.session.get(Post, posts[1].id).is_removed
    assert db.session.get(Thread, thread.id).reply_count == 1
    removals.restore_post(db.session, moderator, posts[1].id)
    assert_counters_consistent()


def test_a_removed_post_can_be_neither_edited_quoted_kudoed_nor_accepted_by_members(
    app, mod, moderator, member, other_member, board
):
    thread, posts = make_thread(member, board, [other_member])
    removals.remove_post(db.session, moderator, posts[1].id, "Spam")
    author = Browser(app.test_client()).sign_in(other_member)
    asker = Browser(app.test_client()).sign_in(member)
    assert author.get(f"/posts/{posts[1].id}/edit").status_code == 403
    assert author.get(f"/posts/{posts[1].id}/revisions").status_code == 404
    assert asker.post(f"/posts/{posts[1].id}/kudos").status_code == 403
    assert asker.post(f"/posts/{posts[1].id}/accept").status_code == 302
    db.session.expire_all()
    assert db.session.get(Thread, thread.id).solution_post_id is None
    quote = asker.get(f"/t/{thread.id}/reply?quote={posts[1].id}").get_data(as_text=True)
    assert "Reply 1 by ben" not in quote
    profile = asker.get("/u/ben").get_data(as_text=True)
    assert f"/posts/{posts[1].id}" not in profile
    assert "/posts/" in mod.get("/u/ben").get_data(as_text=True)


def test_a_removed_solution_no_longer_shows_as_the_answer(
    app, mod, moderator, member, other_member, board
) -> None:
    thread, posts = make_thread(member, board, [other_member])
    posting.accept_solution(db.session, member, posts[1])
    removals.remove_post(db.session, moderator, posts[1].id, "Spam")
    html = Browser(app.test_client()).get(f"/t/{thread.id}").get_data(as_text=True)
    assert "Go to solution" not in html and "Accepted solution" not in html
    removals.restore_post(db.session, moderator, posts[1].id)
    assert "Go to solution" in Browser(app.test_client()).get(f"/t/{thread.id}").get_data(
        as_text=True
    )


def test_removal_needs_a_short_reason_and_a_moderator(mod, moderator, member, other_member, board):
    _, posts = make_thread(member, board, [other_member])
    response = mod.post(f"/moderation/posts/{posts[1].id}/remove", {"reason": "  "})
    assert response.status_code == 422
    assert 'id="reason-error"' in response.get_data(as_text=True)
    assert mod.post(f"/moderation/posts/{posts[1].id}/remove",
                    {"reason": "x" * 501}).status_code == 422  # fmt: skip
    with pytest.raises(PermissionDenied):
        removals.remove_post(db.session, member, posts[1].id, "Spam")
    with pytest.raises(ModerationError):
        removals.remove_post(db.session, moderator, posts[1].id, "")
    db.session.expire_all()
    assert not db.session.get(Post, posts[1].id).is_removed
    assert log_rows() == []


def test_acts_that_change_nothing_are_still_logged(mod, moderator, member, other_member, board):
    _, posts = make_thread(member, board, [other_member])
    assert removals.remove_post(db.session, moderator, posts[1].id, "Spam").changed
    again = removals.remove_post(db.session, moderator, posts[1].id, "Spam")
    assert not again.changed and again.message.startswith("This post was already removed by mod")
    assert removals.restore_post(db.session, moderator, posts[1].id).changed
    assert not removals.restore_post(db.session, moderator, posts[1].id).changed
    assert [(e.action, e.changed) for e in log_rows()] == [
        ("remove_post", True), ("remove_post", False),
        ("restore_post", True), ("restore_post", False),
    ]  # fmt: skip
    assert_counters_consistent()


def test_removal_sends_the_post_removed_signal(app, mod, moderator, member, other_member, board):
    _, posts = make_thread(member, board, [other_member])
    received = []

    def _listener(sender, **kwargs):  # noqa: ANN001, ANN202
        # Listeners run inside the request, in its transaction, before the commit.
        assert kwargs["post"].removed_at is not None
        received.append((sender, {**kwargs, "moderator": kwargs["moderator"].username}))

    post_removed.connect(_listener)
    try:
        mod.post(f"/moderation/posts/{posts[1].id}/remove", {"reason": "Spam"})
        mod.post(f"/moderation/posts/{posts[1].id}/remove", {"reason": "Spam"})  # no change
    finally:
        post_removed.disconnect(_listener)
    [(sender, kwargs)] = received
    assert sender is app
    assert kwargs["post"].id == posts[1].id and kwargs["reason"] == "Spam"
    assert kwargs["moderator"] == "mod" and kwargs["session"] is not None


def test_nobody_replies_to_a_removed_thread(mod, moderator, member, board):
    thread, posts = make_thread(member, board)
    removals.remove_post(db.session, moderator, posts[0].id, "Spam")
    db.session.refresh(thread)
    with pytest.raises(PermissionDenied):
        posting.reply(db.session, moderator, thread, "still here?")
    assert "no replies can be posted" in mod.get(f"/t/{thread.id}").get_data(as_text=True)


def test_unknown_posts_are_404(mod):
    assert mod.get("/moderation/posts/424242/remove").status_code == 404
    assert mod.post("/moderation/posts/424242/restore").status_code == 404
