"""Whole pages from the cache: holes filled per request, the layout keyed on the viewer."""

from __future__ import annotations

import re

import pytest
from flask import flash

from forum import pages
from forum.boards import posting
from forum.extensions import db
from forum.notifications import notify
from tests.conftest import Browser, make_user


@pytest.fixture
def thread(member, board):  # noqa: ANN001, ANN201
    thread = posting.create_thread(db.session, member, board, "Paged thread", "first post")
    db.session.commit()
    return thread


def _get(client, path: str) -> str:  # noqa: ANN001
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_holes_are_filled_on_every_request(app, thread) -> None:
    browser = Browser(app.test_client()).sign_in(make_user())
    seen_views, seen_keys = [], []
    for _ in range(3):
        html = _get(browser.client, f"/t/{thread.id}")
        seen_views.append(re.search(r"(\d+) views?<", html).group(1))
        seen_keys.append(re.search(r'name="submission_key" [^>]*value="([^"]*)"', html).group(1))
    # One more view each time, from the cached page (the process's tally may hold earlier
    # tests' views of a thread with the same id).
    first = int(seen_views[0])
    assert seen_views == [str(first), str(first + 1), str(first + 2)]
    assert len(set(seen_keys)) == 3 and all(seen_keys)


def test_a_guest_page_counts_views_too(client, thread) -> None:
    pattern = re.compile(r"(\d+) views?<")
    counts = [int(pattern.search(_get(client, f"/t/{thread.id}")).group(1)) for _ in "ab"]
    assert counts[1] == counts[0] + 1


def test_flashed_messages_show_once_and_are_not_cached(app, thread, board) -> None:
    client = app.test_client()
    for path in (f"/t/{thread.id}", f"/b/{board.slug}", "/"):
        _get(client, path)  # cached without a message
        with client.session_transaction() as session:
            session["_flashes"] = [("info", "Hello from the flash")]
        assert "Hello from the flash" in _get(client, path)
        assert "Hello from the flash" not in _get(client, path)


def test_the_header_is_the_viewers_own(app, thread, board, moderator) -> None:
    first, second = make_user("firstreader"), make_user("secondreader")
    clients = {
        user.username: Browser(app.test_client()).sign_in(user).client
        for user in (first, second, moderator)
    }
    for path in (f"/t/{thread.id}", f"/b/{board.slug}", "/"):
        for name, client in clients.items():
            html = _get(client, path)
            assert f">{name}</a>" in html
            others = [other for other in clients if other != name]
            assert not any(f">{other}</a>" in html for other in others)
            assert ("Moderation</a>" in html) == (name == moderator.username)
        guest = _get(app.test_client(), path)
        assert "Sign out" not in guest and "Moderation</a>" not in guest


def test_the_bell_shows_a_new_notification_on_the_next_request(app, thread, member) -> None:
    client = Browser(app.test_client()).sign_in(member).client
    for path in ("/", f"/t/{thread.id}"):
        assert "bell-count" not in _get(client, path)
    notify(db.session, member.id, "mention", actor_id=make_user().id, thread_id=thread.id)
    db.session.commit()
    for path in ("/", f"/t/{thread.id}"):
        assert "bell-count" in _get(client, path)


def test_holes_are_escaped(app) -> None:
    with app.test_request_context("/"):
        html = pages.cached(
            "test-escape", ("x",), lambda holes: f"<p>{holes['v']}</p>", {"v": "<b>&"}
        )
        assert html == b"<p>&lt;b&gt;&amp;</p>"
        again = pages.cached("test-escape", ("x",), lambda holes: "never", {"v": "2"})
        assert again == b"<p>2</p>"


def test_a_page_rendered_outside_the_cache_when_flashing(app) -> None:
    with app.test_request_context("/"):
        flash("something")
        calls = []

        def render(holes):  # noqa: ANN001, ANN202
            calls.append(holes)
            return f"[{holes['v']}]"

        assert pages.cached("test-flash", (), render, {"v": "a"}) == b"[a]"
        assert pages.cached("test-flash", (), render, {"v": "b"}) == b"[b]"
        assert len(calls) == 2
