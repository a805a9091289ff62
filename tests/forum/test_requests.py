"""Form and query values reach views without NUL characters."""

from __future__ import annotations

import sqlalchemy as sa

from forum.boards.models import Thread
from forum.extensions import db


def test_a_nul_in_a_form_is_dropped_not_a_500(signed_in, board) -> None:
    response = signed_in.post(
        "/b/general/new", {"title": "Nul\x00 in the title", "body": "and\x00 in the body"}
    )
    assert response.status_code == 302
    thread = db.session.scalar(sa.select(Thread))
    assert thread.title == "Nul in the title"


def test_a_nul_in_the_query_string_is_dropped(client, board) -> None:
    assert client.get("/search?q=pay%00ment").status_code == 200
    assert client.get("/b/general?page=1%00").status_code == 200
