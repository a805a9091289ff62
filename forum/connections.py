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
  two round trips around a read page's one to three queries. A view marked ``reads_only``
  runs its statements in autocommit until it says it writes (``start_writing``). Under
  PostgreSQL's READ COMMITTED, the default, each statement of a transaction takes its own
  snapshot anyway, so a page's reads see what they would have seen in a transaction; what
  autocommit gives up (atomic writes, locks held to the end) such a page must not need, so
  a statement other than a plain SELECT in autocommit is refused with an error.

SQLite is left as it is: a file has no idle timeout, and its BEGIN costs no round trip.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from time import monotonic
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine

_RETURNED_AT = "townhall_returned_at"
_AUTOCOMMIT = "townhall_autocommit_reads"
# What a page may run in autocommit: a SELECT that locks nothing.
_PLAIN_READ = re.compile(r"\s*SELECT\b(?!.*\bFOR\s+(?:UPDATE|SHARE|NO\s+KEY|KEY)\b)", re.I | re.S)


class WriteOutsideTransaction(RuntimeError):
    """A ``reads_only`` view ran a statement that writes or locks before ``start_writing``."""


def reads_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view that only reads until it calls ``forum.database.start_writing`` (which
    ends the read transaction; what follows runs in a transaction as usual).

    On PostgreSQL its reads run without BEGIN and ROLLBACK. ``start_writing`` with
    ``keep_loaded`` does not end the transaction there, so such a view must not use it (its
    writes would be refused, as any write before ``start_writing`` is)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.reads_only = True
        return view(*args, **kwargs)

    return wrapper


def in_autocommit(connection: Any) -> bool:
    """Whether ``connection`` (SQLAlchemy's) runs a ``reads_only`` view's statements in
    autocommit, each its own transaction (PostgreSQL, before ``start_writing``)."""
    return bool(connection.info.get(_AUTOCOMMIT))


def _autocommit_wanted() -> bool:
    return has_request_context() and g.get("reads_only", False) and not g.get("writes_expected")


def configure_postgresql(engine: Engine, idle_ping_seconds: float) -> None:
    """Ping a connection at checkout only after it sat idle for ``idle_ping_seconds``, and
    run the statements of ``reads_only`` views in autocommit (see the module's docstring)."""

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
        if record.info.pop(_AUTOCOMMIT, False) and not dbapi_connection.closed:
            dbapi_connection.autocommit = False

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # psycopg sends BEGIN itself before the first statement unless in autocommit; the
        # connection is idle here (SQLAlchemy's transaction has sent nothing yet).
        autocommit = _autocommit_wanted()
        if autocommit or connection.info.get(_AUTOCOMMIT):
            connection.connection.driver_connection.autocommit = autocommit
            connection.info[_AUTOCOMMIT] = autocommit

    @event.listens_for(engine, "before_cursor_execute")
    def _refuse_writes(
        connection: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: Any
    ) -> None:
        if connection.info.get(_AUTOCOMMIT) and not _PLAIN_READ.match(statement):
            raise WriteOutsideTransaction(
                f"a reads_only view must call start_writing() before it writes: {statement[:80]}"
            )
