"""Searching posts: ranked matches with highlighted snippets, filtered to what the viewer may see.

SQLite answers with its FTS5 table and bm25 ranking; PostgreSQL with the tsvector column,
its GIN index and ts_rank_cd. Members never see removed posts, removed threads or boards for
moderators only; moderators see everything, removed content marked as such.
A page of results costs two queries on SQLite and three on PostgreSQL, whatever the number
of matches (counting stops at MAX_COUNTED).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from math import ceil
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup, escape
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.accounts.service import username_key
from forum.boards.models import Board, Post, Thread
from forum.database import Prepared, UTCDateTime
from forum.markup import plain_text
from forum.search import cache, generation
from forum.search.index import MARK_END, MARK_START, TEXT_SEARCH_CONFIG, clean_text
from forum.search.query import ParsedQuery, QueryError, parse, to_fts5

__all__ = ["QueryError", "SearchFilters", "SearchHit", "SearchResults", "highlight", "search"]

# Counting every match of a common word costs as much as the search; past this many the page
# says "more than 1,000" instead.
MAX_COUNTED = 1000
# Ranking looks only at the newest matches, one more than are counted: every page of results
# comes from them, and their number says whether there are "more than 1,000".
CANDIDATES = MAX_COUNTED + 1
SNIPPET_WORDS = 30


@dataclass(frozen=True)
class SearchFilters:
    board_slug: str | None = None
    author: str | None = None
    solved_only: bool = False
    since: date | None = None
    until: date | None = None
    newest_first: bool = False


@dataclass(frozen=True)
class SearchHit:
    post_id: int
    post_number: int
    thread_id: int
    title_html: Markup
    snippet_html: Markup
    board_name: str
    board_slug: str
    author_name: str
    created_at: datetime
    solved: bool
    is_solution: bool
    removed: bool


@dataclass(frozen=True)
class SearchResults:
    hits: list[SearchHit]
    number: int
    per_page: int
    total: int
    words: list[str]

    @property
    def more_than_counted(self) -> bool:
        return self.total > MAX_COUNTED

    @property
    def pages(self) -> int:
        return max(1, ceil(min(self.total, MAX_COUNTED) / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def _marks_balanced(text: str) -> bool:
    inside = False
    for char in text:
        if char == MARK_START:
            if inside:
                return False
            inside = True
        elif char == MARK_END:
            if not inside:
                return False
            inside = False
    return not inside


def highlight(text: str) -> Markup:
    """Return ``text`` escaped for HTML, with the engine's match marks turned into <mark>.

    Escaping comes first, so nothing in a post can become markup; marks that do not pair up
    (the engines never produce them) drop all highlighting rather than leave a tag open.
    """
    escaped = str(escape(text))
    if not _marks_balanced(escaped):
        return Markup(escaped.replace(MARK_START, "").replace(MARK_END, ""))  # noqa: S704
    return Markup(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))  # noqa: S704


@dataclass(frozen=True)
class _Shape:
    """What a search's statements are made of besides bound values: the viewer's visibility
    class, which filters are set, and the order.

    Each statement is built and compiled once per shape (on PostgreSQL also per kind of
    terms: forum.search.query's words and phrases) and run straight on the driver's cursor
    (forum.database.Prepared); the words, filter values, limits, offsets and ids are bound
    values. Built, keyed and executed by SQLAlchemy on every search, they cost 1.5–3 ms of
    the Python an uncached search took (4–5 ms), for SQL that stayed the same.
    """

    moderator: bool
    board: bool
    author: bool
    solved: bool
    since: bool
    until: bool
    newest_first: bool

    @classmethod
    def of(cls, viewer: User | None, filters: SearchFilters) -> _Shape:
        return cls(
            moderator=viewer is not None and viewer.is_moderator,
            board=bool(filters.board_slug),
            author=bool(filters.author),
            solved=filters.solved_only,
            since=filters.since is not None,
            until=filters.until is not None,
            newest_first=filters.newest_first,
        )

    @property
    def joins_threads(self) -> bool:
        """Whether the candidates are joined to their threads and boards: for a filter on
        them (a board, solved threads). Else the visibility rule leaves out the posts of
        hidden threads (_HIDDEN_THREADS) and nothing is joined."""
        return self.board or self.solved

    def where(self, *, joined: bool = True) -> list[Any]:
        """The visibility rules and the filters (their values bound: _filter_values), over
        posts joined to their threads and boards; with ``joined`` False over posts alone
        (for a shape that does not join_threads)."""
        clauses: list[Any] = []
        if not self.moderator:
            clauses.append(Post.removed_at.is_(None))
            if joined:
                clauses += [Thread.removed_at.is_(None), Board.moderators_only.is_(False)]
            else:
                clauses.append(Post.thread_id.not_in(_HIDDEN_THREADS))
        if self.board:
            clauses.append(Board.slug == _BOARD_SLUG)
        if self.author:
            # The author's id, not a join: candidates are read without the users table.
            clauses.append(Post.author_id == _AUTHOR_ID)
        if self.solved:
            clauses.append(Thread.solution_post_id.is_not(None))
        if self.since:
            clauses.append(Post.created_at >= sa.bindparam("since", type_=UTCDateTime))
        if self.until:
            clauses.append(Post.created_at < sa.bindparam("until", type_=UTCDateTime))
        return clauses

    def candidates_from(self, statement: sa.Select) -> sa.Select:
        """Return ``statement`` (of posts) restricted to what the viewer may find, and
        joined to the threads and boards only when a filter needs them."""
        if self.joins_threads:
            return _joined(statement, authors=False).where(*self.where())
        return statement.where(*self.where(joined=False))


# The threads whose posts members never find: removed ones (from a partial index of them,
# migration 0011) and those of boards for moderators only. A few, hashed once per search:
# joining every candidate to its thread and board instead had PostgreSQL hash all threads.
# (The boards as a subquery, not a join: SQLite then reads the threads of those boards from
# their index, not every thread.)
_HIDDEN_THREADS = sa.union_all(
    sa.select(Thread.id).where(Thread.removed_at.is_not(None)),
    sa.select(Thread.id).where(
        Thread.board_id.in_(sa.select(Board.id).where(Board.moderators_only.is_not(False)))
    ),
)


_BOARD_SLUG = sa.bindparam("board_slug", type_=sa.String)
_AUTHOR_ID = (
    sa.select(User.id)
    .where(User.username_key == sa.bindparam("author_key", type_=sa.String))
    .scalar_subquery()
)


def _filter_values(filters: SearchFilters) -> dict[str, Any]:
    """Return the bound values of the filters that _Shape.where compares with."""
    values: dict[str, Any] = {}
    if filters.board_slug:
        values["board_slug"] = filters.board_slug
    if filters.author:
        values["author_key"] = username_key(filters.author.strip().lstrip("@"))
    if filters.since:
        values["since"] = datetime.combine(filters.since, time.min, UTC)
    if filters.until:
        values["until"] = datetime.combine(filters.until + timedelta(days=1), time.min, UTC)
    return values


_COLUMNS = (
    Post.id,
    Post.number,
    Post.thread_id,
    Post.body_source,
    Post.created_at,
    Post.removed_at,
    Thread.title,
    Thread.solution_post_id,
    Thread.removed_at.label("thread_removed_at"),
    Board.name,
    Board.slug,
    User.username,
)


def _joined(statement: sa.Select, *, authors: bool = True) -> sa.Select:
    statement = statement.join(Thread, Thread.id == Post.thread_id).join(
        Board, Board.id == Thread.board_id
    )
    return statement.join(User, User.id == Post.author_id) if authors else statement


# Bound values every search sets (_page_values): how many candidates there are at most, and
# the page's LIMIT and OFFSET among them; and the page's post ids for its hits, one value
# each (NULL past the last: IN never matches a NULL).
_CANDIDATES = sa.bindparam("candidates", type_=sa.Integer)
_PAGE_LIMIT = sa.bindparam("page_limit", type_=sa.Integer)
_PAGE_OFFSET = sa.bindparam("page_offset", type_=sa.Integer)


def _page_values(page: int, per_page: int) -> dict[str, int]:
    # CANDIDATES read here, not built into the statements: tests change it.
    return {"candidates": CANDIDATES, "page_limit": per_page, "page_offset": (page - 1) * per_page}


def _page_id_params(per_page: int) -> list[sa.BindParameter]:
    return [sa.bindparam(f"page_id_{n}", type_=sa.Integer) for n in range(per_page)]


def _page_id_values(ids: list[int], per_page: int) -> dict[str, int | None]:
    return {f"page_id_{n}": ids[n] if n < len(ids) else None for n in range(per_page)}


def _scalar(statement: Prepared, connection: Connection, values: dict[str, Any]) -> Any:
    row = statement.first(connection, values)
    return row[0] if row is not None else None


def _hit(row: Any, title_html: Markup, snippet_html: Markup) -> SearchHit:
    return SearchHit(
        post_id=row.id,
        post_number=row.number,
        thread_id=row.thread_id,
        title_html=title_html,
        snippet_html=snippet_html,
        board_name=row.name,
        board_slug=row.slug,
        author_name=row.username,
        created_at=row.created_at,
        solved=row.solution_post_id is not None,
        is_solution=row.solution_post_id == row.id,
        removed=row.removed_at is not None or row.thread_removed_at is not None,
    )


@dataclass(frozen=True)
class _Page:
    total: int | None  # None: not known (PostgreSQL's window: the page is past its matches)
    ids: list[int]
    window_start: int | None = None  # the newest post id outside the window; None: no posts


@dataclass(frozen=True)
class _PageStatements:
    page: Prepared
    count: Prepared


def _page_statements(
    candidates: sa.Subquery,
    rank: Any,
    newest_first: bool,
    window_start: Any = None,
    planned_each_time: bool = False,
) -> _PageStatements:
    """Return the statement of the number of candidates and the ids of a page's posts among
    them (one query: the window count is taken over every candidate, before the page's
    LIMIT), and the statement of their number alone.

    ``window_start`` (PostgreSQL's window) is a scalar expression selected alongside: where
    the window ends, so that the search can go on below it.
    """
    order = (
        (candidates.c.created_at.desc(), candidates.c.id.desc())
        if newest_first
        else (rank, candidates.c.id.desc())
    )
    columns = [candidates.c.id, sa.func.count().over().label("total")]
    if window_start is not None:
        columns.append(window_start.label("window_start"))
    page = sa.select(*columns).order_by(*order).limit(_PAGE_LIMIT).offset(_PAGE_OFFSET)
    count = sa.select(sa.func.count()).select_from(candidates)
    return _PageStatements(
        Prepared(page, planned_each_time=planned_each_time),
        Prepared(count, planned_each_time=planned_each_time),
    )


def _page_of_candidates(
    connection: Connection,
    statements: _PageStatements,
    values: dict[str, Any],
    page: int,
    windowed: bool = False,
) -> _Page:
    """Return the number of candidates and the ids of the page's posts among them.

    With PostgreSQL's window (``windowed``), a page past the candidates has an unknown
    total (nothing says whether the window was full).
    """
    rows = statements.page.all(connection, values)
    if rows:
        start = rows[0].window_start if windowed else None
        return _Page(rows[0].total, [row.id for row in rows], start)
    if windowed:
        return _Page(None, [])
    if page == 1:
        return _Page(0, [])
    # Past the last page: the count alone, for the page to say how many there are.
    return _Page(_scalar(statements.count, connection, values) or 0, [])


# SQLite's index: the FTS5 table, matched with the FTS5 expression of to_fts5 (bound).
_FTS = sa.table("post_search", sa.column("rowid", sa.Integer), sa.column("rank"))
_FTS_TABLE = sa.literal_column("post_search")
_MATCH = _FTS_TABLE.op("MATCH")(sa.bindparam("match", type_=sa.String))


def _sqlite_matching(shape: _Shape, *columns: Any) -> sa.Select:
    """The matches the viewer may find, with the columns of their posts (not joined to
    threads and boards unless a filter needs them)."""
    posts = sa.select(*columns).select_from(_FTS).join(Post, Post.id == _FTS.c.rowid)
    return shape.candidates_from(posts).where(_MATCH)


def _sqlite_hits_matching(shape: _Shape, *columns: Any) -> sa.Select:
    """The matches the viewer may find, joined to their threads, boards and authors."""
    posts = sa.select(*columns).select_from(_FTS).join(Post, Post.id == _FTS.c.rowid)
    return _joined(posts).where(_MATCH, *shape.where())


@functools.cache
def _sqlite_candidates_page(shape: _Shape) -> _PageStatements:
    # The newest matches are the candidates: FTS5 reads its matches in rowid (post id) order
    # and stops after CANDIDATES visible ones, so neither bm25 nor the count ever looks at
    # more than that however common the words are. bm25 only to order by it: asked for,
    # FTS5 computes it for every candidate (a third of the query's time), and newest first
    # never reads it.
    ranks = [] if shape.newest_first else [_FTS.c.rank]
    candidates = (
        _sqlite_matching(shape, Post.id.label("id"), Post.created_at.label("created_at"), *ranks)
        .order_by(_FTS.c.rowid.desc())
        .limit(_CANDIDATES)
        .subquery("candidates")
    )
    rank = None if shape.newest_first else candidates.c.rank
    return _page_statements(candidates, rank, shape.newest_first)


@functools.cache
def _sqlite_hits(shape: _Shape, per_page: int) -> Prepared:
    # Highlights and snippets for the page's posts only. FTS5 makes them while it matches,
    # so the match is read again, but only between the page's lowest and highest post ids
    # (FTS5 seeks to a rowid range; looking each post up by rowid re-reads the match list
    # once per post).
    return Prepared(
        _sqlite_hits_matching(
            shape,
            *_COLUMNS,
            sa.func.highlight(_FTS_TABLE, 0, MARK_START, MARK_END).label("title_marked"),
            sa.func.snippet(_FTS_TABLE, 1, MARK_START, MARK_END, "…", SNIPPET_WORDS).label(
                "body_marked"
            ),
        ).where(
            _FTS.c.rowid.between(
                sa.bindparam("lowest", type_=sa.Integer), sa.bindparam("highest", type_=sa.Integer)
            ),
            Post.id.in_(_page_id_params(per_page)),
        )
    )


# An author or board with at most this many posts is searched from its posts (each looked up
# in the index) rather than from the matches (each checked against the filter).
SMALL_SET = 200
LOOKUP_COST = 200


@functools.cache
def _small_set_posts(kind: str) -> sa.Select:
    """The ids of the filtered author's posts (``kind`` "author") or board's ("board")."""
    if kind == "author":
        return sa.select(Post.id).where(Post.author_id == _AUTHOR_ID)
    return (
        sa.select(Post.id)
        .join(Thread, Thread.id == Post.thread_id)
        .join(Board, Board.id == Thread.board_id)
        .where(Board.slug == _BOARD_SLUG)
    )


def _limited_count(statement: sa.Select, limit: str) -> Prepared:
    limited = statement.limit(sa.bindparam(limit, type_=sa.Integer))
    return Prepared(sa.select(sa.func.count()).select_from(limited.subquery()))


@functools.cache
def _small_set_counts(kind: str) -> tuple[Prepared, Prepared]:
    """The number of the filter's posts, and of the matches, each counted up to a bound."""
    matches = sa.select(_FTS.c.rowid).select_from(_FTS).where(_MATCH)
    return (
        _limited_count(_small_set_posts(kind), "few_limit"),
        _limited_count(matches, "enough"),
    )


def _small_set(
    connection: Connection, filters: SearchFilters, values: dict[str, Any]
) -> str | None:
    """Return which filter's posts to search from ("author" or "board") when they are few.

    FTS5 reads matches newest first and the filters are checked on each, so a filter that
    few matches pass (an author's dozens of posts among tens of thousands of matches) would
    read them all; looking each of those few posts up in the index instead costs tens of
    microseconds a post, up to a millisecond for a word with a long match list, so only
    when the matches outnumber the posts LOOKUP_COST to one. Counting stops early on both.
    """
    kinds = [
        kind for kind, set_ in (("author", filters.author), ("board", filters.board_slug)) if set_
    ]
    for kind in kinds:
        posts, matches = _small_set_counts(kind)
        few = _scalar(posts, connection, {**values, "few_limit": SMALL_SET + 1}) or 0
        if few > SMALL_SET:
            continue
        enough = max(1, few) * LOOKUP_COST
        if (_scalar(matches, connection, {**values, "enough": enough}) or 0) >= enough:
            return kind
    return None


@functools.cache
def _small_set_statements(shape: _Shape, kind: str) -> tuple[Prepared, sa.Select]:
    """The candidates among the filter's posts, each looked up in the index (by rowid, in
    ascending order: FTS5 reads a whole match list into memory to go through it backwards);
    and bm25 of given posts, in one pass over their rowid range without ORDER BY (asked per
    lookup, or with ORDER BY rank, FTS5 computes it for every match)."""
    candidates = (
        _sqlite_matching(shape, Post.id, Post.created_at)
        .where(_FTS.c.rowid.in_(_small_set_posts(kind)))
        .order_by(Post.id.desc())
        .limit(_CANDIDATES)
    )
    ranks = (
        sa.select(_FTS.c.rowid, _FTS.c.rank)
        .select_from(_FTS)
        .where(
            _MATCH,
            _FTS.c.rowid.between(
                sa.bindparam("lowest", type_=sa.Integer), sa.bindparam("highest", type_=sa.Integer)
            ),
            (_FTS.c.rowid + 0).in_(sa.bindparam("ids", expanding=True)),
        )
    )
    return Prepared(candidates), ranks


def _page_of_small_set(
    connection: Connection, shape: _Shape, kind: str, values: dict[str, Any]
) -> tuple[int, list[int]]:
    """Return the number of candidates among a few posts, and their ids in order."""
    candidates, ranks = _small_set_statements(shape, kind)
    rows = candidates.all(connection, values)
    if shape.newest_first or not rows:
        rows.sort(key=lambda row: (row.created_at, row.id), reverse=True)
        return len(rows), [row.id for row in rows]
    ids = [row.id for row in rows]
    # Up to CANDIDATES ids, as many bound values: SQLAlchemy's expanding IN, not Prepared.
    found = connection.execute(
        ranks, {"match": values["match"], "lowest": min(ids), "highest": max(ids), "ids": ids}
    )
    rank_of = dict(found.all())
    return len(ids), sorted(ids, key=lambda post_id: (rank_of.get(post_id, 0.0), -post_id))


def _search_sqlite(
    connection: Connection,
    query: ParsedQuery,
    shape: _Shape,
    filters: SearchFilters,
    page: int,
    per_page: int,
) -> tuple[int, list[SearchHit]]:
    values = {**_filter_values(filters), **_page_values(page, per_page), "match": to_fts5(query)}
    small = _small_set(connection, filters, values) if shape.author or shape.board else None
    if small is None:
        found = _page_of_candidates(connection, _sqlite_candidates_page(shape), values, page)
        total, ids = found.total or 0, found.ids
    else:
        total, ids = _page_of_small_set(connection, shape, small, values)
        ids = ids[(page - 1) * per_page : page * per_page]
    if not ids:
        return total, []
    rows = _sqlite_hits(shape, per_page).all(
        connection,
        {**values, **_page_id_values(ids, per_page), "lowest": min(ids), "highest": max(ids)},
    )
    by_id = {row.id: row for row in rows}
    hits = []
    for post_id in ids:
        row = by_id.get(post_id)
        if row is None:  # removed between the two queries
            continue
        # Only a first post carries the title in the index; replies show it unmarked.
        title = highlight(row.title_marked) if row.title_marked else escape(row.title)
        hits.append(_hit(row, Markup(title), highlight(row.body_marked)))  # noqa: S704
    return total, hits


# A literal, not a parameter: a parameter cast to regconfig is evaluated row by row, and the
# tsquery built from it with it, which made searches several times slower.
_CONFIG = sa.literal_column(f"'{TEXT_SEARCH_CONFIG}'::regconfig", postgresql.REGCONFIG)


def _terms(query: ParsedQuery) -> tuple[tuple[bool, ...], tuple[bool, ...]]:
    """Return which of the query's required and excluded terms are phrases: the tsquery's
    form, its words bound (_term_values)."""
    return (
        tuple(len(term) > 1 for term in query.required),
        tuple(len(term) > 1 for term in query.excluded),
    )


def _term_values(query: ParsedQuery) -> dict[str, str]:
    values = {f"required_{n}": " ".join(term) for n, term in enumerate(query.required)}
    values.update({f"excluded_{n}": " ".join(term) for n, term in enumerate(query.excluded)})
    return values


def _tsquery(terms: tuple[tuple[bool, ...], tuple[bool, ...]]) -> Any:
    def term(name: str, phrase: bool) -> Any:
        function = sa.func.phraseto_tsquery if phrase else sa.func.plainto_tsquery
        return function(_CONFIG, sa.bindparam(name, type_=sa.String))

    required, excluded = terms
    expression = term("required_0", required[0])
    for n, phrase in enumerate(required[1:], start=1):
        expression = expression.op("&&")(term(f"required_{n}", phrase))
    for n, phrase in enumerate(excluded):
        expression = expression.op("&&")(sa.func.tsquery_not(term(f"excluded_{n}", phrase)))
    return expression


# The plain text the write path indexed (migration 0008; 0009 filled it for older posts).
# Where it is NULL (a post written around the write path) the text is derived from Markdown.
_SEARCH_TEXT = sa.literal_column("posts.search_text", sa.Text).label("search_text")
_VECTOR = sa.literal_column("posts.search_vector")

_HEADLINE_OPTIONS = (
    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords={SNIPPET_WORDS}, MinWords=12, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)
_TITLE_OPTIONS = f"StartSel={MARK_START}, StopSel={MARK_END}, HighlightAll=true"


# Posts read newest first (from the primary key) before the matches are looked for further.
WINDOW = 5000
# Below the window, a second window is read when the first one's share of matches says it
# holds the rest twice over and it is at most this many windows long; else the GIN index.
FURTHER_WINDOWS = 4


@dataclass(frozen=True)
class _PostgresqlStatements:
    """A search's statements on PostgreSQL for one shape and form of tsquery.

    ``window``: the candidates among the newest WINDOW posts, read newest first from the
    primary key; ``below``: those from the oldest candidate on, found in a second window
    below the first (_nearby_oldest_candidate); ``everywhere``: every match, from the GIN
    index; ``hits``: the page's posts with their headlines.
    """

    window: _PageStatements
    below: _PageStatements
    everywhere: _PageStatements
    hits: Prepared


# Bounded: the forms of tsquery (up to MAX_TERMS words and phrases) are many.
@functools.lru_cache(maxsize=256)
def _postgresql_statements(
    shape: _Shape, terms: tuple[tuple[bool, ...], tuple[bool, ...]], per_page: int
) -> _PostgresqlStatements:
    tsquery = _tsquery(terms)

    def matching(*columns: Any) -> sa.Select:
        return shape.candidates_from(sa.select(*columns).select_from(Post)).where(
            _VECTOR.op("@@")(tsquery)
        )

    def candidates(window: Any = None, oldest: Any = None) -> sa.Subquery:
        """The newest CANDIDATES matches within ``window`` (a condition on ids: read from
        the primary key) or from the id ``oldest`` on (from the GIN index; an expression,
        every match when it is NULL)."""
        # The vector only to rank by it: newest first sorts narrower rows without it.
        vectors = [] if shape.newest_first else [_VECTOR.label("vector")]
        statement = matching(Post.id.label("id"), Post.created_at.label("created_at"), *vectors)
        if window is not None:
            statement = statement.where(window).order_by(Post.id.desc())
        else:
            # "+ 0": not the primary key's order, so the planner takes the GIN index.
            if oldest is not None:
                statement = statement.where(Post.id >= sa.func.coalesce(oldest, 0))
            statement = statement.order_by((Post.id + 0).desc())
        return statement.limit(_CANDIDATES).subquery("candidates")

    def rank_of(found: sa.Subquery) -> Any:
        return sa.func.ts_rank_cd(found.c.vector, tsquery)

    def ranked(found: sa.Subquery) -> _PageStatements:
        # Planned with its words each time: reused, the generic plan made without them
        # read some words' matches the slow way (up to 12 ms, 8 planned each time). The
        # window's and the hits' generic plans read the primary key whatever the words.
        rank = None if shape.newest_first else rank_of(found).desc()
        return _page_statements(found, rank, shape.newest_first, planned_each_time=True)

    # The window: the ids of the newest WINDOW posts and more (ids that were never used or
    # whose post was deleted are in it too); NULL when every post is in it. From the first
    # and last ids (two index lookups), not the id WINDOW posts back (a scan of WINDOW index
    # entries, twice). The last id bounds it too, though every post is at most that:
    # bounded on both sides the planner expects a window of a few rows and reads it from
    # the primary key (one side, it expected a third of the posts and could read every
    # match of a common word from the table instead). (Left to choose, the planner reads
    # the primary key for phrases and filters it takes for common, and then reads the whole
    # table: 200 ms on 100,000 posts.)
    window_size = sa.bindparam("window", type_=sa.Integer)
    newest = sa.func.max(Post.id)
    window_start = sa.select(
        sa.case((sa.func.min(Post.id) <= newest - window_size, newest - window_size))
    ).scalar_subquery()
    in_window = sa.and_(
        Post.id > sa.func.coalesce(window_start, 0),
        Post.id <= sa.select(newest).scalar_subquery(),
    )
    found = candidates(window=in_window)
    window_rank = None
    if not shape.newest_first:
        # Ranked only when the page is read: when the window holds every candidate (or
        # every post). With fewer, the rest are further down and another statement ranks
        # them all; ranking these too cost a millisecond for nothing.
        complete = sa.or_(sa.func.count().over() >= _CANDIDATES, window_start.is_(None))
        window_rank = sa.case((complete, rank_of(found))).desc()
    window = _page_statements(found, window_rank, shape.newest_first, window_start)

    # The oldest candidate below the window, in a second window just below it, as a scalar
    # subquery (NULL when the candidates are not all in it). Not correlated: the
    # candidates' query reads the same tables.
    below = sa.and_(
        Post.id <= sa.bindparam("window_start", type_=sa.Integer),
        Post.id > sa.bindparam("below_end", type_=sa.Integer),
    )
    oldest = (
        matching(Post.id)
        .where(below)
        .order_by(Post.id.desc())
        .offset(sa.bindparam("below_needed", type_=sa.Integer))
        .limit(1)
        .scalar_subquery()
        .correlate(None)
    )

    # Headlines for the page's posts only, from the plain text stored with the index.
    title = sa.func.replace(sa.func.replace(Thread.title, MARK_START, " "), MARK_END, " ")
    hits = _joined(
        sa.select(
            *_COLUMNS,
            _SEARCH_TEXT,
            sa.func.ts_headline(_CONFIG, title, tsquery, _TITLE_OPTIONS).label("title_headline"),
            sa.func.ts_headline(
                _CONFIG, sa.literal_column("posts.search_text"), tsquery, _HEADLINE_OPTIONS
            ).label("body_headline"),
        )
    ).where(Post.id.in_(_page_id_params(per_page)), *shape.where())
    return _PostgresqlStatements(
        window=window,
        below=ranked(candidates(oldest=oldest)),
        everywhere=ranked(candidates()),
        hits=Prepared(hits),
    )


def _search_postgresql(
    connection: Connection,
    query: ParsedQuery,
    shape: _Shape,
    filters: SearchFilters,
    page: int,
    per_page: int,
) -> tuple[int, list[SearchHit]]:
    terms = _terms(query)
    statements = _postgresql_statements(shape, terms, per_page)
    values = {**_filter_values(filters), **_page_values(page, per_page), **_term_values(query)}
    values["window"] = WINDOW

    # The newest matches are the candidates; only they are counted and ranked, so
    # ts_rank_cd never reads more than CANDIDATES vectors. First among the newest WINDOW
    # posts, read newest first from the primary key: a word in a fifth of the posts or more
    # has its 1,001 newest matches there.
    found = _page_of_candidates(connection, statements.window, values, page, windowed=True)
    if found.total is None:
        # The page is past the window's matches: how many there were is not known.
        found = _page_of_candidates(connection, statements.everywhere, values, page)
    elif found.window_start is not None and found.total < CANDIDATES:
        # Fewer in the window: the rest are older. When the window's share of matches says
        # they are near, the oldest candidate is looked for in a second window and the
        # candidates are read from there (a word in a fifth of the posts whose window held
        # 999 matches reads a few dozen posts more, not its thousands of older matches);
        # else from the GIN index: every match read, without ranking, then sorted by id.
        below = _nearby_window(found.window_start, found.total)
        if below is None:
            found = _page_of_candidates(connection, statements.everywhere, values, page)
        else:
            below_values = {**values, **below}
            found = _page_of_candidates(connection, statements.below, below_values, page)
    total, ids = found.total or 0, found.ids
    if not ids:
        return total, []
    rows = statements.hits.all(connection, {**values, **_page_id_values(ids, per_page)})
    by_id = {row.id: row for row in rows}
    rows = [by_id[post_id] for post_id in ids if post_id in by_id]
    # Migration 0009 stored the text of posts written before 0008; a post written some other
    # way without it (raw SQL) still gets a headline, derived here.
    legacy = _legacy_headlines(
        connection, terms, values, [row for row in rows if row.search_text is None]
    )
    hits = []
    for row in rows:
        body = legacy.get(row.id, row.body_headline)
        hits.append(_hit(row, highlight(row.title_headline), highlight(body)))
    return total, hits


def _nearby_window(window_start: int, found: int) -> dict[str, int] | None:
    """Return the bound values of the second window, below a window that held ``found``
    matches: its ids (from ``window_start`` down to ``below_end``, excluded) and how many
    candidates it must hold; None when the rest are too far for one (that window would be
    longer than FURTHER_WINDOWS windows) or the first window held none.

    The second window is twice as long as the first one's share of matches says the rest
    need.
    """
    if not found:
        return None
    needed = CANDIDATES - found
    ids = ceil(2 * needed * WINDOW / found) + WINDOW // 50
    if ids > FURTHER_WINDOWS * WINDOW:
        return None
    return {
        "window_start": window_start,
        "below_end": window_start - ids,
        "below_needed": needed - 1,
    }


def _legacy_headlines(
    connection: Connection,
    terms: tuple[tuple[bool, ...], tuple[bool, ...]],
    values: dict[str, Any],
    rows: list[Any],
) -> dict[int, str]:
    if not rows:
        return {}
    texts = (
        sa.func.unnest(
            sa.bindparam("ids", [row.id for row in rows], type_=postgresql.ARRAY(sa.Integer)),
            sa.bindparam(
                "bodies",
                [clean_text(plain_text(row.body_source)) for row in rows],
                type_=postgresql.ARRAY(sa.Text),
            ),
        )
        .table_valued("id", "body")
        .render_derived()
    )
    headline = sa.func.ts_headline(_CONFIG, texts.c.body, _tsquery(terms), _HEADLINE_OPTIONS)
    return dict(connection.execute(sa.select(texts.c.id, headline), values).all())


def _cache_key(
    session: Session,
    viewer: User | None,
    query: ParsedQuery,
    filters: SearchFilters,
    page: int,
    per_page: int,
) -> str | None:
    """Return where these results are cached, or None when they must not be."""
    connection = session.connection()
    if not cache.enabled() or generation.has_uncommitted_changes(connection):
        return None
    current = generation.current(connection)
    if current is None:
        return None
    author = username_key(filters.author.strip().lstrip("@")) if filters.author else None
    return cache.key(
        current,
        viewer is not None and viewer.is_moderator,
        query,
        (filters.board_slug or None, author, filters.solved_only),
        (filters.since, filters.until, filters.newest_first),
        page,
        per_page,
    )


def search(
    session: Session,
    viewer: User | None,
    text: str,
    filters: SearchFilters,
    page: int = 1,
    per_page: int = 20,
) -> SearchResults:
    """Return one page of posts matching ``text``, best first (or newest first).

    Best first ranks the newest CANDIDATES matches (every page comes from them). Results are
    cached until searchable content changes (forum.search.cache).
    Raises QueryError, with a message for a person, when the text cannot be searched for.
    """
    query = parse(text)
    cache_key = _cache_key(session, viewer, query, filters, page, per_page)
    if cache_key is not None:
        cached = cache.get(cache_key)
        if cached is not None:
            return cached
    shape = _Shape.of(viewer, filters)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        total, hits = _search_postgresql(connection, query, shape, filters, page, per_page)
    else:
        total, hits = _search_sqlite(connection, query, shape, filters, page, per_page)
    results = SearchResults(hits, page, per_page, total, query.words)
    if cache_key is not None:
        cache.put(cache_key, results)
    return results
