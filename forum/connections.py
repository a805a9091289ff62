"""PostgreSQL connections: checked only after sitting idle, and read pages without BEGIN.

On PostgreSQL every statement is a round trip to another process, which on a small machine
shares the cores with the workers; a read page's own queries were the smaller part of what it
sent. Two round trips per request are saved here:

- The pool's ``pool_pre_ping`` checked every connection at every checkout (a statement per
  request). What it guards against, a connection that died while it sat in the pool, is
  likely only after it sat there a while, so it is checked only when it sat there longer
  than ``idle_ping_seconds``: after a quiet spell (a server restart,
  a proxy's idle timeout), not between the back-to-back requests of a busy worker. If the
  server drops a connection within that window (a restart between two requests moments
  apart, ``pg_terminate_backend``), the next statement on it fails: that request gets an
  error page, SQLAlchemy discards the pool's connections older than the failure, and the
  requests after it connect anew (``tests/forum/test_connections.py``).
- psycopg sends BEGIN before a transaction's first statement, and ROLLBACK or COMMIT ends it:
  two round trips around a read page's one to three queries. A view marked
  ``forum.database.reads_first`` runs its statements in autocommit until it says it writes
  (``start_writing``; SQLite's counterpart sends no BEGIN until then). Under
  PostgreSQL's READ COMMITTED, the default, each statement of a transaction takes its own
  snapshot anyway, so a page's reads see what they would have seen in a transaction; what
  autocommit gives up (atomic writes, locks held to the end) such a page must not need, so
  a statement other than a plain SELECT in autocommit is refused with an error
  (``forum.database.refuse_writes_outside_transaction``).

SQLite needs no idle ping: a file has no idle timeout.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from forum.database import (
    OUTSIDE_TRANSACTION,
    WRITE_ALONE,
    reading_before_writing,
    refuse_writes_outside_transaction,
)

_RETURNED_AT = "townhall_returned_at"


def in_autocommit(connection: Any) -> bool:
    """Whether ``connection`` (SQLAlchemy's, on PostgreSQL) runs a ``reads_first`` view's
    statements in autocommit: each statement is then its own transaction."""
    postgresql = connection.dialect.name == "postgresql"
    return postgresql and bool(connection.info.get(OUTSIDE_TRANSACTION))


def write_alone(connection: Any) -> None:
    """Let the next statement on ``connection``, in autocommit, write: for a write that is
    one statement (atomic on its own, its locks held only while it runs), so that it needs
    neither BEGIN nor COMMIT. The caller makes sure nothing else of the request writes, or
    calls ``begin_transaction`` first."""
    connection.info[WRITE_ALONE] = True


def begin_transaction(connection: Any) -> None:
    """Run what follows on ``connection`` in a transaction, as any write's (psycopg sends
    BEGIN before the next statement; the request's commit ends it), after reads in
    autocommit. Nothing to do outside autocommit."""
    if connection.info.get(OUTSIDE_TRANSACTION):
        connection.info[OUTSIDE_TRANSACTION] = False
        connection.info.pop(WRITE_ALONE, None)
        connection.connection.driver_connection.autocommit = False


def configure_postgresql(engine: Engine, idle_ping_seconds: float) -> None:
    """Ping a connection at checkout only after it sat idle for ``idle_ping_seconds``, and
    run the statements of ``reads_first`` views in autocommit (see the module's docstring)."""

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or monotonic() - returned < idle_ping_seconds:
            return  # just connected, or back from a request moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool closes this connection and checks out (or makes) another.
            raise sa.exc.DisconnectionError(str(error)) from error

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is None:  # invalidated: nothing to reset
            return
        record.info[_RETURNED_AT] = monotonic()
        record.info.pop(WRITE_ALONE, None)
        if record.info.pop(OUTSIDE_TRANSACTION, False) and not dbapi_connection.closed:
            dbapi_connection.autocommit = False

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # psycopg sends BEGIN itself before the first statement unless in autocommit; the
        # connection is idle here (SQLAlchemy's transaction has sent nothing yet).
        autocommit = reading_before_writing()
        connection.info.pop(WRITE_ALONE, None)
        if autocommit or connection.info.get(OUTSIDE_TRANSACTION):
            connection.connection.driver_connection.autocommit = autocommit
            connection.info[OUTSIDE_TRANSACTION] = autocommit

    refuse_writes_outside_transaction(engine)
