"""Reading what a member typed into the search box, and turning it into engine queries.

The engine query is built here from words, each quoted, so that nothing a member types can
be engine syntax: unbalanced quotes, lone operators or stray brackets are just ignored.
Supported: plain words (all must match), "exact phrases", and -word or -"phrase" to leave
something out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_QUERY_CHARS = 200
MAX_TERMS = 12

_QUOTED = re.compile(r'(-?)"([^"]*)"')
_WORD = re.compile(r"\w+")
# Operators people type out of habit; the engines would read them as syntax, we drop them.
_OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR"})
# Words too common to narrow a search (PostgreSQL's english configuration drops them too);
# kept when a search has nothing else, and always kept inside "exact phrases".
_STOP_WORDS_TEXT = """
    a an and are as at be but by do does for from has have how i if in into is it its me my
    no not of on or our so such that the their then there these they this to was we what
    when where which who why will with you your
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


class QueryError(ValueError):
    """The search text cannot be used; the message says why, in words for a person."""


@dataclass(frozen=True)
class ParsedQuery:
    """Terms to find and to leave out; a term is a tuple of words that must be adjacent."""

    required: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    excluded: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    @property
    def words(self) -> list[str]:
        """Return every word to find, for showing what was searched."""
        return [word for term in self.required for word in term]


def _term(text: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _WORD.findall(text))


def parse(text: str) -> ParsedQuery:
    """Return the terms of a search; raise QueryError when there is nothing usable to find."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"That search is too long: use at most {MAX_QUERY_CHARS} characters, "
            "a few words are usually best."
        )
    required: list[tuple[str, ...]] = []
    excluded: list[tuple[str, ...]] = []

    def add(negated: bool, term: tuple[str, ...]) -> None:
        target = excluded if negated else required
        if term and term not in target:
            target.append(term)

    for match in _QUOTED.finditer(text):
        add(bool(match.group(1)), _term(match.group(2)))
    # Whatever is left, an unbalanced quote included, is plain words.
    for token in _QUOTED.sub(" ", text).replace('"', " ").split():
        if token in _OPERATORS:
            continue
        negated = token.startswith("-") and len(token) > 1
        term = _term(token)
        if negated or len(term) > 1:
            # "e-mail" or "-word": one term, its words adjacent, as the engine tokenizes it.
            add(negated, term)
        else:
            add(False, term)
    significant = [term for term in required if len(term) > 1 or term[0] not in STOP_WORDS]
    if significant:
        required = significant
    if len(required) + len(excluded) > MAX_TERMS:
        raise QueryError(f"Use at most {MAX_TERMS} words or phrases in one search.")
    if not required:
        if excluded:
            raise QueryError("Add a word to search for, not only words to leave out.")
        raise QueryError("Type a word or two to search for.")
    return ParsedQuery(tuple(required), tuple(excluded))


def _fts5_string(term: tuple[str, ...]) -> str:
    # Words are \w+ runs, so they hold no double quote: the string cannot be closed early.
    return '"' + " ".join(term) + '"'


def to_fts5(query: ParsedQuery) -> str:
    """Return the FTS5 MATCH expression for the query (all terms, none of the excluded)."""
    expression = " AND ".join(_fts5_string(term) for term in query.required)
    for term in query.excluded:
        expression = f"({expression}) NOT {_fts5_string(term)}"
    return expression
