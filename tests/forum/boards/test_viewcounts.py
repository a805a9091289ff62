"""Thread views: counted in memory, shown at once, written to the database in batches."""

from __future__ import annotations

import re

import sqlalchemy as sa

from forum.boards import posting, viewcounts
from forum.boards.models import Thread
from forum.extensions import db


def _shown_views(client, thread_id: int) -> int:  # noqa: ANN001
    html = client.get(f"/t/{thread_id}").get_data(as_text=True)
    return int(re.search(r"(\d+) views?</p>", html).group(1))


def test_a_view_shows_at_once_and_is_written_with_the_next_flush(app, client, member, board):
    thread = posting.create_thread(db.session, member, board, "Counted", "body")
    db.session.commit()
    views = viewcounts.tally()
    views.take()  # start from nothing pending
    assert _shown_views(client, thread.id) == 1
    assert _shown_views(client, thread.id) == 2
    stored = db.session.scalar(sa.select(Thread.view_count).where(Thread.id == thread.id))
    assert stored == 0  # not written yet: no write per page read

    views.every = 0  # due now: the next page read writes every pending view
    try:
        assert _shown_views(client, thread.id) == 3
    finally:
        views.every = app.config["THREAD_VIEWS_FLUSH_SECONDS"]
    db.session.expire_all()
    stored = db.session.scalar(sa.select(Thread.view_count).where(Thread.id == thread.id))
    assert stored == 3
    assert views.pending(thread.id) == 0
    assert _shown_views(client, thread.id) == 4
    views.take()


def test_write_adds_to_the_stored_counts(app, member, board) -> None:
    thread = posting.create_thread(db.session, member, board, "Batch", "body")
    viewcounts.write(db.session, {thread.id: 5})
    viewcounts.write(db.session, {thread.id: 2})
    db.session.expire_all()
    assert db.session.get(Thread, thread.id).view_count == 7
