"""Keeping the search index current: called by the write path, in the same transaction.

SQLite: an FTS5 table ``post_search`` (rowid = post id; columns title, body). PostgreSQL: a
``search_vector`` tsvector column on ``posts`` with a GIN index, and the indexed body text
in ``search_text`` (for headlines). Neither is in the ORM
metadata (see forum.search.schema); both are made by migration 0004_discovery.
The thread title is indexed with the first post only, so a title word finds the thread once,
not once per reply. Only plain text is indexed, never Markdown or HTML.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.boards.models import Post
from forum.markup import plain_text

# Marks the engine puts around matches in snippets; removed from indexed text so that a
# post can never forge a highlight.
MARK_START = "\ue000"
MARK_END = "\ue001"
TEXT_SEARCH_CONFIG = "english"

_SQLITE_UPSERT = sa.text(
    "INSERT OR REPLACE INTO post_search (rowid, title, body) VALUES (:id, :title, :body)"
)
# search_text keeps the indexed plain text, for headlines (migration 0008).
_POSTGRESQL_UPDATE = sa.text(
    "UPDATE posts SET search_vector = "
    "setweight(to_tsvector('english', :title), 'A') || "
    "setweight(to_tsvector('english', :body), 'B'), "
    "search_text = :body "
    "WHERE id = :id"
)


def clean_text(text: str) -> str:
    """Return ``text`` without the snippet mark characters."""
    return text.replace(MARK_START, " ").replace(MARK_END, " ")


def index_post(session: Session, post: Post, title: str | None) -> None:
    """Index (or re-index) a post; ``title`` is the thread title for a first post, else None."""
    values = {
        "id": post.id,
        "title": clean_text(title or ""),
        "body": clean_text(plain_text(post.body_source)),
    }
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_POSTGRESQL_UPDATE, values)
    else:
        session.execute(_SQLITE_UPSERT, values)
