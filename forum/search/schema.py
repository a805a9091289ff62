"""The search index's place in the schema, which the ORM metadata does not describe.

FTS5 makes a virtual table and five shadow tables on SQLite; PostgreSQL has a tsvector
column and its GIN index on ``posts``, and the indexed plain text (``search_text``, from
migration 0008). Alembic's autogenerate (``flask db check``,
``flask db migrate``) and tests/test_migrations.py use these filters so that they neither
drop them nor report them as differences.
"""

from __future__ import annotations

from typing import Any

SQLITE_TABLE = "post_search"
POSTGRESQL_COLUMN = "search_vector"
POSTGRESQL_INDEX = "ix_posts_search_vector"
POSTGRESQL_TEXT_COLUMN = "search_text"
GENERATION_TABLE = "search_generation"


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: leave out the FTS5 table, its shadow tables and the
    search generation (outside the metadata so that nothing that empties every table of the
    metadata, as the tests do, can make a generation value come back)."""
    if type_ != "table" or name is None:
        return True
    return not (name.startswith(SQLITE_TABLE) or name == GENERATION_TABLE)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object`` hook: leave out the tsvector and text columns, the index."""
    if (
        type_ == "column"
        and name in (POSTGRESQL_COLUMN, POSTGRESQL_TEXT_COLUMN)
        and obj.table.name == "posts"
    ):
        return False
    return not (type_ == "index" and name == POSTGRESQL_INDEX)
