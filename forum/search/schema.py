"""The search index's place in the schema, which the ORM metadata does not describe.

FTS5 makes a virtual table and five shadow tables on SQLite; PostgreSQL has a tsvector
column and its GIN index on ``posts``. Alembic's autogenerate (``flask db check``,
``flask db migrate``) and tests/test_migrations.py use these filters so that they neither
drop them nor report them as differences.
"""

from __future__ import annotations

from typing import Any

SQLITE_TABLE = "post_search"
POSTGRESQL_COLUMN = "search_vector"
POSTGRESQL_INDEX = "ix_posts_search_vector"


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: leave out the FTS5 table and its shadow tables."""
    return not (type_ == "table" and name is not None and name.startswith(SQLITE_TABLE))


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object`` hook: leave out the tsvector column and its index."""
    if type_ == "column" and name == POSTGRESQL_COLUMN and obj.table.name == "posts":
        return False
    return not (type_ == "index" and name == POSTGRESQL_INDEX)
