"""The search page: a box on every page, results with filters, friendly advice, few queries."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from forum.boards import posting
from forum.extensions import db
from tests.conftest import Browser, count_queries, make_board, make_user


def test_every_page_has_a_labelled_search_box(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert 'role="search"' in html
    assert '<label for="site-search-q" class="visually-hidden">Search the forum</label>' in html
    assert 'action="/search"' in html


def test_empty_search_page_shows_the_form(client) -> None:
    response = client.get("/search")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Filters" in html and "result" not in html.lower().split("<main")[1].split("filters")[0]


def test_results_show_highlight_board_author_date_and_solved(client, member, board) -> None:
    thread = posting.create_thread(
        db.session, member, board, "Payout delays", "Where is my payout?"
    )
    answer = posting.reply(db.session, make_user("helper"), thread, "Payouts take two days.")
    posting.accept_solution(db.session, member, answer)
    db.session.commit()
    html = client.get("/search?q=payout").get_data(as_text=True)
    assert "2 results" in html
    assert "<mark>" in html
    assert '<span class="tag tag-solved">Solved</span>' in html
    assert "Accepted solution" in html
    assert ">General</a>" in html and "by helper" in html and "UTC" in html
    assert f'href="/posts/{answer.id}"' in html


def test_filters_come_from_the_form(client, member, board) -> None:
    other = make_board("other")
    posting.create_thread(db.session, member, board, "Fee question", "fee")
    posting.create_thread(db.session, make_user("zed"), other, "Fee answer", "fee")
    db.session.commit()
    html = client.get("/search?q=fee&board=other").get_data(as_text=True)
    assert "1 result " in html and "Fee answer" in html.replace("<mark>", "").replace("</mark>", "")
    assert "1 result " in client.get("/search?q=fee&author=zed").get_data(as_text=True)
    assert "No results" in client.get("/search?q=fee&solved=y").get_data(as_text=True)
    today = datetime.now(UTC).date().isoformat()
    assert "2 results" in client.get(f"/search?q=fee&since={today}&until={today}").get_data(
        as_text=True
    )
    assert "No results" in client.get("/search?q=fee&until=2001-01-01").get_data(as_text=True)


def test_staff_board_is_not_offered_or_searched_for_members(client, member, moderator) -> None:
    lounge = make_board("lounge", moderators_only=True)
    posting.create_thread(db.session, moderator, lounge, "Ban wave", "secret plans")
    db.session.commit()
    html = client.get("/search?q=secret&board=lounge").get_data(as_text=True)
    assert "No results" in html and 'value="lounge"' not in html
    staff = Browser(client).sign_in(moderator).get("/search?q=secret").get_data(as_text=True)
    assert "1 result " in staff


@pytest.mark.parametrize(
    ("query", "advice"),
    [
        ('"unbalanced', None),
        ("AND", "Type a word or two"),
        ("-", "Type a word or two"),
        ("-spam", "not only words to leave out"),
        ("x" * 10_000, "at most 200 characters"),
        ("( ^ * )", "Type a word or two"),
    ],
)
def test_query_syntax_problems_get_friendly_advice(client, member, board, query, advice) -> None:
    posting.create_thread(db.session, member, board, "Unbalanced quotes", "text")
    db.session.commit()
    response = client.get(f"/search?q={quote(query)}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    if advice:
        assert advice in html and 'role="alert"' in html
    else:
        assert "1 result " in html


def test_bad_filter_values_are_form_errors(client) -> None:
    response = client.get("/search?q=fee&since=yesterday")
    assert response.status_code == 200
    assert "Please correct the marked fields." in response.get_data(as_text=True)


def test_result_pages(app, client, member, board) -> None:
    per_page = app.config["SEARCH_RESULTS_PER_PAGE"]
    for n in range(per_page + 3):
        posting.create_thread(db.session, member, board, f"Milestone {n}", "milestone")
    db.session.commit()
    first = client.get("/search?q=milestone").get_data(as_text=True)
    second = client.get("/search?q=milestone&page=2").get_data(as_text=True)
    assert "Page 1 of 2" in first and 'rel="next"' in first
    assert second.count('<li class="search-hit') == 3
    assert client.get("/search?q=milestone&page=0").status_code == 404


def test_search_page_queries_do_not_grow_with_matches(client, member, board) -> None:
    def queries(path: str) -> int:
        with count_queries(prepared=True) as statements:
            assert client.get(path).status_code == 200
        return len(statements)

    posting.create_thread(db.session, member, board, "Budget", "budget")
    db.session.commit()
    few = queries("/search?q=budget")
    for n in range(30):
        thread = posting.create_thread(db.session, make_user(), board, f"Budget {n}", "budget")
        posting.reply(db.session, make_user(), thread, "my budget too")
    db.session.commit()
    many = queries("/search?q=budget")
    # The board choices, the page's candidates, its hits (the test's transaction has written,
    # so the results cache, and its generation, are not read).
    assert few == many == 3
