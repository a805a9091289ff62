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
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from forum.boards.models import Post
from forum.database import Prepared
from forum.markup import plain_text
from forum.search import generation

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


_SQLITE_UPSERT_PREPARED = Prepared(_SQLITE_UPSERT)


def index_new_post(connection: Connection, post_id: int, title: str | None, text: str) -> None:
    """Index a post just inserted on SQLite (PostgreSQL indexes it with its INSERT:
    postgresql_insert_values), as index_post does, on the driver's cursor (SQLAlchemy's
    execution cost more than the statement): the search generation is told by hand."""
    values = {"id": post_id, "title": clean_text(title or ""), "body": clean_text(text)}
    _SQLITE_UPSERT_PREPARED.execute(connection, values).close()
    generation.changed(connection)


def postgresql_insert_values() -> dict[str, sa.ColumnElement]:
    """Return the columns of ``posts`` that index a new post on PostgreSQL, as values for
    its INSERT (over the bound values ``search_title`` and ``search_body``: new_post_params).

    Set by the INSERT itself instead of an UPDATE after it: one statement (and one row
    version) less per post. SQLite's index is a table of its own: index_post after the
    insert.
    """
    body = sa.bindparam("search_body", type_=sa.Text)

    def weighted(text: sa.BindParameter, weight: str) -> sa.ColumnElement:
        # As _POSTGRESQL_UPDATE: setweight(to_tsvector('english', text), weight)
        config = sa.literal_column(f"'{TEXT_SEARCH_CONFIG}'")
        return sa.func.setweight(sa.func.to_tsvector(config, text), sa.literal_column(weight))

    title = sa.bindparam("search_title", type_=sa.Text)
    vector = weighted(title, "'A'").op("||")(weighted(body, "'B'"))
    return {"search_vector": vector, "search_text": body}


def new_post_params(title: str | None, text: str) -> dict[str, str]:
    """Return the bound values of postgresql_insert_values for a post (``title`` for a first
    post, else None; ``text`` is ``plain_text`` of its body)."""
    return {"search_title": clean_text(title or ""), "search_body": clean_text(text)}


def clean_text(text: str) -> str:
    """Return ``text`` without the snippet mark characters."""
    return text.replace(MARK_START, " ").replace(MARK_END, " ")


def index_post(session: Session, post: Post, title: str | None, text: str | None = None) -> None:
    """Index (or re-index) a post; ``title`` is the thread title for a first post, else None.

    ``text`` is ``plain_text(post.body_source)`` when the caller has it already (it rendered
    the body from the same parse).
    """
    values = {
        "id": post.id,
        "title": clean_text(title or ""),
        "body": clean_text(plain_text(post.body_source) if text is None else text),
    }
    # On the connection: the session's execute adds the ORM's handling, for no entity here.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_POSTGRESQL_UPDATE, values)
    else:
        connection.execute(_SQLITE_UPSERT, values)
