"""Cached search results: served again until searchable content changes, never stale, and
never a moderator's results to a member.

These tests commit (``committed_app``): the cache only holds what committed transactions
wrote, and the search generation moves when they commit.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from forum.accounts.models import User
from forum.boards import posting
from forum.boards.models import Board, Post, Thread
from forum.extensions import db
from forum.moderation import removals, threads
from forum.search import cache, generation
from forum.search.service import SearchFilters, search
from tests.conftest import count_queries, make_board, make_user


@pytest.fixture
def forum(committed_app):  # noqa: ANN001, ANN201
    author = make_user("ann")
    moderator = make_user("mod")
    moderator.role = "moderator"
    board = make_board("general")
    thread = posting.create_thread(
        db.session, author, board, "Payout delays", "Where is my payout?"
    )
    db.session.commit()
    return committed_app, author, moderator, board, thread


def _search(text: str, viewer: User | None = None, **filters) -> list[str]:  # noqa: ANN003
    results = search(db.session, viewer, text, SearchFilters(**filters))
    db.session.rollback()  # each search its own transaction, as each request
    return [f"{hit.author_name}:{hit.post_id}" for hit in results.hits]


def _statements(text: str, viewer: User | None = None) -> list[str]:
    with count_queries(prepared=True) as statements:
        search(db.session, viewer, text, SearchFilters())
    db.session.rollback()
    return [statement for statement in statements if not statement.startswith("BEGIN")]


def test_a_repeated_search_reads_only_the_generation(forum) -> None:
    first = _statements("payout")
    again = _statements("payout")
    assert len(first) > 2
    assert len(again) == 1 and "search_generation" in again[0]
    # Another page, filter or order is another entry.
    assert len(_statements("payout delays")) > 2


def test_cached_results_are_the_results_searched(forum) -> None:
    # What the cache stores (cache.dumps, field by field) loads as the very results: every
    # field of the page and of each hit, markup and aware times included.
    app, author, moderator, board, thread = forum
    posting.reply(db.session, author, thread, "A <b>payout</b> & a second payout.")
    db.session.commit()
    searched = search(db.session, moderator, "payout", SearchFilters())
    db.session.rollback()
    assert len(searched.hits) == 2
    assert cache._load(cache.dumps(searched)) == searched
    assert search(db.session, moderator, "payout", SearchFilters()) == searched  # a hit
    db.session.rollback()


def test_the_generation_moves_with_searchable_changes_only(forum) -> None:
    _, author, _, _, thread = forum

    def generation_now() -> int:
        value = generation.current(db.session.connection())
        db.session.rollback()
        return value

    before = generation_now()
    db.session.execute(
        sa.update(Thread).where(Thread.id == thread.id).values(view_count=Thread.view_count + 5)
    )
    db.session.commit()
    assert generation_now() == before  # a counter
    posting.reply(db.session, author, thread, "A reply.")
    db.session.rollback()
    assert generation_now() == before  # rolled back
    posting.reply(db.session, author, thread, "A reply.")
    db.session.commit()
    assert generation_now() == before + 1


def test_new_edited_and_removed_posts_show_at_once(forum) -> None:
    _, author, moderator, _, thread = forum
    [first] = _search("payout")
    ben = make_user("ben")
    reply = posting.reply(db.session, ben, thread, "Payout came after a week.")
    db.session.commit()
    assert sorted(_search("payout")) == sorted([f"ben:{reply.id}", first])
    posting.edit_post(db.session, ben, db.session.get(Post, reply.id), "It came after a week.")
    db.session.commit()
    assert _search("payout") == [first]
    assert _search("week") == [f"ben:{reply.id}"]
    removals.remove_post(db.session, moderator, reply.id, "spam")
    db.session.commit()
    assert _search("week") == []
    assert _search("week", moderator) == [f"ben:{reply.id}"]
    removals.restore_post(db.session, moderator, reply.id)
    db.session.commit()
    assert _search("week") == [f"ben:{reply.id}"]


def test_a_reply_moves_the_generation_once_and_a_resubmission_leaves_nothing_cached(
    forum,
) -> None:
    # On PostgreSQL the reply's own statement increments it, and its commit must not again.
    _, _, _, _, thread = forum
    before = generation.current(db.session.connection())
    db.session.rollback()
    ben = make_user("ben")
    posting.reply(db.session, ben, thread, "Payout came.", submission_key="k")
    assert generation.has_uncommitted_changes(db.session.connection())
    db.session.commit()
    assert generation.current(db.session.connection()) == before + 1
    db.session.rollback()
    posting.reply(db.session, ben, thread, "Payout came.", submission_key="k")
    db.session.commit()
    assert generation.current(db.session.connection()) in (before + 1, before + 2)
    db.session.rollback()
    assert len(_search("payout")) == 2


def test_changes_made_without_the_orm_show_at_once(forum) -> None:
    _, author, _, _, thread = forum
    assert len(_search("payout")) == 1
    db.session.execute(
        sa.update(Post).where(Post.thread_id == thread.id).values(removed_at=datetime.now(UTC))
    )
    db.session.commit()
    assert _search("payout") == []
    db.session.execute(sa.text("UPDATE posts SET removed_at = NULL"))
    db.session.commit()
    assert len(_search("payout")) == 1
    db.session.execute(sa.update(User).where(User.id == author.id).values(username="annie"))
    db.session.commit()
    assert [hit.split(":")[0] for hit in _search("payout")] == ["annie"]


def test_moving_a_thread_to_moderators_hides_cached_results(forum) -> None:
    _, _, moderator, _, thread = forum
    assert len(_search("payout")) == 1
    lounge = make_board("lounge", moderators_only=True)
    db.session.commit()
    threads.move(db.session, moderator, thread.id, lounge.id, "staff only")
    db.session.commit()
    assert _search("payout") == []
    assert len(_search("payout", moderator)) == 1
    db.session.execute(sa.update(Board).where(Board.id == lounge.id).values(moderators_only=False))
    db.session.commit()
    assert len(_search("payout")) == 1


def test_moderators_results_never_reach_members_nor_the_other_way(forum) -> None:
    _, author, moderator, _, thread = forum
    hidden = posting.reply(db.session, author, thread, "A payout secret.")
    db.session.commit()
    removals.remove_post(db.session, moderator, hidden.id, "private")
    db.session.commit()
    # The moderator searches first: their results (with the removed post) are cached...
    assert len(_search("payout", moderator)) == 2
    # ...and a member or a guest asking the same gets their own.
    assert len(_search("payout", author)) == 1
    assert len(_search("payout")) == 1
    assert len(_search("secret")) == 0
    assert len(_search("secret", moderator)) == 1


def test_a_transaction_that_changed_content_neither_reads_nor_fills_the_cache(forum) -> None:
    _, author, _, _, thread = forum
    assert len(_search("payout")) == 1
    posting.reply(db.session, author, thread, "Another payout question.")
    # Its own, uncommitted reply is found (not the cached page)...
    with count_queries(prepared=True) as statements:
        assert search(db.session, None, "payout", SearchFilters()).total == 2
    assert not any("search_generation" in statement for statement in statements)
    db.session.rollback()
    # ...and, rolled back, it was never cached.
    assert len(_search("payout")) == 1


def test_the_cache_can_be_turned_off(forum) -> None:
    app = forum[0]
    app.config["SEARCH_CACHE"] = False
    try:
        assert len(_statements("payout")) == len(_statements("payout")) > 1
    finally:
        app.config["SEARCH_CACHE"] = True


@pytest.mark.parametrize(
    ("statement", "changes"),
    [
        ("INSERT INTO posts (thread_id, body_source) VALUES (?, ?)", True),
        ("INSERT OR REPLACE INTO post_search (rowid, title, body) VALUES (?, ?, ?)", True),
        ("UPDATE posts SET body_source=?, body_html=?, edited_at=? WHERE posts.id = ?", True),
        ("UPDATE posts SET removed_at=%(removed_at)s WHERE posts.id = %(id_1)s::INTEGER", True),
        ("UPDATE threads SET board_id=? WHERE threads.id = ?", True),
        ("UPDATE boards SET moderators_only=? WHERE boards.id = ?", True),
        ("UPDATE users SET username=?, username_key=? WHERE users.id = ?", True),
        ("DELETE FROM threads WHERE threads.id = ?", True),
        ("UPDATE threads SET view_count=(threads.view_count + ?) WHERE threads.id = ?", False),
        ("UPDATE users SET post_count=(users.post_count + ?) WHERE users.id = ?", False),
        ("UPDATE posts SET kudos_count=(posts.kudos_count + ?) WHERE posts.id = ?", False),
        ("INSERT INTO users (username, email) VALUES (?, ?)", False),
        ("UPDATE notifications SET read_at=? WHERE notifications.id = ?", False),
        ("SELECT posts.id FROM posts", False),
        # Data-modifying CTEs (a reply on PostgreSQL): a write to a searched table anywhere.
        (
            "WITH locked AS (SELECT threads.id FROM threads WHERE threads.id = %(id)s FOR UPDATE),"
            " new_post AS (INSERT INTO posts (thread_id) SELECT locked.id FROM locked"
            " RETURNING posts.id) SELECT new_post.id FROM new_post",
            True,
        ),
        (
            "WITH seen AS (UPDATE notifications SET read_at=? RETURNING id) SELECT id FROM seen",
            False,
        ),
        ("WITH locked AS (SELECT threads.id FROM threads FOR UPDATE) SELECT id FROM locked", False),
    ],
)
def test_which_statements_change_search(statement: str, changes: bool) -> None:
    assert generation.changes_search(statement) is changes
