"""Thread view counts: counted in each process's memory and written to the database in batches.

Counting a view used to be a write per page read, which on SQLite serializes every reader
behind the write lock. Now a view adds one to this process's tally; the tallies of all
threads go to the database in one transaction at most every ``THREAD_VIEWS_FLUSH_SECONDS``
(and when the process exits). A page shows the stored count plus this process's pending
views. The price: a process that is killed outright loses at most that many seconds of views.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import Counter

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from forum.boards.models import Thread


class ViewTally:
    """One app's views not written yet, by thread id."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._pending: Counter[int] = Counter()
        self._last_flush = time.monotonic()

    def count(self, thread_id: int) -> None:
        with self._lock:
            self._pending[thread_id] += 1

    def pending(self, thread_id: int) -> int:
        return self._pending.get(thread_id, 0)

    def due(self) -> bool:
        return bool(self._pending) and time.monotonic() - self._last_flush >= self.every

    def take(self) -> dict[int, int]:
        with self._lock:
            taken = dict(self._pending)
            self._pending.clear()
            self._last_flush = time.monotonic()
        return taken

    def restore(self, views: dict[int, int]) -> None:
        with self._lock:
            self._pending.update(views)


def tally() -> ViewTally:
    """Return the current app's tally."""
    return current_app.extensions["thread_views"]


def write(session: Session, views: dict[int, int]) -> None:
    """Add the views to the threads' stored counts (in id order, so that two processes writing
    at once never wait for each other in a circle)."""
    for thread_id, count in sorted(views.items()):
        session.execute(
            sa.update(Thread)
            .where(Thread.id == thread_id)
            .values(view_count=Thread.view_count + count)
            .execution_options(synchronize_session=False)
        )


def init_app(app: Flask) -> None:
    """Give the app its tally, written when the process exits."""
    views = ViewTally(float(app.config.get("THREAD_VIEWS_FLUSH_SECONDS", 10)))
    app.extensions["thread_views"] = views

    def flush_at_exit() -> None:  # pragma: no cover - runs when a worker process exits
        from forum.extensions import db

        pending = views.take()
        if not pending:
            return
        try:
            with app.app_context():
                write(db.session, pending)
                db.session.commit()
        except Exception:  # noqa: BLE001 - exiting anyway: these views are lost
            app.logger.warning("could not write %d threads' views at exit", len(pending))

    if not app.testing:  # test apps come and go; their views need not outlive them
        atexit.register(flush_at_exit)
