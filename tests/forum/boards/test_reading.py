"""Reading a board: every page holds the threads it would with a plain OFFSET, whichever end
of the board it is skipped to from."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum.boards import posting, reading
from forum.boards.models import Thread
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import removals, threads
from tests.conftest import make_user


@pytest.mark.parametrize("per_page", [3, 4, 7])
@pytest.mark.parametrize("viewer_kind", ["guest", "moderator"])
def test_every_page_holds_the_threads_of_a_plain_offset(
    app, board, moderator, per_page: int, viewer_kind: str
) -> None:
    author = make_user()
    start = utcnow() - timedelta(days=1)
    made = []
    for n in range(20):
        thread = posting.create_thread(db.session, author, board, f"Thread {n}", "body")
        thread.last_post_at = start + timedelta(minutes=n % 7)  # ties: the id decides
        made.append(thread)
    db.session.flush()
    for thread in (made[2], made[11]):
        threads.set_flag(db.session, moderator, thread.id, threads.Action.PIN_THREAD)
    first_post = db.session.scalar(
        sa.select(posting.Post.id).where(posting.Post.thread_id == made[5].id)
    )
    removals.remove_post(db.session, moderator, first_post, "spam")
    db.session.flush()
    db.session.refresh(board)
    viewer = moderator if viewer_kind == "moderator" else None
    visible = sa.select(Thread.id).where(Thread.board_id == board.id)
    if viewer is None:
        visible = visible.where(Thread.removed_at.is_(None))
    expected = list(
        db.session.scalars(
            visible.order_by(Thread.pinned.desc(), Thread.last_post_at.desc(), Thread.id.desc())
        )
    )
    assert len(expected) == (20 if viewer else 19)
    pages = -(-len(expected) // per_page)
    for page in range(1, pages + 2):  # and one past the end
        shown = reading.board_threads(db.session, viewer, board, page, per_page)
        ids = [row.id for row in shown.items]
        assert ids == expected[(page - 1) * per_page : page * per_page], page
