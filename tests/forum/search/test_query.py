"""Reading the search box: whatever is typed, the engine query is well formed."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forum.search.query import MAX_QUERY_CHARS, MAX_TERMS, QueryError, parse, to_fts5


def test_words_phrases_and_exclusions() -> None:
    query = parse('payout "service fee" -spam -"bad idea"')
    assert query.required == (("service", "fee"), ("payout",))
    assert query.excluded == (("bad", "idea"), ("spam",))
    assert to_fts5(query) == '(("service fee" AND "payout") NOT "bad idea") NOT "spam"'


def test_hyphenated_words_stay_together() -> None:
    assert parse("e-mail").required == (("e", "mail"),)


def test_stop_words_are_dropped_unless_nothing_else_is_left() -> None:
    assert parse("how do I get paid").required == (("get",), ("paid",))
    assert parse("the who").required == (("the",), ("who",))
    assert parse('"the fee"').required == (("the", "fee"),)


def test_typed_operators_are_ignored() -> None:
    assert parse("fees AND refunds OR NOT").required == (("fees",), ("refunds",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Type a word or two"),
        ("   ", "Type a word or two"),
        ('"', "Type a word or two"),
        ("-spam", "not only words to leave out"),
        ("* ( ) ^ :", "Type a word or two"),
        ("x" * (MAX_QUERY_CHARS + 1), f"at most {MAX_QUERY_CHARS} characters"),
        ("x" * 10_000, f"at most {MAX_QUERY_CHARS} characters"),
        (" ".join(f"w{n}" for n in range(MAX_TERMS + 1)), f"at most {MAX_TERMS} words"),
    ],
)
def test_unusable_searches_get_a_message(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse(text)


@pytest.fixture(scope="module")
def fts5() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE VIRTUAL TABLE t USING fts5(title, body, tokenize='porter unicode61')"
    )
    connection.execute("INSERT INTO t VALUES ('a title', 'some body text')")
    return connection


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=MAX_QUERY_CHARS))
def test_any_text_makes_a_valid_fts5_query_or_a_message(
    fts5: sqlite3.Connection, text: str
) -> None:
    try:
        query = parse(text)
    except QueryError:
        return
    fts5.execute("SELECT rowid FROM t WHERE t MATCH ?", (to_fts5(query),)).fetchall()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                '"',
                "-",
                "AND",
                "OR",
                "NOT",
                "NEAR",
                "(",
                ")",
                "*",
                "^",
                ":",
                "word",
                "x-y",
                "+",
                "{",
                "}",
            ]
        ),
        max_size=20,
    )
)
def test_operator_soup_makes_a_valid_fts5_query_or_a_message(
    fts5: sqlite3.Connection, parts: list[str]
) -> None:
    try:
        query = parse(" ".join(parts))
    except QueryError:
        return
    fts5.execute("SELECT rowid FROM t WHERE t MATCH ?", (to_fts5(query),)).fetchall()
