"""Searching posts: ranked matches with highlighted snippets, filtered to what the viewer may see.

SQLite answers with its FTS5 table and bm25 ranking; PostgreSQL with the tsvector column,
its GIN index and ts_rank_cd. Members never see removed posts, removed threads or boards for
moderators only; moderators see everything, removed content marked as such.
A page of results costs two queries on SQLite and three on PostgreSQL, whatever the number
of matches (counting stops at MAX_COUNTED).
"""

from __future__ import annotations

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


def _visibility(viewer: User | None) -> list[Any]:
    if viewer is not None and viewer.is_moderator:
        return []
    return [
        Post.removed_at.is_(None),
        Thread.removed_at.is_(None),
        Board.moderators_only.is_(False),
    ]


def _filters(filters: SearchFilters) -> list[Any]:
    clauses: list[Any] = []
    if filters.board_slug:
        clauses.append(Board.slug == filters.board_slug)
    if filters.author:
        # The author's id, not a join: candidates are read without the users table.
        key = username_key(filters.author.strip().lstrip("@"))
        author = sa.select(User.id).where(User.username_key == key).scalar_subquery()
        clauses.append(Post.author_id == author)
    if filters.solved_only:
        clauses.append(Thread.solution_post_id.is_not(None))
    if filters.since:
        clauses.append(Post.created_at >= datetime.combine(filters.since, time.min, UTC))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min, UTC)
        clauses.append(Post.created_at < end)
    return clauses


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


# An author or board with at most this many posts is searched from its posts (each looked up
# in the index) rather than from the matches (each checked against the filter).
SMALL_SET = 200
LOOKUP_COST = 200


def _small_set(
    connection: Connection, filters: SearchFilters, matches: sa.Select
) -> sa.Select | None:
    """Return the ids of the posts of the filtered author or board when they are few.

    FTS5 reads matches newest first and the filters are checked on each, so a filter that
    few matches pass (an author's dozens of posts among tens of thousands of matches) would
    read them all; looking each of those few posts up in the index instead costs tens of
    microseconds a post, up to a millisecond for a word with a long match list, so only
    when the matches outnumber the posts LOOKUP_COST to one. Counting stops early on both.
    """
    sets = []
    if filters.author:
        key = username_key(filters.author.strip().lstrip("@"))
        author = sa.select(User.id).where(User.username_key == key).scalar_subquery()
        sets.append(sa.select(Post.id).where(Post.author_id == author))
    if filters.board_slug:
        sets.append(
            sa.select(Post.id)
            .join(Thread, Thread.id == Post.thread_id)
            .join(Board, Board.id == Thread.board_id)
            .where(Board.slug == filters.board_slug)
        )
    for posts in sets:
        counted = sa.select(sa.func.count()).select_from(posts.limit(SMALL_SET + 1).subquery())
        few = connection.scalar(counted) or 0
        if few > SMALL_SET:
            continue
        enough = max(1, few) * LOOKUP_COST
        counted = sa.select(sa.func.count()).select_from(matches.limit(enough).subquery())
        if (connection.scalar(counted) or 0) >= enough:
            return posts
    return None


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


def _count(connection: Connection, matches: sa.Select) -> int:
    capped = matches.with_only_columns(Post.id).order_by(None).limit(MAX_COUNTED + 1)
    return connection.scalar(sa.select(sa.func.count()).select_from(capped.subquery())) or 0


@dataclass(frozen=True)
class _Page:
    total: int | None  # None: not known (PostgreSQL's window: the page is past its matches)
    ids: list[int]
    window_start: int | None = None  # the newest post id outside the window; None: no posts


def _page_of_candidates(
    connection: Connection,
    candidates: sa.Subquery,
    rank: Any,
    filters: SearchFilters,
    page: int,
    per_page: int,
    window_start: Any = None,
) -> _Page:
    """Return the number of candidates and the ids of the page's posts among them.

    One query: the window count is taken over every candidate, before the page's LIMIT.
    ``window_start`` (PostgreSQL's window) is a scalar expression selected alongside, and
    returned: where the window ends, so that the search can go on below it. With it, a page
    past the candidates has an unknown total (nothing says whether the window was full).
    """
    order = (
        (candidates.c.created_at.desc(), candidates.c.id.desc())
        if filters.newest_first
        else (rank, candidates.c.id.desc())
    )
    columns = [candidates.c.id, sa.func.count().over().label("total")]
    if window_start is not None:
        columns.append(window_start.label("window_start"))
    rows = connection.execute(
        sa.select(*columns).order_by(*order).limit(per_page).offset((page - 1) * per_page)
    ).all()
    if rows:
        start = rows[0].window_start if window_start is not None else None
        return _Page(rows[0].total, [row.id for row in rows], start)
    if window_start is not None:
        return _Page(None, [])
    if page == 1:
        return _Page(0, [])
    # Past the last page: the count alone, for the page to say how many there are.
    return _Page(connection.scalar(sa.select(sa.func.count()).select_from(candidates)) or 0, [])


def _page_of_small_set(
    connection: Connection,
    fts: Any,
    match: Any,
    matching: Any,
    small: sa.Select,
    filters: SearchFilters,
) -> tuple[int, list[int]]:
    """Return the number of candidates among a few posts, and their ids in order.

    Each post is looked up in the index (by rowid, in ascending order: FTS5 reads a whole
    match list into memory to go through it backwards). bm25 is asked for afterwards, in one
    pass over the candidates' rowid range without ORDER BY: asked per lookup, or with ORDER
    BY rank, FTS5 computes it for every match.
    """
    rows = connection.execute(
        matching(Post.id, Post.created_at, authors=False)
        .where(fts.c.rowid.in_(small))
        .order_by(Post.id.desc())
        .limit(CANDIDATES)
    ).all()
    if filters.newest_first or not rows:
        rows.sort(key=lambda row: (row.created_at, row.id), reverse=True)
        return len(rows), [row.id for row in rows]
    ids = [row.id for row in rows]
    ranks = dict(
        connection.execute(
            sa.select(fts.c.rowid, fts.c.rank)
            .select_from(fts)
            .where(match, fts.c.rowid.between(min(ids), max(ids)), (fts.c.rowid + 0).in_(ids))
        ).all()
    )
    return len(ids), sorted(ids, key=lambda post_id: (ranks.get(post_id, 0.0), -post_id))


def _search_sqlite(
    connection: Connection,
    query: ParsedQuery,
    where: list[Any],
    filters: SearchFilters,
    page: int,
    per_page: int,
) -> tuple[int, list[SearchHit]]:
    fts = sa.table("post_search", sa.column("rowid", sa.Integer), sa.column("rank"))
    table = sa.literal_column("post_search")
    match = table.op("MATCH")(to_fts5(query))

    def matching(*columns: Any, authors: bool = True) -> sa.Select:
        return _joined(
            sa.select(*columns).select_from(fts).join(Post, Post.id == fts.c.rowid),
            authors=authors,
        ).where(match, *where)

    # The newest matches are the candidates: FTS5 reads its matches in rowid (post id) order
    # and stops after CANDIDATES visible ones, so neither bm25 nor the count ever looks at
    # more than that however common the words are.
    small = _small_set(connection, filters, sa.select(fts.c.rowid).select_from(fts).where(match))
    if small is None:
        # bm25 only to order by it: asked for, FTS5 computes it for every candidate (a third
        # of the query's time), and newest first never reads it.
        ranks = [] if filters.newest_first else [fts.c.rank]
        candidates = (
            matching(
                Post.id.label("id"), Post.created_at.label("created_at"), *ranks, authors=False
            )
            .order_by(fts.c.rowid.desc())
            .limit(CANDIDATES)
            .subquery("candidates")
        )
        rank = None if filters.newest_first else candidates.c.rank
        found = _page_of_candidates(connection, candidates, rank, filters, page, per_page)
        total, ids = found.total or 0, found.ids
    else:
        total, ids = _page_of_small_set(connection, fts, match, matching, small, filters)
        ids = ids[(page - 1) * per_page : page * per_page]
    if not ids:
        return total, []
    # Highlights and snippets for the page's posts only. FTS5 makes them while it matches,
    # so the match is read again, but only between the page's lowest and highest post ids
    # (FTS5 seeks to a rowid range; looking each post up by rowid re-reads the match list
    # once per post).
    rows = connection.execute(
        matching(
            *_COLUMNS,
            sa.func.highlight(table, 0, MARK_START, MARK_END).label("title_marked"),
            sa.func.snippet(table, 1, MARK_START, MARK_END, "…", SNIPPET_WORDS).label(
                "body_marked"
            ),
        ).where(fts.c.rowid.between(min(ids), max(ids)), Post.id.in_(ids))
    ).all()
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


def _tsquery(query: ParsedQuery) -> Any:
    def term(words: tuple[str, ...]) -> Any:
        function = sa.func.plainto_tsquery if len(words) == 1 else sa.func.phraseto_tsquery
        return function(_CONFIG, " ".join(words))

    expression = term(query.required[0])
    for words in query.required[1:]:
        expression = expression.op("&&")(term(words))
    for words in query.excluded:
        expression = expression.op("&&")(sa.func.tsquery_not(term(words)))
    return expression


# The plain text the write path indexed (migration 0008; 0009 filled it for older posts).
# Where it is NULL (a post written around the write path) the text is derived from Markdown.
_SEARCH_TEXT = sa.literal_column("posts.search_text", sa.Text).label("search_text")

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


def _search_postgresql(
    connection: Connection,
    query: ParsedQuery,
    where: list[Any],
    filters: SearchFilters,
    page: int,
    per_page: int,
) -> tuple[int, list[SearchHit]]:
    vector = sa.literal_column("posts.search_vector")
    tsquery = _tsquery(query)

    def matching(*columns: Any) -> sa.Select:
        return _joined(sa.select(*columns).select_from(Post), authors=False).where(
            vector.op("@@")(tsquery), *where
        )

    def candidates(newer_than: Any = None, oldest: Any = None) -> sa.Subquery:
        """The newest CANDIDATES matches with ids above ``newer_than`` (a window, read from
        the primary key) or from the id ``oldest`` on (from the GIN index; an expression,
        every match when it is NULL)."""
        # The vector only to rank by it: newest first sorts narrower rows without it.
        vectors = [] if filters.newest_first else [vector.label("vector")]
        statement = matching(Post.id.label("id"), Post.created_at.label("created_at"), *vectors)
        if newer_than is not None:
            statement = statement.where(Post.id > newer_than).order_by(Post.id.desc())
        else:
            # "+ 0": not the primary key's order, so the planner takes the GIN index.
            if oldest is not None:
                statement = statement.where(Post.id >= sa.func.coalesce(oldest, 0))
            statement = statement.order_by((Post.id + 0).desc())
        return statement.limit(CANDIDATES).subquery("candidates")

    def ranked_page(found: sa.Subquery, window_start: Any = None) -> _Page:
        rank = None if filters.newest_first else sa.func.ts_rank_cd(found.c.vector, tsquery).desc()
        return _page_of_candidates(connection, found, rank, filters, page, per_page, window_start)

    # The newest matches are the candidates; only they are counted and ranked, so
    # ts_rank_cd never reads more than CANDIDATES vectors. First among the newest WINDOW
    # posts, read newest first from the primary key: a word in a fifth of the posts or more
    # has its 1,001 newest matches there. (Left to choose, the planner reads the primary key
    # for phrases and filters it takes for common, and then reads the whole table: 200 ms on
    # 100,000 posts.)
    newest_outside = sa.select(Post.id).order_by(Post.id.desc()).offset(WINDOW).limit(1)
    window_start = newest_outside.scalar_subquery()
    found = ranked_page(candidates(sa.func.coalesce(window_start, 0)), window_start)
    if found.total is None:
        # The page is past the window's matches: how many there were is not known.
        found = ranked_page(candidates())
    elif found.window_start is not None and found.total < CANDIDATES:
        # Fewer in the window: the rest are older. When the window's share of matches says
        # they are near, the oldest candidate is looked for in a second window and the
        # candidates are read from there (a word in a fifth of the posts whose window held
        # 999 matches reads a few dozen posts more, not its thousands of older matches);
        # else from the GIN index: every match read, without ranking, then sorted by id.
        oldest = _nearby_oldest_candidate(matching, found.window_start, found.total)
        found = ranked_page(candidates(oldest=oldest))
    total, ids = found.total or 0, found.ids
    if not ids:
        return total, []
    config = _CONFIG
    # Headlines for the page's posts only, from the plain text stored with the index.
    title = sa.func.replace(sa.func.replace(Thread.title, MARK_START, " "), MARK_END, " ")
    by_id = {
        row.id: row
        for row in connection.execute(
            _joined(
                sa.select(
                    *_COLUMNS,
                    _SEARCH_TEXT,
                    sa.func.ts_headline(config, title, tsquery, _TITLE_OPTIONS).label(
                        "title_headline"
                    ),
                    sa.func.ts_headline(
                        config, sa.literal_column("posts.search_text"), tsquery, _HEADLINE_OPTIONS
                    ).label("body_headline"),
                )
            ).where(Post.id.in_(ids), *where)
        )
    }
    rows = [by_id[post_id] for post_id in ids if post_id in by_id]
    # Migration 0009 stored the text of posts written before 0008; a post written some other
    # way without it (raw SQL) still gets a headline, derived here.
    legacy = _legacy_headlines(
        connection, tsquery, [row for row in rows if row.search_text is None]
    )
    hits = []
    for row in rows:
        body = legacy.get(row.id, row.body_headline)
        hits.append(_hit(row, highlight(row.title_headline), highlight(body)))
    return total, hits


def _nearby_oldest_candidate(matching: Any, window_start: int, found: int) -> Any:
    """Return the id of the oldest candidate, below a window that held ``found`` matches,
    looked for in a second window just below it, as a scalar subquery (NULL when the
    candidates are not all in it); None when the rest are too far for one (that window would
    be longer than FURTHER_WINDOWS windows).

    The second window is twice as long as the first one's share of matches says the rest
    need.
    """
    if not found:
        return None
    needed = CANDIDATES - found
    posts = ceil(2 * needed * WINDOW / found) + WINDOW // 50
    if posts > FURTHER_WINDOWS * WINDOW:
        return None
    below = Post.id <= window_start
    end = sa.select(Post.id).where(below).order_by(Post.id.desc()).offset(posts).limit(1)
    oldest = (
        matching(Post.id)
        .where(below, Post.id > sa.func.coalesce(end.scalar_subquery(), 0))
        .order_by(Post.id.desc())
        .offset(needed - 1)
        .limit(1)
    )
    # Not correlated: the candidates' query reads the same tables.
    return oldest.scalar_subquery().correlate(None)


def _legacy_headlines(connection: Connection, tsquery: Any, rows: list[Any]) -> dict[int, str]:
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
    return dict(
        connection.execute(
            sa.select(
                texts.c.id, sa.func.ts_headline(_CONFIG, texts.c.body, tsquery, _HEADLINE_OPTIONS)
            )
        ).all()
    )


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
    where = [*_visibility(viewer), *_filters(filters)]
    # The session's connection: the session's execute adds the ORM's handling of each
    # statement, for no entity here.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        total, hits = _search_postgresql(connection, query, where, filters, page, per_page)
    else:
        total, hits = _search_sqlite(connection, query, where, filters, page, per_page)
    results = SearchResults(hits, page, per_page, total, query.words)
    if cache_key is not None:
        cache.put(cache_key, results)
    return results
