"""The shared persistence platform: declarative base, naming convention, UTC times."""

from __future__ import annotations

import operator
import re
import sqlite3
import time
from collections import namedtuple
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so migrations can drop and alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp that is always stored and returned as aware UTC.

    SQLite keeps no zone, so naive values read back are UTC by construction.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# Pages the WAL may hold before a commit copies them into the database file (SQLite's default
# is 1,000, 4 MB). Under synchronous=NORMAL a checkpoint is the only write that waits for the
# disk; fewer, larger ones copy a page that many commits changed (an index's last page) once.
# A spend batch's commit took 60 ms on average with the default, 15 ms with this; the WAL file
# may grow to about 40 MB.
WAL_CHECKPOINT_PAGES = 10_000

# How long a statement waits for another connection's lock before "database is locked".
BUSY_TIMEOUT_SECONDS = 10


def configure_sqlite(engine: Engine, writes_expected: Callable[[], bool] = lambda: False) -> None:
    """Make SQLite behave like a real transactional database.

    pysqlite defers BEGIN and so breaks SAVEPOINT; SQLAlchemy's documented fix is to take
    transaction control away from the driver and emit BEGIN ourselves. Foreign keys are off
    by default in SQLite, and WAL lets readers proceed while one process writes.

    SQLite has one writer at a time, and a transaction that has read cannot start writing
    once another has committed since ("database is locked", which no busy timeout cures).
    So when ``writes_expected()`` says the transaction will write (the factory answers for
    the current request), it begins with BEGIN IMMEDIATE: it takes the write lock first and
    concurrent writers wait for each other instead of failing.

    A ``reads_first`` view's transaction (``reading_before_writing()``) begins without
    BEGIN: its reads run in SQLite's autocommit, each its own snapshot, and
    ``start_writing`` begins the write transaction on the same connection (one transaction
    instead of a read one and a write one). A statement that writes before that is refused
    (it would commit on its own): ``refuse_writes_outside_transaction``.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Straight on the driver's connection: every request that touches the database
        # begins a transaction, and SQLAlchemy's execution of a one-word statement cost more
        # than SQLite's. A busy database still raises SQLAlchemy's OperationalError.
        driver = connection.connection.driver_connection
        if writes_expected():
            begin_writing(driver)
        elif reading_before_writing():
            connection.info[OUTSIDE_TRANSACTION] = True
        else:
            try:
                driver.execute("BEGIN")
            except sqlite3.Error as error:
                raise sa.exc.DBAPIError.instance("BEGIN", (), error, sqlite3.Error) from error

    refuse_writes_outside_transaction(engine)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _forget_reads_before_begin(connection: Any) -> None:
        if not connection.invalidated:
            connection.info.pop(OUTSIDE_TRANSACTION, None)

    @event.listens_for(engine, "reset")
    def _forget_on_return(_dbapi_connection: Any, record: Any, _reset_state: Any) -> None:
        record.info.pop(OUTSIDE_TRANSACTION, None)


# Marks a connection whose statements run outside a transaction, each its own: a
# ``reads_first`` view's before ``start_writing`` (SQLite: no BEGIN sent yet; PostgreSQL:
# autocommit, forum.connections).
OUTSIDE_TRANSACTION = "townhall_outside_transaction"
# Marks a connection whose next statement, outside a transaction, may write (its own
# transaction: forum.connections.write_alone).
WRITE_ALONE = "townhall_write_alone"

# What may run outside a transaction: a SELECT that locks nothing.
_PLAIN_READ = re.compile(r"\s*SELECT\b(?!.*\bFOR\s+(?:UPDATE|SHARE|NO\s+KEY|KEY)\b)", re.I | re.S)


class WriteOutsideTransaction(RuntimeError):
    """A ``reads_first`` view ran a statement that writes or locks before ``start_writing``
    (outside a transaction it would commit on its own, or lock nothing)."""


def refuse_writes_outside_transaction(engine: Engine) -> None:
    """Refuse, on ``engine``, any statement but a plain SELECT on a connection marked
    ``OUTSIDE_TRANSACTION``, unless it was declared ``WRITE_ALONE``."""

    @event.listens_for(engine, "before_cursor_execute")
    def _refuse_writes(
        connection: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: Any
    ) -> None:
        if connection.info.get(OUTSIDE_TRANSACTION) and not _PLAIN_READ.match(statement):
            if connection.info.pop(WRITE_ALONE, False):
                return
            raise WriteOutsideTransaction(
                f"a reads_first view must call start_writing() before it writes: {statement[:80]}"
            )


def reading_before_writing() -> bool:
    """Whether the current request is a ``reads_first`` view's, before its ``start_writing``."""
    from flask import g, has_request_context

    return has_request_context() and g.get("reads_first", False) and not g.get("writes_expected")


def begin_writing(driver: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE on SQLite's connection (see _begin_writing), raising SQLAlchemy's
    OperationalError for a database that stays busy."""
    try:
        _begin_writing(driver)
    except sqlite3.Error as error:
        raise sa.exc.DBAPIError.instance("BEGIN IMMEDIATE", (), error, sqlite3.Error) from error


def _begin_writing(driver: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for another writer in short pauses.

    SQLite's own busy handler sleeps 1 ms, then 2, 5, 10 ms... before it looks again, while
    a click or a reply holds the lock for a tenth of that: a waiting worker slept with the
    lock long free (clicks: p50 9 ms, half the time asleep). Here the wait looks again after
    50 µs, doubling to at most 0.5 ms, until the same ``BUSY_TIMEOUT_SECONDS``; statements
    inside the transaction keep SQLite's handler (they rarely wait: the lock is held).
    """
    driver.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        pause = 0.00005
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.0005)
    finally:
        driver.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")


# psycopg keeps what it parsed of a statement's text (its placeholders) only for statements
# up to this length (``psycopg._queries.MAX_CACHED_STATEMENT_LENGTH``); a longer one is parsed
# anew on every execution, 0.1–0.15 ms for a spend batch's opening or writes. Those run on
# psycopg's RawCursor instead, with the server's own numbered placeholders: nothing to parse.
_PSYCOPG_PARSED_ONCE = 4096
_PYFORMAT = re.compile(r"%%|%\((\w+)\)s")


def _numbered(sql: str) -> tuple[str, list[str]]:
    """Return pyformat SQL (``%(name)s``, ``%%``) with PostgreSQL's ``$1``, ``$2``… instead,
    and the parameters' names in their numbers' order."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PYFORMAT.sub(number, sql), names


class Prepared:
    """A Core statement compiled once per dialect and run straight on the DB-API cursor.

    For the busiest few statements (a referral click): SQLAlchemy's execution of even a
    cached statement (the execution context, result set-up, events) cost about 0.1 ms, more
    than SQLite takes to run it. The SQL, its bound values' defaults and their type
    processing (``UTCDateTime`` and the like) still come from SQLAlchemy's compiler, so the
    statement is the one ``connection.execute`` would send. Rows come back as the driver
    gives them from ``execute`` (select only plain columns there: numbers, strings), or
    converted by their columns' types from ``first``.
    Errors are raised as SQLAlchemy's ``DBAPIError`` subclasses, as ``execute`` raises them.
    No engine event sees these statements (``before_cursor_execute``: the search generation
    notices writes to searchable content that way), so use it only for statements that
    touch nothing such a listener watches.
    """

    def __init__(self, statement: Any, *, planned_each_time: bool = False) -> None:
        """``planned_each_time``: on PostgreSQL, never run it as a server-side prepared
        statement (psycopg prepares a statement run five times on a connection, and the
        server may then reuse a generic plan made without the bound values): for a
        statement whose best plan depends on its values (search's words)."""
        self.statement = statement
        self.planned_each_time = planned_each_time
        self._by_dialect: dict[str, tuple[str, dict, list, list[str] | None, bool]] = {}
        self._row_makers: dict[str, tuple[Callable[[Any], tuple], list[tuple[int, Any]], bool]] = {}

    def _compiled(self, dialect: Any) -> tuple[str, dict, list, list[str] | None, bool]:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            defaults = compiled.construct_params(_check=False)
            processors = []
            for name, bind in compiled.binds.items():
                if name in defaults:
                    process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                    if process is not None:
                        processors.append((name, process))
            sql, order = compiled.string, list(compiled.positiontup) if dialect.positional else None
            raw = dialect.driver == "psycopg" and len(sql) > _PSYCOPG_PARSED_ONCE
            if raw:
                sql, order = _numbered(sql)
            found = self._by_dialect[dialect.name] = (sql, defaults, processors, order, raw)
        return found

    def _args(self, dialect: Any, params: dict[str, Any]) -> Any:
        _sql, defaults, processors, order, _raw = self._compiled(dialect)
        values = {**defaults, **params}
        for name, process in processors:
            values[name] = process(values[name])
        return tuple(values[name] for name in order) if order is not None else values

    def execute(self, connection: Any, params: dict[str, Any]) -> Any:
        """Run the statement on the SQLAlchemy ``connection``'s DB-API connection, in its
        transaction, and return the DB-API cursor (``fetchone``/``fetchall``)."""
        return self._run(connection, "execute", self._args(connection.dialect, params))

    def first(self, connection: Any, params: dict[str, Any]) -> Any:
        """Run the statement and return its first row converted as ``all`` converts rows, or
        None when there is no row."""
        cursor = self.execute(connection, params)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        return self.converted(connection.dialect, [row])[0]

    def all(self, connection: Any, params: dict[str, Any]) -> list[Any]:
        """Run the statement and return every row, each value converted by its column's type
        as SQLAlchemy's result would (``UTCDateTime`` gives aware datetimes on SQLite too;
        JSON, booleans), as named tuples: ``row.title`` as on SQLAlchemy's rows (the keys of
        the statement's ``exported_columns``: a SELECT's columns, or what an INSERT
        RETURNs), and ``tuple(row)`` the same values.

        For the read pages' and spend events' statements: SQLAlchemy's execution and result
        set-up cost more than PostgreSQL took to run the statement (on PostgreSQL it also
        builds psycopg's description of every column, each time)."""
        cursor = self.execute(connection, params)
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return self.converted(connection.dialect, rows)

    def converted(self, dialect: Any, rows: Any) -> list[Any]:
        """Return the driver's ``rows`` of this statement's columns as ``all`` returns them."""
        make, converted, keep_none = self._rows_of(dialect)
        if not converted:
            return [make(row) for row in rows]
        result = []
        for row in rows:
            values = list(row)
            if keep_none:
                # Most of a page's times and flags are NULL (not edited, not removed...).
                for i, process in converted:
                    value = values[i]
                    if value is not None:
                        values[i] = process(value)
            else:
                for i, process in converted:
                    values[i] = process(values[i])
            result.append(make(values))
        return result

    def _rows_of(self, dialect: Any) -> tuple[Callable[[Any], tuple], list[tuple[int, Any]], bool]:
        """The row maker, the columns' converters, and whether every converter gives None
        for None (then ``converted`` skips NULLs)."""
        found = self._row_makers.get(dialect.name)
        if found is None:
            fields = list(self.statement.exported_columns.keys())
            row = namedtuple("Row", fields, rename=True)  # type: ignore[misc]
            converted = []
            for i, column in enumerate(self.statement.exported_columns):
                process = column.type.dialect_impl(dialect).result_processor(dialect, None)
                if process is not None:
                    converted.append((i, process))
            keep_none = all(_keeps_none(process) for _i, process in converted)
            found = self._row_makers[dialect.name] = (row._make, converted, keep_none)
        return found

    def execute_many(self, connection: Any, rows: list[dict[str, Any]]) -> None:
        """Run the statement once per row with the driver's ``executemany``.

        A value converted for one row (a UTC time made SQLite's text) is reused for the
        equal values of the others: a spend batch's rows share their receipt time and
        often their times of payment, and converting them was most of what the batch's
        inserts cost in Python."""
        _sql, defaults, processors, order, _raw = self._compiled(connection.dialect)
        converted: dict[tuple[str, type, Any], Any] = {}
        args = []
        for row in rows:
            values = {**defaults, **row}
            for name, process in processors:
                value = values[name]
                key = (name, type(value), value)
                try:
                    values[name] = converted[key]
                except KeyError:
                    values[name] = converted[key] = process(value)
                except TypeError:  # unhashable
                    values[name] = process(value)
            args.append(tuple(values[name] for name in order) if order is not None else values)
        self._run(connection, "executemany", args).close()

    def rows(self, connection: Any, params: dict[str, Any]) -> list[Any]:
        """Run the statement and return every row as the driver gives it (plain tuples: select
        only numbers and strings), on a cursor kept with the DB-API connection for the next
        statement on it.

        For the click's statements: a new cursor per statement cost more than its execution
        on SQLite, and on PostgreSQL psycopg's cursor also keeps what it learnt of dumping
        the values and loading the columns."""
        pooled = connection.connection
        cursor = None
        if not self._compiled(connection.dialect)[-1]:  # (a long one needs its RawCursor)
            cursor = pooled.info.get(_KEPT_CURSOR)
            if cursor is None or cursor.connection is not pooled.dbapi_connection:
                cursor = pooled.info[_KEPT_CURSOR] = pooled.dbapi_connection.cursor()
        return self._run(
            connection, "execute", self._args(connection.dialect, params), cursor
        ).fetchall()  # all: SQLite finishes an INSERT … RETURNING by reading it out

    def _run(self, connection: Any, method: str, args: Any, cursor: Any = None) -> Any:
        sql, *_rest, raw = self._compiled(connection.dialect)
        dbapi_connection = connection.connection.dbapi_connection
        if cursor is None and raw:
            import psycopg

            cursor = psycopg.RawCursor(dbapi_connection)
        elif cursor is None:
            cursor = dbapi_connection.cursor()
        try:
            if self.planned_each_time and connection.dialect.name == "postgresql":
                getattr(cursor, method)(sql, args, prepare=False)
            else:
                getattr(cursor, method)(sql, args)
        except connection.dialect.loaded_dbapi.Error as error:
            invalidated = connection.dialect.is_disconnect(error, dbapi_connection, cursor)
            if invalidated:
                connection.invalidate(error)
            raise sa.exc.DBAPIError.instance(
                sql,
                args,
                error,
                connection.dialect.loaded_dbapi.Error,
                connection_invalidated=invalidated,
                dialect=connection.dialect,
            ) from error
        return cursor


# Where ``Prepared.rows`` keeps its cursor: the pool's record of the DB-API connection.
_KEPT_CURSOR = "townhall_kept_cursor"


class PooledDriverConnection:
    """A connection from the engine's pool, used straight on its DB-API connection: what
    ``Prepared`` needs of a SQLAlchemy ``Connection`` (``dialect``, ``connection``,
    ``invalidate``) and nothing else.

    For the busiest request's own transaction (a referral click): a ``Connection``, its
    ``Transaction`` and their events cost several times SQLite's statements. The pool's own
    checkout and checkin still run (PostgreSQL's ping after an idle spell, the rollback on
    return). No engine event sees its transaction: its owner begins and ends it.
    """

    __slots__ = ("connection", "dialect")

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self.connection = engine.raw_connection()

    @property
    def driver(self) -> Any:
        """The DB-API connection (``dbapi_connection``: a detached connection has no pool
        record to name its ``driver_connection``)."""
        return self.connection.dbapi_connection

    def invalidate(self, error: BaseException | None = None) -> None:
        self.connection.invalidate(error)

    def close(self) -> None:
        """Give the connection back to the pool (which rolls back what is still open), or
        close it when it was detached from the pool."""
        if not self.connection.is_detached:
            self.connection.close()
        elif self.connection.dbapi_connection is not None:
            # Straight to the driver: the pool's close of a detached connection leaves it
            # open, and runs the reset listeners, which expect a pool record.
            self.connection.dbapi_connection.close()


class HeadAndRows:
    """Two SELECTs of a page sent as one statement: its head (at most one row: the thread or
    board, with the viewer) and its rows (the page's posts or threads).

    On PostgreSQL each statement is a round trip to a server process on the cores the
    workers share, and the rows' statement does not need the head's values (only its bound
    ones), so the two are sent as ``head UNION ALL rows``: each part padded with typed NULLs
    where the other's columns stand, a first column saying which part a row is; the rows
    are sorted by their ``order_by`` columns (all ``descending`` or none). A join of the
    two would repeat the head's columns on every row (and evaluate its subqueries again).
    Each part keeps its own plan, so a plan PostgreSQL keeps for either stays one it keeps.

    ``run`` returns the head as ``head``'s ``Prepared.first`` would and the rows as
    ``rows``'s ``Prepared.all`` would (the same named tuples), from one execution.
    """

    def __init__(
        self, head: sa.Select, rows: sa.Select, order_by: list[str], descending: bool = False
    ) -> None:
        self.head = Prepared(head)
        self.rows = Prepared(rows)
        head_columns, rows_columns = list(head.selected_columns), list(rows.selected_columns)
        self.width = len(head_columns)

        def nulls(count: int) -> list[Any]:
            # Untyped: PostgreSQL gives a UNION's NULLs the other part's column types. Kept
            # short, as the whole statement is: psycopg parses a statement longer than 4,096
            # characters anew on every execution.
            return [sa.literal_column("NULL") for _ in range(count)]

        both = sa.union_all(
            head.with_only_columns(
                sa.literal_column("0"), *head_columns, *nulls(len(rows_columns))
            ),
            rows.order_by(None).with_only_columns(
                sa.literal_column("1"), *nulls(self.width), *rows_columns
            ),
        )
        # Sorted here, not by the statement: PostgreSQL's sort of the union cost it more
        # than Python's of a page of rows.
        self.order = operator.attrgetter(*order_by)
        self.descending = descending
        self.both = Prepared(both)

    def run(self, connection: Any, params: dict[str, Any]) -> tuple[Any, list[Any]]:
        """Run both parts with ``params`` (the names both bind are one value); return the
        head's row (None: no row) and the rows."""
        cursor = self.both.execute(connection, params)
        try:
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        width = self.width
        head = None
        rows = []
        for row in fetched:
            if row[0] == 0:
                head = row[1 : width + 1]
            else:
                rows.append(row[width + 1 :])
        dialect = connection.dialect
        if head is not None:
            head = self.head.converted(dialect, [head])[0]
        rows = self.rows.converted(dialect, rows)
        rows.sort(key=self.order, reverse=self.descending)
        return head, rows


def _keeps_none(process: Callable[[Any], Any]) -> bool:
    """Whether a result converter gives None for NULL (SQLAlchemy's all do)."""
    try:
        return process(None) is None
    except Exception:  # noqa: BLE001 - then it is always called
        return False


def start_writing(session: Any, keep_loaded: bool = False) -> None:
    """End the current (read) transaction and mark the request as one that writes.

    For a safe-method request that writes after reading (a view counter): on SQLite the
    next transaction then takes the write lock up front and waits for other writers.

    With ``keep_loaded`` (a request that read first, see ``reads_first``) the objects it
    loaded stay as they are instead of being expired and read again: on SQLite the read
    transaction ends with a commit that expires nothing (or, after reads outside one,
    BEGIN IMMEDIATE is sent); on PostgreSQL it simply continues (in autocommit for a
    ``reads_first`` view: see there). The writes must then check, under their locks, what
    they rely on (as posting does for a thread's lock and removal).
    """
    from flask import g, has_request_context
    from sqlalchemy.orm import scoped_session

    plain = session() if isinstance(session, scoped_session) else session
    if plain.in_transaction():  # (a fresh request's session has none: nothing to end)
        if not keep_loaded:
            plain.rollback()
        elif plain.get_bind().dialect.name == "sqlite":
            connection = plain.connection()
            if connection.info.pop(OUTSIDE_TRANSACTION, False):
                # Its reads ran without BEGIN (configure_sqlite): the write transaction
                # begins on the same connection, with nothing to end or expire.
                begin_writing(connection.connection.driver_connection)
            else:
                expire, plain.expire_on_commit = plain.expire_on_commit, False
                try:
                    plain.commit()
                finally:
                    plain.expire_on_commit = expire
    if has_request_context():
        g.writes_expected = True


def reads_first(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view that reads before it writes, if it writes at all: its reads run outside a
    transaction, each statement its own, until it calls ``start_writing``.

    - SQLite: no BEGIN until then (``configure_sqlite``). A view that writes (a POST) reads
      and computes before it takes the one write lock; without this its first query takes
      the lock and holds it while the request does work that needs none (rendering a
      post). ``start_writing(session, keep_loaded=True)`` begins the write transaction on
      the same connection.
    - PostgreSQL: in autocommit, without BEGIN and ROLLBACK, two round trips around a read
      page's queries (``forum.connections``). ``start_writing`` without ``keep_loaded``
      ends that; with it the connection stays in autocommit, and the writing code says how
      it writes: ``forum.connections.begin_transaction`` or ``write_alone`` (as
      ``forum.boards.posting.write_reply`` does).

    Under READ COMMITTED each statement of a transaction takes its own snapshot anyway, so
    the reads see what they would have seen in one. Before ``start_writing`` anything but a
    plain SELECT is refused (``WriteOutsideTransaction``)."""
    import functools

    from flask import g

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.writes_expected = False
        g.reads_first = True
        return view(*args, **kwargs)

    return wrapper
