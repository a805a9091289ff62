"""A form sent twice at the same moment (a double click, a retry racing the original).

Each copy is a real request on its own connection; both look for an earlier submission before
either has committed, so only the database's unique constraints can tell them apart. The
second must get the first one's result, never a 500 and never a second row.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from forum.accounts.models import User
from forum.boards.models import Post, PostRevision, Thread
from forum.extensions import db
from tests.conftest import Browser, csrf_token, make_board, make_user
from tests.forum.moderation.conftest import assert_counters_consistent
from tests.forum.moderation.test_concurrency import run_together, slow_after

pytestmark = pytest.mark.concurrency


def _count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_thread_submitted_twice_at_once_is_created_once(committed_app) -> None:
    author = make_user("ann")
    make_board("general")
    db.session.commit()
    form = {"title": "Paid twice?", "body": "Is this a double charge?", "submission_key": "k1"}
    # Pause each request after it inserts its thread: the other then inserts its own before
    # either commits, and the second one's first post meets the first one's key.
    with slow_after("INSERT INTO threads"):
        responses = run_together(
            committed_app, [author, author], lambda i, b: b.post("/b/general/new", form)
        )
    assert [r.status_code for r in responses] == [302, 302]
    assert responses[0].location == responses[1].location
    db.session.expire_all()
    assert _count(Thread) == 1 and _count(Post) == 1 and _count(PostRevision) == 1
    assert db.session.scalar(sa.select(User.post_count).where(User.username == "ann")) == 1
    assert_counters_consistent()


def test_a_reply_submitted_twice_at_once_is_posted_once(committed_app) -> None:
    author, replier = make_user("ann"), make_user("ben")
    board = make_board("general")
    db.session.commit()
    Browser(committed_app.test_client()).sign_in(author).post(
        f"/b/{board.slug}/new", {"title": "A question", "body": "Why?", "submission_key": "q"}
    )
    db.session.rollback()  # see the thread the request committed
    thread_id = db.session.scalar(sa.select(Thread.id))
    assert thread_id is not None
    form = {"body": "Because.", "quote_id": "", "submission_key": "r1"}
    with slow_after("INSERT INTO posts"):
        responses = run_together(
            committed_app, [replier, replier], lambda i, b: b.post(f"/t/{thread_id}/reply", form)
        )
    assert [r.status_code for r in responses] == [302, 302]
    assert responses[0].location == responses[1].location
    db.session.expire_all()
    assert _count(Post) == 2
    assert db.session.get(Thread, thread_id).reply_count == 1
    assert_counters_consistent()


def test_one_username_signed_up_twice_at_once_is_a_form_error(committed_app) -> None:
    clients = [committed_app.test_client(), committed_app.test_client()]
    tokens = [csrf_token(c, "/sign-up") for c in clients]
    db.session.rollback()

    def sign_up(index: int, _browser: Browser):  # noqa: ANN202
        return clients[index].post(
            "/sign-up",
            data={
                "csrf_token": tokens[index], "username": "dana", "email": "dana@example.com",
                "password": "dana-password", "confirm": "dana-password", "kind": "both",
            },
        )  # fmt: skip

    # Two anonymous people: run_together signs its actors in, so give it two throwaway ones.
    spare = [make_user("spare1"), make_user("spare2")]
    db.session.commit()
    with slow_after("INSERT INTO users"):
        responses = run_together(committed_app, spare, sign_up)
    codes = sorted(r.status_code for r in responses)
    assert codes == [302, 422], codes
    refused = next(r for r in responses if r.status_code == 422).get_data(as_text=True)
    assert "That username is taken." in refused
    db.session.expire_all()
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(User).where(User.username == "dana")
        )
        == 1
    )
