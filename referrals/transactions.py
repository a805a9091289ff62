"""Committing a unit of work, and running it again when the database asks for that: a
deadlock or serialization failure on PostgreSQL, a busy SQLite, or a lost race for an event id.
Used by the API and the command line, which own the commit."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from forum.extensions import db
from referrals.spend import EventRace

T = TypeVar("T")
ATTEMPTS = 8
# SQLSTATEs worth retrying: serialization failure, deadlock detected, lock not available, and
# unique violation: the domain checks before it inserts, so a violation means a parallel
# transaction inserted the same thing first, and running again finds it.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "23505"})
SQLITE_TRANSIENT = ("database is locked", "UNIQUE constraint failed")


class Busy(RuntimeError):
    """The work kept colliding with other transactions; the caller should try again later."""


def is_transient(error: DBAPIError) -> bool:
    """Return whether the database error goes away by running the transaction again."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate in TRANSIENT_SQLSTATES or any(m in str(error.orig) for m in SQLITE_TRANSIENT)


def committed(work: Callable[[], T]) -> T:
    """Run ``work``, commit, and return its result; roll back on any error.

    Transient failures are retried a few times with jittered backoff (``work`` must be safe to
    run again: it runs in a fresh transaction each time). Raises Busy when they persist, and
    any other error as it is.
    """
    for attempt in range(ATTEMPTS):
        try:
            result = work()
            db.session.commit()
            return result
        except EventRace:
            db.session.rollback()
        except DBAPIError as error:
            db.session.rollback()
            if not is_transient(error):
                raise
        except BaseException:
            db.session.rollback()
            raise
        time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 - jitter, not secrecy
    raise Busy("the database stayed busy")
