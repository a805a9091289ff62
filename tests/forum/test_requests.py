"""Form and query values reach views without NUL characters; numbers in URLs are numbers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import NotFound as HTTPNotFound

from forum.boards import posting
from forum.boards.models import Thread
from forum.extensions import db
from forum.requests import MAX_ID, positive_int


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1), ("42", 42), (str(MAX_ID), MAX_ID), ("007", 7),
        (None, None), ("", None), ("0", None), ("-1", None), ("+1", None), (" 1", None),
        ("1.0", None), ("²", None), ("٣", None), (str(MAX_ID + 1), None), ("9" * 5000, None),
    ],
)  # fmt: skip
def test_positive_int_takes_plain_numbers_only(text, expected) -> None:
    assert positive_int(text) == expected


def test_positive_int_respects_the_maximum() -> None:
    assert positive_int("1000", 1000) == 1000
    assert positive_int("1001", 1000) is None


def test_numbers_no_database_can_hold_are_404_not_500(app, client, signed_in, member, board):
    thread = posting.create_thread(db.session, member, board, "A title", "A body")
    db.session.commit()
    huge = "99999999999999999999"
    for path in (
        f"/t/{huge}", f"/t/{MAX_ID + 1}", f"/posts/{huge}", f"/posts/{huge}/revisions",
        f"/t/{thread.id}?page=²", f"/t/{thread.id}?page={'9' * 5000}", "/b/general?page=²",
        "/search?q=paid&page=²", "/notifications?page=²",
    ):  # fmt: skip
        assert signed_in.get(path).status_code == 404, path
    for path in (f"/posts/{huge}/kudos", f"/posts/{huge}/accept", f"/t/{huge}/unaccept"):
        assert signed_in.post(path).status_code == 404, path
    # A quote of a post that cannot exist is no quote: the reply form still opens.
    for quote in ("²", huge):
        response = signed_in.get(f"/t/{thread.id}/reply?quote={quote}")
        assert response.status_code == 200, quote
        assert "wrote" not in response.get_data(as_text=True)


def test_routes_match_ids_up_to_the_largest_a_row_can_have(app) -> None:
    urls = app.url_map.bind("townhall.test")
    assert urls.match(f"/t/{MAX_ID}") == ("boards.thread", {"thread_id": MAX_ID})
    with pytest.raises(HTTPNotFound):
        urls.match(f"/t/{MAX_ID + 1}")
