"""Cached fragments never show stale or another viewer's content."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from forum import create_app, fragments
from forum.accounts.models import Role
from forum.boards import posting
from forum.boards.models import Post
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import removals, sanctions, threads
from forum.moderation.models import Action
from tests.conftest import Browser, make_user, require_redis


@pytest.fixture
def thread(member, board):  # noqa: ANN001, ANN201
    thread = posting.create_thread(db.session, member, board, "Cached thread", "first post")
    posting.reply(db.session, make_user(), thread, "a reply worth **reading**")
    db.session.commit()
    return thread


def _reply(thread) -> Post:  # noqa: ANN001
    return db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id, Post.number == 2))


def _page(client, thread) -> str:  # noqa: ANN001
    response = client.get(f"/t/{thread.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_every_change_shows_on_the_next_request(client, thread, moderator) -> None:
    assert "a reply worth" in _page(client, thread)
    assert "a reply worth" in _page(client, thread)  # served from the cache

    posting.reply(db.session, make_user(), thread, "brand new reply")
    db.session.commit()
    assert "brand new reply" in _page(client, thread)

    reply = _reply(thread)
    posting.edit_post(db.session, reply.author, reply, "an edited reply")
    db.session.commit()
    html = _page(client, thread)
    assert "an edited reply" in html and "a reply worth" not in html

    posting.give_kudos(db.session, make_user(), reply)
    db.session.commit()
    assert "1 kudos" in _page(client, thread)

    removals.remove_post(db.session, moderator, reply.id, "spam")
    db.session.commit()
    html = _page(client, thread)
    assert "This post was removed by a moderator: spam" in html
    assert "an edited reply" not in html


def test_a_badge_change_shows_on_the_next_request(client, thread) -> None:
    author = _reply(thread).author
    assert "badge-moderator" not in _page(client, thread)
    author.role = Role.MODERATOR.value
    db.session.commit()
    assert "badge-moderator" in _page(client, thread)


def test_a_suspension_shows_on_the_suspended_members_next_request(
    app, thread, member, moderator
) -> None:
    browser = Browser(app.test_client()).sign_in(member)
    html = _page(browser.client, thread)
    assert "Give kudos" in html and "Post reply" in html
    sanctions.suspend(db.session, moderator, member.id, utcnow() + timedelta(days=3), "cool down")
    db.session.commit()
    html = _page(browser.client, thread)
    assert "Your account is suspended" in html
    assert "Give kudos" not in html and "Post reply" not in html


def test_a_moderators_view_never_reaches_a_member(app, thread, moderator) -> None:
    removals.remove_post(db.session, moderator, _reply(thread).id, "off-topic")
    db.session.commit()
    mod_page = _page(Browser(app.test_client()).sign_in(moderator).client, thread)
    assert "a reply worth" in mod_page and "Restore" in mod_page
    for client in (app.test_client(), Browser(app.test_client()).sign_in(make_user()).client):
        html = _page(client, thread)
        assert "a reply worth" not in html and "Restore" not in html
        assert "This post was removed by a moderator: off-topic" in html


def test_members_never_get_each_others_buttons_or_tokens(app, thread) -> None:
    first, second = make_user(), make_user()
    first_client = Browser(app.test_client()).sign_in(first).client
    second_client = Browser(app.test_client()).sign_in(second).client
    posting.give_kudos(db.session, first, _reply(thread))
    db.session.commit()
    first_html, second_html = _page(first_client, thread), _page(second_client, thread)
    assert "You gave kudos" in first_html and "You gave kudos" not in second_html
    token = 'name="csrf_token" value="'
    first_tokens = {part.split('"')[0] for part in first_html.split(token)[1:]}
    second_tokens = {part.split('"')[0] for part in second_html.split(token)[1:]}
    assert first_tokens and second_tokens
    assert first_tokens.isdisjoint(second_tokens)


def test_a_members_new_session_never_gets_another_sessions_tokens(app, thread) -> None:
    member = make_user()
    token = 'name="csrf_token" value="'
    pages = []
    for _ in range(2):  # two sign-ins of the same member: two sessions, two CSRF secrets
        client = Browser(app.test_client()).sign_in(member).client
        html = _page(client, thread)
        pages.append({part.split('"')[0] for part in html.split(token)[1:]})
        # The page's forms work in the session that got them.
        kudos = client.post(
            f"/posts/{_reply(thread).id}/kudos", data={"csrf_token": next(iter(pages[-1]))}
        )
        assert kudos.status_code == 302
    assert pages[0].isdisjoint(pages[1])


@pytest.mark.parametrize(
    "later",
    [timedelta(microseconds=1), timedelta(seconds=1), timedelta(days=1), timedelta(days=-1)],
)
def test_keys_tell_every_two_times_apart(later: timedelta) -> None:
    # UTC times go into keys as their instant (fragments._KeyPickler), the rest as pickled.
    for at in (utcnow(), datetime(1970, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)):
        assert fragments.key_of("k", [at, 1]) == fragments.key_of("k", [at + timedelta(0), 1])
        assert fragments.key_of("k", [at, 1]) != fragments.key_of("k", [at + later, 1])
        assert fragments.key_of("k", at) != fragments.key_of("k", at.replace(tzinfo=None))
        elsewhere = at.astimezone(timezone(timedelta(hours=2)))  # the same instant
        assert fragments.key_of("k", at) != fragments.key_of("k", elsewhere)
        assert fragments.key_of("k", at) != fragments.key_of("k", at.timestamp())
        assert fragments._utc_time(at.timestamp(), at.microsecond) == at


def test_the_memory_store_keeps_to_its_size() -> None:
    store = fragments.MemoryStore(max_bytes=1000)
    for n in range(50):
        store.set(f"k{n}", "x" * 100)
    assert store.size <= 1000
    assert store.get("k49") == "x" * 100 and store.get("k0") is None


def test_two_processes_share_fragments_in_redis(app, database_url) -> None:  # noqa: ANN001
    url = "redis://127.0.0.1:6379/9"
    require_redis(url)
    config = {**app.config, "CACHE_REDIS_URL": url}
    config.pop("SERVER_NAME", None)
    one, two = create_app(config), create_app(config)
    key = fragments.key_of("test", uuid.uuid4().hex)
    with one.app_context():
        assert fragments.cached(key, lambda: "rendered by one") == "rendered by one"
    with two.app_context():
        assert fragments.cached(key, lambda: "rendered by two") == "rendered by one"
        # A change is a new key: the other process renders it, never the old fragment.
        changed = fragments.key_of("test", uuid.uuid4().hex)
        assert fragments.cached(changed, lambda: "rendered again") == "rendered again"
    for each in (one, two):
        with each.app_context():
            db.engine.dispose()


def test_without_redis_url_fragments_stay_in_memory(app) -> None:
    assert isinstance(app.extensions["fragments"], fragments.MemoryStore)


# --- board pages and the board list -------------------------------------------------------


def _get(client, path: str) -> str:  # noqa: ANN001
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_board_page_and_board_list_show_every_change_on_the_next_request(
    client, thread, board, moderator
) -> None:
    path = f"/b/{board.slug}"
    assert "Cached thread" in _get(client, path) and "Cached thread" in _get(client, path)
    assert "Cached thread" in _get(client, "/") and "Cached thread" in _get(client, "/")

    posting.create_thread(db.session, make_user(), board, "A newer thread", "body")
    db.session.commit()
    assert "A newer thread" in _get(client, path)
    assert "A newer thread" in _get(client, "/")

    posting.reply(db.session, make_user("lastposter"), thread, "a later reply")
    db.session.commit()
    html = _get(client, path)
    assert "by lastposter" in html
    assert "by lastposter" in _get(client, "/")

    first = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id, Post.number == 1))
    posting.edit_post(db.session, first.author, first, "first post", title="Renamed thread")
    db.session.commit()
    assert "Renamed thread" in _get(client, path)
    assert "Renamed thread" in _get(client, "/")

    threads.set_flag(db.session, moderator, thread.id, Action.LOCK_THREAD)
    db.session.commit()
    assert "tag-locked" in _get(client, path)

    removals.remove_post(db.session, moderator, first.id, "spam")
    db.session.commit()
    assert "Renamed thread" not in _get(client, path)
    assert "Renamed thread" not in _get(client, "/")


def test_a_moderators_board_page_never_reaches_a_member(app, thread, board, moderator) -> None:
    first = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id, Post.number == 1))
    removals.remove_post(db.session, moderator, first.id, "spam")
    db.session.commit()
    path = f"/b/{board.slug}"
    mod_page = _get(Browser(app.test_client()).sign_in(moderator).client, path)
    assert "Cached thread" in mod_page and "tag-removed" in mod_page
    for client in (app.test_client(), Browser(app.test_client()).sign_in(make_user()).client):
        html = _get(client, path)
        assert "Cached thread" not in html and "tag-removed" not in html


def test_a_members_unread_marks_are_their_own(app, thread, board) -> None:
    reader, other = make_user(), make_user()
    reader_client = Browser(app.test_client()).sign_in(reader).client
    other_client = Browser(app.test_client()).sign_in(other).client
    path = f"/b/{board.slug}"
    assert "tag-new" in _get(reader_client, path) and "tag-new" in _get(other_client, path)
    _get(reader_client, f"/t/{thread.id}")  # reads the thread
    assert "tag-new" not in _get(reader_client, path)
    assert "tag-new" in _get(other_client, path)
    posting.reply(db.session, make_user(), thread, "one more")
    db.session.commit()
    assert "1 new" in _get(reader_client, path)
