"""Pages for reading and writing: boards, threads, replies, quotes, edits, kudos, solutions."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from forum.accounts.models import UserSession
from forum.boards import posting
from forum.boards.models import Post, PostRevision, Thread
from forum.extensions import db
from tests.conftest import Browser, make_board, make_user


def _thread(author, board, title="How do I get paid?", body="Question body"):  # noqa: ANN001, ANN202
    return posting.create_thread(db.session, author, board, title, body)


def test_board_list_shows_counts_and_last_activity(client, member, board) -> None:
    thread = _thread(member, board, title="Milestones explained")
    posting.reply(db.session, member, thread, "first reply")
    html = client.get("/").get_data(as_text=True)
    assert "General" in html
    assert "Milestones explained" in html
    assert re.search(r"<dt>Threads</dt><dd>1</dd>", html)
    assert re.search(r"<dt>Posts</dt><dd>2</dd>", html)


def test_moderator_only_board_hidden_from_members(client, member, moderator) -> None:
    make_board("lounge", moderators_only=True)
    assert "Lounge" not in client.get("/").get_data(as_text=True)
    assert client.get("/b/lounge").status_code == 404
    mod = Browser(client).sign_in(moderator)
    assert mod.get("/b/lounge").status_code == 200


def test_board_lists_pinned_first_then_last_activity(client, member, board) -> None:
    old = _thread(member, board, title="Old but pinned")
    old.pinned = True
    _thread(member, board, title="Older thread")
    newest = _thread(member, board, title="Newest thread")
    posting.accept_solution(db.session, member, posting.reply(db.session, make_user(), newest, "a"))
    html = client.get("/b/general").get_data(as_text=True)
    assert html.index("Old but pinned") < html.index("Newest thread") < html.index("Older thread")
    assert "Solved" in html


def test_board_is_paginated(app, client, member, board) -> None:
    per_page = app.config["THREADS_PER_PAGE"]
    for n in range(per_page + 1):
        _thread(member, board, title=f"Thread number {n:03d}")
    first = client.get("/b/general").get_data(as_text=True)
    second = client.get("/b/general?page=2").get_data(as_text=True)
    assert "Thread number 000" not in first and "Thread number 000" in second
    assert "Page 1 of 2" in first
    assert client.get("/b/general?page=3").status_code == 404
    assert client.get("/b/general?page=-1").status_code == 404


def test_new_thread_through_the_form(signed_in, board) -> None:
    data = {"title": "  Invoices  in  EUR? ", "body": "Can I?"}
    response = signed_in.post("/b/general/new", data)
    assert response.status_code == 302
    thread = db.session.scalar(sa.select(Thread))
    assert thread.title == "Invoices in EUR?"
    page = signed_in.get(response.location).get_data(as_text=True)
    assert "<p>Can I?</p>" in page


@pytest.mark.parametrize(
    ("title", "body", "field_message"),
    [
        ("ab", "body", "A title needs 3 to 200 characters."),
        ("x" * 201, "body", "A title needs 3 to 200 characters."),
        ("   ", "body", "A title needs 3 to 200 characters."),
        ("Good title", "", "Write something: a post cannot be empty."),
        ("Good title", " \n\t ", "Write something: a post cannot be empty."),
        # Zero-width spaces, a word joiner and a byte-order mark show nothing either.
        ("\u200b\u200b\u2060\ufeff", "body", "A title needs 3 to 200 characters."),
        ("Good title", "\u200b \u200c\u200d\n\ufeff", "Write something: a post cannot be empty."),
        ("Good title", "x" * 50_001, "A post can have at most 50,000 characters."),
    ],
)
def test_new_thread_refuses_bad_input_and_stores_nothing(
    signed_in, board, title, body, field_message
) -> None:
    response = signed_in.post("/b/general/new", {"title": title, "body": body})
    assert response.status_code == 422
    assert field_message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Thread)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 0


def test_resubmitted_thread_form_creates_one_thread(signed_in, board) -> None:
    data = {"title": "Double click", "body": "once", "submission_key": "k" * 32}
    first = signed_in.post("/b/general/new", data)
    second = signed_in.post("/b/general/new", data)
    assert first.location == second.location
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Thread)) == 1


def test_reply_and_resubmission(signed_in, member, board) -> None:
    thread = _thread(member, board)
    data = {"body": "Here is how", "submission_key": "r" * 32}
    first = signed_in.post(f"/t/{thread.id}/reply", data)
    assert first.status_code == 302 and "#post-" in first.location
    signed_in.post(f"/t/{thread.id}/reply", data)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 2
    db.session.refresh(thread)
    assert thread.reply_count == 1


@pytest.mark.parametrize(
    ("body", "field_message"),
    [
        ("", "Write something: a post cannot be empty."),
        ("\u00a0\r\n\u3000 ", "Write something: a post cannot be empty."),
        ("x" * 50_001, "A post can have at most 50,000 characters."),
    ],
)
def test_reply_refuses_bad_input_and_stores_nothing(
    signed_in, member, board, body, field_message
) -> None:
    thread = _thread(member, board)
    response = signed_in.post(f"/t/{thread.id}/reply", {"body": body})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_message in html and 'aria-invalid="true"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 1


@pytest.mark.parametrize(
    ("title", "body", "field_message"),
    [
        ("ab", "new body", "A title needs 3 to 200 characters."),
        ("x" * 201, "new body", "A title needs 3 to 200 characters."),
        ("Good title", "   ", "Write something: a post cannot be empty."),
        ("Good title", "x" * 50_001, "A post can have at most 50,000 characters."),
    ],
)
def test_edit_refuses_bad_input_and_keeps_the_post(
    signed_in, member, board, title, body, field_message
) -> None:
    thread = _thread(member, board, title="Original title", body="original body")
    post = db.session.scalar(sa.select(Post))
    response = signed_in.post(f"/posts/{post.id}/edit", {"title": title, "body": body})
    assert response.status_code == 422
    assert field_message in response.get_data(as_text=True)
    db.session.expire_all()
    assert (post.body_source, post.edited_at, thread.title) == (
        "original body",
        None,
        "Original title",
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PostRevision)) == 1


def test_a_resubmitted_edit_adds_no_revision(signed_in, member, board) -> None:
    thread = _thread(member, board, body="first version")
    post = db.session.scalar(sa.select(Post))
    edit = {"title": thread.title, "body": "second version"}
    assert signed_in.post(f"/posts/{post.id}/edit", edit).status_code == 302
    assert signed_in.post(f"/posts/{post.id}/edit", edit).status_code == 302
    revisions = db.session.scalars(sa.select(PostRevision.body_source)).all()
    assert sorted(revisions) == ["first version", "second version"]


def test_reply_requires_sign_in(client, member, board) -> None:
    thread = _thread(member, board)
    response = client.post(f"/t/{thread.id}/reply", data={"body": "anon"})
    assert response.status_code in (302, 400)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 1


def test_reply_to_a_missing_or_hidden_thread_is_404_and_an_ended_session_signs_in_again(
    signed_in, member, moderator, board
) -> None:
    # The reply view loads the thread and the session's member in one query: a thread it
    # does not find must still be a 404 for the member, not a sign-in page.
    thread = _thread(member, board)
    hidden = _thread(moderator, make_board("staff-room", moderators_only=True))
    assert signed_in.post("/t/424242/reply", {"body": "lost"}).status_code == 404
    assert signed_in.post(f"/t/{hidden.id}/reply", {"body": "sneaking"}).status_code == 404
    db.session.execute(sa.update(UserSession).values(revoked_at=sa.func.current_timestamp()))
    db.session.commit()
    response = signed_in.post(f"/t/{thread.id}/reply", {"body": "after signing out"})
    assert response.status_code == 302 and "/sign-in" in response.location
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 2  # the two threads'


def test_quote_reply_prefills_and_links_back(signed_in, other_member, board) -> None:
    thread = _thread(other_member, board, body="Line one\n\nLine two")
    original = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    form = signed_in.get(f"/t/{thread.id}/reply?quote={original.id}").get_data(as_text=True)
    assert "&gt; **ben** [wrote](/posts/" in form
    body = f"> **ben** [wrote](/posts/{original.id}):\n> Line one\n\nI agree"
    signed_in.post(f"/t/{thread.id}/reply", {"body": body, "quote_id": str(original.id)})
    reply = db.session.scalar(sa.select(Post).where(Post.number == 2))
    assert reply.quoted_post_id == original.id
    link = f'<a href="/posts/{original.id}" rel="nofollow ugc noopener">wrote</a>'
    assert link in reply.body_html
    assert "<blockquote>" in reply.body_html


def test_thread_page_paginates_and_permalink_finds_the_page(app, client, member, board) -> None:
    thread = _thread(member, board)
    posts = [posting.reply(db.session, member, thread, f"reply {n}") for n in range(25)]
    late = posts[-1]  # post number 26 -> page 2
    response = client.get(f"/posts/{late.id}")
    assert response.status_code == 302
    assert response.location.endswith(f"/t/{thread.id}?page=2#post-{late.id}")
    page2 = client.get(f"/t/{thread.id}?page=2").get_data(as_text=True)
    assert f'id="post-{late.id}"' in page2 and "reply 0</p>" not in page2
    assert client.get(f"/t/{thread.id}?page=3").status_code == 404
    for bad in ("0", "-1", "abc", "99999999"):
        assert client.get(f"/t/{thread.id}?page={bad}").status_code == 404, bad
        assert client.get(f"/b/{board.slug}?page={bad}").status_code == 404, bad
        assert client.get(f"/b/nope?page={bad}").status_code == 404, bad
        assert client.get(f"/t/424242?page={bad}").status_code == 404, bad


def test_unknown_ids_are_404(client) -> None:
    for path in ("/t/424242", "/posts/424242", "/b/nope", "/u/nobody", "/posts/424242/revisions"):
        assert client.get(path).status_code == 404, path


def test_edit_keeps_every_revision(signed_in, member, board) -> None:
    thread = _thread(member, board, body="first version")
    post = db.session.scalar(sa.select(Post))
    signed_in.post(f"/posts/{post.id}/edit", {"title": thread.title, "body": "second version"})
    third = {"title": "New title", "body": "third", "reason": "typo"}
    signed_in.post(f"/posts/{post.id}/edit", third)
    revisions = db.session.scalars(sa.select(PostRevision).order_by(PostRevision.number)).all()
    assert [r.body_source for r in revisions] == ["first version", "second version", "third"]
    page = signed_in.get(f"/t/{thread.id}").get_data(as_text=True)
    assert "Edited" in page and "by ann" in page
    history = signed_in.get(f"/posts/{post.id}/revisions").get_data(as_text=True)
    assert "first version" in history and "typo" in history
    db.session.refresh(thread)
    assert thread.title == "New title"


def test_editing_another_members_post_is_403(signed_in, other_member, board) -> None:
    _thread(other_member, board, body="not yours")
    post = db.session.scalar(sa.select(Post))
    assert signed_in.get(f"/posts/{post.id}/edit").status_code == 403
    assert signed_in.post(f"/posts/{post.id}/edit", {"body": "mine now"}).status_code == 403
    db.session.refresh(post)
    assert post.body_source == "not yours"


def test_moderator_edit_is_labelled(app, moderator, other_member, board) -> None:
    _thread(other_member, board, body="rude words")
    post = db.session.scalar(sa.select(Post))
    mod = Browser(app.test_client()).sign_in(moderator)
    edit = {"title": "How do I get paid?", "body": "polite words", "reason": "insults"}
    mod.post(f"/posts/{post.id}/edit", edit)
    page = mod.get(f"/t/{post.thread_id}").get_data(as_text=True)
    assert "by mod (moderator)" in page


def test_kudos_once_per_member_and_never_on_own_post(
    signed_in, member, other_member, board
) -> None:
    thread = _thread(other_member, board)
    post = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    signed_in.post(f"/posts/{post.id}/kudos")
    signed_in.post(f"/posts/{post.id}/kudos")
    db.session.refresh(post)
    db.session.refresh(other_member)
    assert post.kudos_count == 1 and other_member.kudos_received == 1
    own = posting.reply(db.session, member, thread, "my own")
    assert signed_in.post(f"/posts/{own.id}/kudos").status_code == 403
    profile = signed_in.get("/u/ben").get_data(as_text=True)
    assert re.search(r"<dt>Kudos received</dt><dd>1</dd>", profile)


def test_accept_solution_by_author_only(app, signed_in, member, other_member, board) -> None:
    thread = _thread(member, board)
    answer = posting.reply(db.session, other_member, thread, "the answer")
    stranger = Browser(app.test_client()).sign_in(make_user("zed"))
    assert stranger.post(f"/posts/{answer.id}/accept").status_code == 403
    assert signed_in.post(f"/posts/{answer.id}/accept").status_code == 302
    page = signed_in.get(f"/t/{thread.id}").get_data(as_text=True)
    assert "Solved" in page and f'href="/posts/{answer.id}">Go to solution' in page
    signed_in.post(f"/t/{thread.id}/unaccept")
    db.session.refresh(thread)
    assert thread.solution_post_id is None


def test_forms_without_csrf_are_refused(app, member, board) -> None:
    client = app.test_client()
    Browser(client).sign_in(member)
    response = client.post("/b/general/new", data={"title": "No token here", "body": "x"})
    assert response.status_code == 422 or response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Thread)) == 0


def test_profile_shows_join_date_posts_and_badges(client, moderator, board) -> None:
    _thread(moderator, board)
    html = client.get("/u/MOD").get_data(as_text=True)
    assert "Joined" in html and "Moderator" in html
    assert re.search(r"<dt>Posts</dt><dd>1</dd>", html)


def test_a_post_s_url_is_the_one_url_for_builds(app) -> None:
    from types import SimpleNamespace

    from flask import url_for

    from forum.boards.views import post_url

    per_page = app.config["POSTS_PER_PAGE"]
    with app.test_request_context("/", base_url="http://forum.example/community"):
        for number in (1, per_page, per_page + 1, 5 * per_page + 3):
            post = SimpleNamespace(id=1000 + number, number=number, thread_id=7)
            for _ in range(2):  # built, then remembered
                page = (number - 1) // per_page + 1
                args = {"page": page} if page > 1 else {}
                expected = url_for("boards.thread", thread_id=7, _anchor=f"post-{post.id}", **args)
                assert post_url(post) == expected
