"""Posts that existed before the search index are indexed as the write path indexes them.

Migration 0004 indexed them from an approximation of their text (raw Markdown on PostgreSQL),
and 0008 left their stored plain text empty; migration 0009 indexes them again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from forum import create_app
from forum.boards.models import Post
from forum.extensions import db
from forum.search.index import index_post
from forum.search.service import SearchFilters, search
from tests.conftest import _test_config, empty_database_url


@pytest.fixture
def fresh_url(database_kind: str, tmp_path) -> str:  # noqa: ANN001
    return empty_database_url(database_kind, tmp_path, "backfill")


def _insert_forum_as_of_0001() -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    statements = [
        "INSERT INTO users (id, username, username_key, email, email_key, password_hash, role, "
        "hires, works, created_at, session_generation, top_rated, post_count, kudos_received) "
        "VALUES (1, 'ann', 'ann', 'a@x.test', 'a@x.test', 'x', 'member', true, false, :now, 0, "
        "false, 2, 0)",
        "INSERT INTO boards (id, slug, name, description, position, moderators_only, "
        "thread_count, post_count) VALUES (1, 'general', 'General', '', 0, false, 1, 2)",
        "INSERT INTO threads (id, board_id, author_id, title, created_at, last_post_at, "
        "post_number_seq, reply_count, view_count, pinned, locked) "
        "VALUES (1, 1, 1, 'Wire transfers abroad', :now, :now, 2, 1, 0, false, false)",
        "INSERT INTO posts (id, thread_id, author_id, number, body_source, body_html, created_at, "
        "edited_by_moderator, revision_count, kudos_count) VALUES (1, 1, 1, 1, "
        "'How long does a **wire** take? See [the help](https://help.example/fees).', '', :now, "
        "false, 1, 0)",
        "INSERT INTO posts (id, thread_id, author_id, number, body_source, body_html, created_at, "
        "edited_by_moderator, revision_count, kudos_count) VALUES (2, 1, 1, 2, "
        "'About `three` business days. [The rules](refunds)\n\n```python\nprint(1)\n```', "
        "'', :now, false, 1, 0)",
    ]
    for statement in statements:
        db.session.execute(sa.text(statement), {"now": now})
    db.session.commit()


def test_existing_posts_are_searchable_after_the_migration(fresh_url: str) -> None:
    app = create_app(_test_config(fresh_url))
    with app.app_context():
        try:
            upgrade(revision="0001_forum_foundation")
            _insert_forum_as_of_0001()
            upgrade()
            by_title = search(db.session, None, "transfers", SearchFilters())
            assert [(hit.post_id, hit.post_number) for hit in by_title.hits] == [(1, 1)]
            by_body = search(db.session, None, "business days", SearchFilters())
            assert [hit.post_id for hit in by_body.hits] == [2]
            snippet = str(by_body.hits[0].snippet_html)
            assert "`" not in snippet and "<mark>" in snippet
            assert search(db.session, None, "wire", SearchFilters()).total == 1
            # A link's target and a code block's language are not words a reader sees.
            assert search(db.session, None, "refunds", SearchFilters()).total == 0
            assert search(db.session, None, "python", SearchFilters()).total == 0
            assert search(db.session, None, "rules", SearchFilters()).total == 1
            _assert_indexed_as_the_write_path_indexes()
            db.session.rollback()  # release its locks: the downgrade alters posts
            downgrade(revision="0001_forum_foundation")
            upgrade()
            assert search(db.session, None, "wire", SearchFilters()).total == 1
            _assert_indexed_as_the_write_path_indexes()
        finally:
            db.session.remove()
            db.engine.dispose()


def _assert_indexed_as_the_write_path_indexes() -> None:
    """Compare each post's index entry with what forum.search.index.index_post writes."""
    posts = db.session.scalars(sa.select(Post).order_by(Post.id)).all()
    assert posts
    if db.engine.dialect.name == "postgresql":
        query = sa.text("SELECT search_vector::text, search_text FROM posts WHERE id = :id")
    else:
        query = sa.text("SELECT title || '|' || body, body FROM post_search WHERE rowid = :id")
    stored = {post.id: tuple(db.session.execute(query, {"id": post.id}).one()) for post in posts}
    with db.session.begin_nested() as savepoint:
        for post in posts:
            index_post(db.session, post, post.thread.title if post.is_first else None)
        expected = {
            post.id: tuple(db.session.execute(query, {"id": post.id}).one()) for post in posts
        }
        savepoint.rollback()
    assert stored == expected
    assert all(text for _, text in stored.values())
