"""The search generation: a number that every change to searchable content increments.

Cached search results (forum.search.cache) are keyed by it, so one committed change to
anything a result shows or is filtered by makes every cached result unreachable: nothing is
invalidated entry by entry, and nothing stale can be served.

It is one row of ``search_generation`` (migration 0008; outside the ORM metadata, see
forum.search.schema, so that nothing empties it). Changes are noticed where every write
passes, whatever wrote it (the ORM's flushes, Core updates, raw SQL, other packages): every
statement a connection runs is looked at, and an INSERT, UPDATE or DELETE that touches a
searchable table (for UPDATE: a column that search reads, not a counter) marks the
connection. When the connection commits, the increment is its transaction's last statement,
so it is committed with the change or not at all. On PostgreSQL the row lock is held only
from there to the commit.

Readers read the generation before they search: a result computed from a snapshot that
lacks a change can only be stored under a generation older than that change.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

from forum.database import Prepared

_MARK = "townhall_search_changed"
_EXISTS = "townhall_search_generation_exists"
_DDL = re.compile(r"^\s*(CREATE|DROP|ALTER)\b", re.IGNORECASE)
# Every search reads it: run on the driver's cursor (Prepared), as the search's statements.
_READ = Prepared(
    sa.select(sa.literal_column("value"))
    .select_from(sa.table("search_generation"))
    .where(sa.literal_column("id") == sa.literal_column("1"))
)

# What search results read and filter by (forum.search.service): a change to one of these
# columns changes results. Other columns (counters, view counts, locks, email, passwords…)
# never show in results. Keep this in step with service._COLUMNS and service._filters.
SEARCHED_COLUMNS: dict[str, frozenset[str]] = {
    "posts": frozenset(
        {
            "id",
            "thread_id",
            "author_id",
            "number",
            "body_source",
            "created_at",
            "removed_at",
            "search_vector",
            "search_text",
        }
    ),
    "threads": frozenset({"id", "board_id", "title", "removed_at", "solution_post_id"}),
    "boards": frozenset({"id", "slug", "name", "moderators_only"}),
    "users": frozenset({"id", "username", "username_key"}),
}
# Every write to the SQLite index is a change.
_ALWAYS = frozenset({"post_search"})
# New rows of these tables are not in any result until a post (or index row) refers to them.
_INSERT_IS_NOT_A_CHANGE = frozenset({"threads", "boards", "users"})

_WRITE = re.compile(
    r"^\s*(?:(?P<insert>INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO)|(?P<update>UPDATE)"
    r"|(?P<delete>DELETE\s+FROM))\s+\"?(?P<table>\w+)\"?",
    re.IGNORECASE,
)
_ASSIGNED = re.compile(r"\"?(\w+)\"?\s*=")
_END_OF_SET = re.compile(r"\s(WHERE|FROM|RETURNING)\b", re.IGNORECASE)


# A statement with data-modifying CTEs writes to each table it names after these.
_WITH = re.compile(r"^\s*WITH\b", re.IGNORECASE)
_WRITTEN = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)\"?", re.IGNORECASE)


def changes_search(statement: str) -> bool:
    """Return whether ``statement`` may change what a search finds or shows."""
    match = _WRITE.match(statement)
    if match is None:
        if _WITH.match(statement):
            # Read as a whole: any write to a searchable table is a change (a counter's
            # UPDATE too; reading too much only costs an increment).
            return any(
                table.lower() in SEARCHED_COLUMNS or table.lower() in _ALWAYS
                for table in _WRITTEN.findall(statement)
            )
        return False
    table = match["table"].lower()
    if table in _ALWAYS:
        return True
    columns = SEARCHED_COLUMNS.get(table)
    if columns is None:
        return False
    if match["insert"]:
        return table not in _INSERT_IS_NOT_A_CHANGE
    if match["delete"]:
        return True
    # An UPDATE: a change when its SET clause assigns a searched column.
    return any(name.lower() in columns for name in _ASSIGNED.findall(_set_clause(statement)))


def _set_clause(statement: str) -> str:
    """Return the SET clause of an UPDATE, up to its WHERE (or FROM, RETURNING) at depth 0.

    Without a recognisable end, the whole rest: reading too much only costs an increment.
    """
    start = re.search(r"\bSET\b", statement, re.IGNORECASE)
    if start is None:
        return statement
    depth = 0
    quoted = False
    position = start.end()
    while position < len(statement):
        char = statement[position]
        if char == "'":
            quoted = not quoted
        elif not quoted:
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            elif depth == 0 and _END_OF_SET.match(statement, position):
                return statement[start.end() : position]
        position += 1
    return statement[start.end() :]


def has_uncommitted_changes(connection: Connection) -> bool:
    """Return whether this connection's transaction has changed searchable content.

    Such a transaction sees its own changes, which others do not (and which may yet be
    rolled back): what it finds must be neither cached nor taken from the cache.
    """
    return bool(connection.info.get(_MARK))


# The increment, for a statement that increments the generation itself (a CTE of it, with
# conditions added after this WHERE); it calls ``incremented`` after it ran.
INCREMENT = "UPDATE search_generation SET value = value + 1 WHERE id = 1"
_INCREMENTED = "incremented"


def incremented(connection: Connection) -> None:
    """Record that this transaction's own statement incremented the generation (with
    ``INCREMENT``): its commit then does not again. Its changes stay uncommitted
    changes (has_uncommitted_changes) until then."""
    connection.info[_MARK] = _INCREMENTED


def changed(connection: Connection) -> None:
    """Record that this transaction changed searchable content with a statement the engine's
    events do not see (run on the driver's cursor, forum.database.Prepared): its commit
    increments the generation, as for any change noticed."""
    if not connection.info.get(_MARK):
        connection.info[_MARK] = True


def current(connection: Connection) -> int | None:
    """Return the generation, or None when the row is missing (then nothing is cached)."""
    row = _READ.first(connection, {})
    return row[0] if row is not None else None


def _table_exists(connection: Connection) -> bool:
    # Migrations before 0008 write posts too; remembered per connection once it exists.
    if connection.info.get(_EXISTS):
        return True
    if connection.dialect.name == "postgresql":
        found = connection.exec_driver_sql("SELECT to_regclass('search_generation')").scalar()
    else:
        found = connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_generation'"
        ).scalar()
    if found is not None:
        connection.info[_EXISTS] = True
    return found is not None


@event.listens_for(Engine, "before_cursor_execute")
def _notice(
    connection: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: Any
) -> None:
    if _DDL.match(statement):
        connection.info.pop(_EXISTS, None)
    elif not connection.info.get(_MARK) and changes_search(statement):
        connection.info[_MARK] = True


@event.listens_for(Engine, "commit")
def _increment(connection: Connection) -> None:
    if connection.info.pop(_MARK, False) is True and _table_exists(connection):
        connection.exec_driver_sql(INCREMENT)


@event.listens_for(Engine, "rollback")
def _forget(connection: Connection) -> None:
    # A connection the server dropped is invalidated: reading its info would raise (and,
    # raised from the request's teardown, leave the session and its connection checked out
    # for good); its info goes with it anyway.
    if not connection.invalidated:
        connection.info.pop(_MARK, None)


@event.listens_for(Pool, "reset")
def _forget_on_return(dbapi_connection: Any, record: Any, reset_state: Any) -> None:
    # A connection returned to the pool mid-transaction is rolled back by the pool itself.
    record.info.pop(_MARK, None)
