"""Reading the forum: the queries behind the board list, board pages and thread pages.

Each page is a fixed number of queries, whatever the number of threads or posts shown.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from math import ceil
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from forum.accounts.models import User, badges_of
from forum.accounts.service import username_key
from forum.accounts.sessions import (
    MEMBER_COLUMNS,
    Claim,
    member_of_row,
    selecting_live_member,
)
from forum.boards.models import Board, Kudos, Post, PostFacts, PostRevision, Thread
from forum.database import HeadAndRows, Prepared
from forum.permissions import NotFound, can_see_board, can_see_thread

T = TypeVar("T")

# The member's columns, first in a row of _thread_statement and _board_statement for a claim.
_MEMBER_WIDTH = len(MEMBER_COLUMNS)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_of(number: int, per_page: int) -> int:
    """Return the 1-based page on which item ``number`` (1-based) appears."""
    return (max(number, 1) - 1) // per_page + 1


def visible_boards(session: Session, viewer: User | None) -> list[Board]:
    """Return the boards the viewer may see, in display order, with their last thread."""
    query = (
        sa.select(Board)
        .options(joinedload(Board.last_thread).joinedload(Thread.last_post_author))
        .order_by(Board.position, Board.name)
    )
    if viewer is None or not viewer.is_moderator:
        query = query.where(Board.moderators_only.is_(False))
    return list(session.scalars(query))


@functools.cache
def _board_list_statement(moderator: bool) -> sa.Select:
    """The board list as plain rows, with each board's latest thread and its last poster.

    Built once per kind of viewer: building it cost more than running it."""
    boards = Board.__table__
    threads = Thread.__table__
    poster = User.__table__.alias("poster")
    statement = (
        sa.select(
            boards.c.id,
            boards.c.slug,
            boards.c.name,
            boards.c.description,
            boards.c.moderators_only,
            boards.c.thread_count,
            boards.c.post_count,
            boards.c.last_post_at,
            threads.c.id.label("last_thread_id"),
            threads.c.title.label("last_thread_title"),
            poster.c.username.label("last_post_author_name"),
        )
        .select_from(
            boards.outerjoin(threads, threads.c.id == boards.c.last_thread_id).outerjoin(
                poster, poster.c.id == threads.c.last_post_author_id
            )
        )
        .order_by(boards.c.position, boards.c.name)
    )
    if not moderator:
        statement = statement.where(boards.c.moderators_only.is_(False))
    return statement


def board_list(session: Session, viewer: User | None) -> list[Any]:
    """Return the boards the viewer may see, in display order, as rows: the board's columns,
    ``last_thread_id``, ``last_thread_title`` and ``last_post_author_name``."""
    moderator = viewer is not None and viewer.is_moderator
    return list(session.execute(_board_list_statement(moderator)))


def get_board(session: Session, viewer: User | None, slug: str) -> Board:
    """Return the board with this slug; raise NotFound if missing or hidden from the viewer."""
    board = session.scalar(sa.select(Board).where(Board.slug == slug))
    if board is None or not can_see_board(viewer, board):
        raise NotFound(slug)
    return board


@dataclass(frozen=True, slots=True)
class PageBoard:
    """A board as its own page shows it, read as a plain row (no ORM entity)."""

    id: int
    slug: str
    name: str
    description: str
    moderators_only: bool
    thread_count: int


# The board's columns in a row of _board_statement, in PageBoard's order.
_BOARD_COLUMNS = 6


@functools.cache
def _board_statement(member: bool, moderator: bool | None = False) -> sa.Select:
    """The board by slug as plain columns (PageBoard's) and, for a member (bound
    ``viewer_id``), whether they watch it and the bell's count. ``moderator=None``: the
    member is the one a session claims (bound ``token_hash``), loaded by this query too (see
    ``_thread_statement``): their columns come first in the row.

    Columns, not the Board entity: loading an entity through the ORM cost a guest's board
    page more than the query did."""
    boards = Board.__table__
    columns: list[Any] = [
        boards.c.id,
        boards.c.slug,
        boards.c.name,
        boards.c.description,
        boards.c.moderators_only,
        boards.c.thread_count,
    ]
    where = boards.c.slug == sa.bindparam("slug")
    if not member:
        return sa.select(*columns).where(where)
    from forum.watching import BoardWatch

    board_watches = BoardWatch.__table__
    columns += [
        sa.exists().where(
            board_watches.c.board_id == boards.c.id,
            board_watches.c.user_id == sa.bindparam("viewer_id"),
        ),
        _bell(moderator),
    ]
    if moderator is not None:
        return sa.select(*columns).where(where)
    return selecting_live_member(columns, boards).where(where)


@functools.cache
def _board_prepared(member: bool, moderator: bool | None = False) -> Prepared:
    # Run straight on the driver's cursor: SQLAlchemy's execution and result set-up cost
    # more than the statement (forum.database.Prepared).
    return Prepared(_board_statement(member, moderator))


def board_for_viewer(
    session: Session, viewer: User | None, slug: str
) -> tuple[PageBoard, bool, int | None]:
    """Return the board with this slug, whether the viewer watches it and their unread
    notification count (None for a guest), in one query; raise NotFound if missing or
    hidden from the viewer."""
    connection = session.connection()
    if viewer is None:
        row = _board_prepared(False).first(connection, {"slug": slug})
    else:
        statement = _board_prepared(True, viewer.is_moderator)
        row = statement.first(connection, {"slug": slug, "viewer_id": viewer.id})
    if row is None:
        raise NotFound(slug)
    return _board_shown(viewer, tuple(row), slug)


def _board_shown(
    viewer: User | None, row: tuple[Any, ...], slug: str
) -> tuple[PageBoard, bool, int | None]:
    """Return what ``board_for_viewer`` returns from a row of ``_board_statement``; raise
    NotFound if the viewer may not see the board."""
    board = PageBoard(*row[:_BOARD_COLUMNS])
    if not can_see_board(viewer, board):  # type: ignore[arg-type]
        raise NotFound(slug)
    if viewer is None:
        return board, False, None
    watching, bell = row[_BOARD_COLUMNS:]
    return board, bool(watching), bell or 0


def board_for_claim(
    session: Session,
    claim: Claim,
    slug: str,
    accept: Callable[[Claim, User | None], User | None],
) -> tuple[User | None, tuple[PageBoard, bool, int | None]]:
    """Return the viewer and what ``board_for_viewer`` returns for them, loading the member
    of the session ``claim`` names with the board, in one query (as ``thread_for_claim``
    does); raise NotFound if the board is missing or hidden."""
    row = _board_prepared(True, None).first(session.connection(), {"slug": slug, **claim.params})
    if row is None:
        raise NotFound(slug)
    member = member_of_row(session, row[:_MEMBER_WIDTH])
    viewer = accept(claim, member)
    if viewer is not None and viewer is not member:
        return viewer, board_for_viewer(session, viewer, slug)
    return viewer, _board_shown(viewer, row[_MEMBER_WIDTH:], slug)


@functools.cache
def _board_threads_statement(
    moderator: bool,
    member: bool,
    from_end: bool,
    postgresql: bool = False,
    by_slug: bool = False,
) -> sa.Select:
    """One page of a board's threads as plain rows, with their authors' and last posters'
    names and, for a member (bound ``viewer_id``), their read marks. Built once per kind of
    viewer, direction and database; the board, limit and offset are bound. ``from_end``: the
    offset counts from the board's oldest thread (the page's ids are found walking the index
    from that end); the rows still come newest first.

    On PostgreSQL the page's ids are an array (``id = ANY(ARRAY(...))``) and the names and
    read mark scalar subqueries, not ``IN (...)`` and joins: psycopg prepares a statement on
    the server after a few uses, and PostgreSQL then plans it once (a generic plan) only if
    that plan costs no more than planning each time would. With a bound LIMIT under ``IN``
    and two joins to users its generic plan read every thread, so the statement was planned
    anew on every request: 0.2 ms of planning for 0.1 ms of execution, on the cores the
    workers share. In this form the generic plan is the same index walk and is kept (the
    statement cost the server 0.10 ms instead of 0.42 ms, 0.24 ms round trip instead of
    1.08 ms). SQLite keeps the joins (as quick there, and it has no arrays).

    ``by_slug``: the board is the one of the bound ``slug`` (for ``_board_page_statement``,
    which reads it in the same statement), and its threads are read only when the page is
    in the board's newer half (``offset`` at most half its ``thread_count``), the half this
    walk (not ``from_end``) is for: otherwise none, and ``board_page`` reads them again."""
    threads = Thread.__table__
    board_id: Any = sa.bindparam("board_id")
    if by_slug:
        boards = Board.__table__
        board_id = (
            sa.select(boards.c.id)
            .where(
                boards.c.slug == sa.bindparam("slug"),
                boards.c.thread_count >= sa.bindparam("offset", type_=sa.Integer) * 2,
            )
            .scalar_subquery()
        )
    where = threads.c.board_id == board_id
    if not moderator:
        where = sa.and_(where, threads.c.removed_at.is_(None))
    order = (threads.c.pinned.desc(), threads.c.last_post_at.desc(), threads.c.id.desc())
    walk = (
        (threads.c.pinned.asc(), threads.c.last_post_at.asc(), threads.c.id.asc())
        if from_end
        else order
    )
    ids = (
        sa.select(threads.c.id)
        .where(where)
        .order_by(*walk)
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .offset(sa.bindparam("offset", type_=sa.Integer))
        .scalar_subquery()
    )
    columns = [
        threads.c.id,
        threads.c.title,
        threads.c.author_id,
        threads.c.pinned,
        threads.c.locked,
        threads.c.removed_at,
        threads.c.solution_post_id,
        threads.c.reply_count,
        threads.c.view_count,
        threads.c.last_post_at,
        threads.c.post_number_seq,
    ]
    if member:
        from forum.unread import ThreadRead

        reads = ThreadRead.__table__
        read_of_viewer = sa.and_(
            reads.c.thread_id == threads.c.id, reads.c.user_id == sa.bindparam("viewer_id")
        )
    if postgresql:
        from sqlalchemy.dialects.postgresql import ARRAY

        users = User.__table__
        columns += [
            sa.select(users.c.username)
            .where(users.c.id == threads.c.author_id)
            .scalar_subquery()
            .label("author_name"),
            sa.select(users.c.username)
            .where(users.c.id == threads.c.last_post_author_id)
            .scalar_subquery()
            .label("last_post_author_name"),
        ]
        if member:
            columns.append(
                sa.select(reads.c.last_read_number)
                .where(read_of_viewer)
                .scalar_subquery()
                .label("last_read_number")
            )
        page = threads.c.id == sa.any_(sa.func.array(ids, type_=ARRAY(sa.Integer)))
        return sa.select(*columns).where(page).order_by(*order)
    author = User.__table__.alias("author")
    poster = User.__table__.alias("poster")
    columns += [
        author.c.username.label("author_name"),
        poster.c.username.label("last_post_author_name"),
    ]
    joined = threads.join(author, author.c.id == threads.c.author_id).outerjoin(
        poster, poster.c.id == threads.c.last_post_author_id
    )
    if member:
        columns.append(reads.c.last_read_number)
        joined = joined.outerjoin(reads, read_of_viewer)
    return sa.select(*columns).select_from(joined).where(threads.c.id.in_(ids)).order_by(*order)


def board_threads(
    session: Session, viewer: User | None, board: Board | PageBoard, page: int, per_page: int
) -> Page[Any]:
    """Return one page of the board's threads: pinned first, then latest activity.

    Rows: the thread's columns, ``author_name``, ``last_post_author_name`` and for a member
    ``last_read_number`` (None: never opened). Members' pages are counted by the board's own
    counter and skipped to through the index of visible threads (ids only). A page in the
    board's older half is skipped to from the oldest end (the index read backwards), so the
    skip is at most half the board and the last page costs what the first does: on
    PostgreSQL skipping 5,000 index entries cost a deep page about 0.7 ms.
    """
    moderator = viewer is not None and viewer.is_moderator
    if moderator:
        total = (
            session.scalar(
                sa.select(sa.func.count()).select_from(Thread).where(Thread.board_id == board.id)
            )
            or 0
        )
    else:
        total = board.thread_count
    offset = (page - 1) * per_page
    from_end = total // 2 < offset < total
    if from_end:
        limit = min(per_page, total - offset)
        params = {"board_id": board.id, "limit": limit, "offset": total - offset - limit}
    else:
        params = {"board_id": board.id, "limit": per_page, "offset": offset}
    if viewer is not None:
        params["viewer_id"] = viewer.id
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    statement = _board_threads_prepared(moderator, viewer is not None, from_end, postgresql)
    return Page(statement.all(connection, params), page, per_page, total)


@functools.cache
def _board_threads_prepared(
    moderator: bool, member: bool, from_end: bool, postgresql: bool
) -> Prepared:
    # Run straight on the driver's cursor: SQLAlchemy's execution and result set-up cost
    # more than the statement (forum.database.Prepared).
    return Prepared(_board_threads_statement(moderator, member, from_end, postgresql))


@dataclass(frozen=True)
class BoardPage:
    """A board page: the board, whether the viewer watches it, their unread notification
    count (None for a guest), and the page of its threads (as ``board_threads``)."""

    board: PageBoard
    watching: bool
    bell: int | None
    threads: Page[Any]


@functools.cache
def _board_page_statement(claimed: bool) -> HeadAndRows:
    """The board (``_board_statement``; with ``claimed``, the member a session claims and
    their watch and bell too) and one page of its threads (a guest's, or with the claimed
    member's read marks), as one statement: on PostgreSQL each is a round trip.

    A page in the board's older half gets no threads from it (``_board_threads_statement``'s
    ``by_slug``): they are walked to from the other end, which needs the board's count."""
    head = _board_statement(True, None) if claimed else _board_statement(False)
    rows = _board_threads_statement(False, claimed, False, postgresql=True, by_slug=True)
    return HeadAndRows(head, rows, ["pinned", "last_post_at", "id"], descending=True)


def _one_statement(session: Session) -> bool:
    """Whether a page's head and rows are read as one statement (``HeadAndRows``): on
    PostgreSQL, where each statement is a round trip; SQLite has none to save."""
    return session.connection().dialect.name == "postgresql"


def board_page(
    session: Session, viewer: User | None, slug: str, page: int, per_page: int
) -> BoardPage:
    """Return the board with this slug, the viewer's watch state and bell
    (``board_for_viewer``) and one page of its threads (``board_threads``); raise NotFound
    if the board is missing or hidden from the viewer. A guest's is one statement on
    PostgreSQL."""
    if viewer is not None or not _one_statement(session):
        board, watching, bell = board_for_viewer(session, viewer, slug)
        return BoardPage(
            board, watching, bell, board_threads(session, viewer, board, page, per_page)
        )
    offset = (page - 1) * per_page
    row, rows = _board_page_statement(False).run(
        session.connection(), {"slug": slug, "limit": per_page, "offset": offset}
    )
    if row is None:
        raise NotFound(slug)
    board, watching, bell = _board_shown(None, tuple(row), slug)
    return BoardPage(
        board, watching, bell, _threads_read(session, None, board, page, per_page, rows)
    )


def board_page_for_claim(
    session: Session,
    claim: Claim,
    slug: str,
    page: int,
    per_page: int,
    accept: Callable[[Claim, User | None], User | None],
) -> tuple[User | None, BoardPage]:
    """Return the viewer and what ``board_page`` returns for them, loading the member of the
    session ``claim`` names with the board (as ``board_for_claim``) and, on PostgreSQL, the
    page's threads with their read marks in the same statement. The threads are read again
    for another viewer than that member, and for a moderator (who also sees removed
    threads); raise NotFound if the board is missing or hidden."""
    if not _one_statement(session):
        viewer, (board, watching, bell) = board_for_claim(session, claim, slug, accept)
        return viewer, BoardPage(
            board, watching, bell, board_threads(session, viewer, board, page, per_page)
        )
    offset = (page - 1) * per_page
    row, rows = _board_page_statement(True).run(
        session.connection(),
        {"slug": slug, **claim.params, "limit": per_page, "offset": offset},
    )
    if row is None:
        raise NotFound(slug)
    member = member_of_row(session, row[:_MEMBER_WIDTH])
    viewer = accept(claim, member)
    if viewer is not None and viewer is not member:
        return viewer, board_page(session, viewer, slug, page, per_page)
    board, watching, bell = _board_shown(viewer, row[_MEMBER_WIDTH:], slug)
    if viewer is None or viewer.is_moderator:
        threads = board_threads(session, viewer, board, page, per_page)
    else:
        threads = _threads_read(session, viewer, board, page, per_page, rows)
    return viewer, BoardPage(board, watching, bell, threads)


def _threads_read(
    session: Session,
    viewer: User | None,
    board: PageBoard,
    page: int,
    per_page: int,
    rows: list[Any],
) -> Page[Any]:
    """Return the page of threads ``_board_page_statement`` read for a viewer who is not a
    moderator, reading them with ``board_threads`` when it read none because the page is in
    the board's older half (see ``board_threads``)."""
    total = board.thread_count
    offset = (page - 1) * per_page
    if total // 2 < offset < total:
        return board_threads(session, viewer, board, page, per_page)
    return Page(rows, page, per_page, total)


@functools.cache
def _thread_with_board() -> sa.Select:
    # Built once: a reply (and every thread action) loads its thread this way, and building
    # the statement with its join cost more than running it.
    return (
        sa.select(Thread)
        .where(Thread.id == sa.bindparam("thread_id"))
        .options(joinedload(Thread.board))
    )


def thread_for_claim_to_write(
    session: Session,
    claim: Claim,
    thread_id: int,
    accept: Callable[[Claim, User | None], User | None],
) -> tuple[User | None, ShownThread | None]:
    """Return the viewer and the thread with its board, as plain values (the thread page's
    ``ShownThread``: a reply reads them, and loading them as entities cost more than the
    query), loading the member of the session ``claim`` names with the thread, in one query
    (a form's POST would otherwise begin with the session loader's own).

    ``accept`` is as for thread_for_claim. The thread is None when it is missing, hidden
    from the viewer, or the viewer is not that member (a remember-me cookie's): then the
    caller loads it with get_thread. When the thread is missing the member is not known
    either, and the viewer is None without asking ``accept`` (Flask-Login loads them)."""
    row = _thread_to_write_prepared().first(
        session.connection(), {"thread_id": thread_id, **claim.params}
    )
    if row is None:
        return None, None
    member = member_of_row(session, row[:_MEMBER_WIDTH])
    viewer = accept(claim, member)
    if viewer is not member:
        return viewer, None
    try:
        shown = _thread_shown(viewer, row[_MEMBER_WIDTH:], thread_id)
    except NotFound:
        return viewer, None
    return viewer, shown.thread


@functools.cache
def _thread_to_write_prepared() -> Prepared:
    # The thread page's columns for a guest, with the claimed member's first; on the
    # driver's cursor (forum.database.Prepared).
    columns, joined, where = _thread_parts()
    return Prepared(selecting_live_member(columns, joined).where(where))


def get_thread(session: Session, viewer: User | None, thread_id: int) -> Thread:
    """Return the thread with its board; raise NotFound if missing or hidden."""
    thread = session.scalar(_thread_with_board(), {"thread_id": thread_id})
    if thread is None or not can_see_thread(viewer, thread):
        raise NotFound(thread_id)
    return thread


@dataclass(frozen=True, slots=True)
class ShownBoard:
    """The board of a thread page (its breadcrumb), read as a plain row."""

    id: int
    slug: str
    name: str
    moderators_only: bool


@dataclass(frozen=True, slots=True)
class SolutionMark:
    """What a thread page needs of the accepted solution besides its id."""

    is_removed: bool


@dataclass(frozen=True, slots=True)
class ShownThread:
    """A thread as its page shows it, read as a plain row (no ORM entity)."""

    id: int
    title: str
    author_id: int
    board_id: int
    pinned: bool
    locked: bool
    removed_at: datetime | None
    solution_post_id: int | None
    reply_count: int
    view_count: int
    post_number_seq: int
    board: ShownBoard
    solution_post: SolutionMark | None

    @property
    def solved(self) -> bool:
        return self.solution_post_id is not None


@dataclass(frozen=True)
class ThreadForViewer:
    """A thread with what its page shows of the viewer: how far they read, whether they watch."""

    thread: ShownThread
    read_mark: int
    watching: bool
    # The member's unread notification count (None for a guest).
    unread_notifications: int | None = None


def _thread_parts() -> tuple[list[Any], Any, Any]:
    """The thread page's thread columns (the thread, its board, its solution's id and
    removal: ``_thread_shown`` reads them in this order), their FROM and WHERE."""
    threads = Thread.__table__
    boards = Board.__table__
    solution = Post.__table__.alias("solution")
    columns: list[Any] = [
        threads.c.id,
        threads.c.title,
        threads.c.author_id,
        threads.c.board_id,
        threads.c.pinned,
        threads.c.locked,
        threads.c.removed_at,
        threads.c.solution_post_id,
        threads.c.reply_count,
        threads.c.view_count,
        threads.c.post_number_seq,
        boards.c.slug,
        boards.c.name,
        boards.c.moderators_only,
        solution.c.id,
        solution.c.removed_at,
    ]
    joined = threads.join(boards, boards.c.id == threads.c.board_id).outerjoin(
        solution, solution.c.id == threads.c.solution_post_id
    )
    return columns, joined, threads.c.id == sa.bindparam("thread_id")


@functools.cache
def _thread_statement(member: bool, moderator: bool | None = False) -> sa.Select:
    """The thread with its board and whether its solution is removed, as one plain row, and
    for a member (bound ``viewer_id``) their read mark, watch state and the bell's count in
    the same query. Built once per kind of viewer.

    ``moderator=None``: the member is the one a session claims (bound ``token_hash``), not
    loaded yet; their columns (``MEMBER_COLUMNS``, all None without a live session) come
    first in the row, and the bell reads their role from their row."""
    columns, joined, where = _thread_parts()
    if not member:
        return sa.select(*columns).select_from(joined).where(where)
    threads = Thread.__table__
    from forum.unread import ThreadRead
    from forum.watching import BoardWatch, ThreadWatch

    # Their tables, not the mapped classes: naming an entity would send the whole statement
    # through the ORM's compile and result machinery, which cost more than the query.
    reads, thread_watches = ThreadRead.__table__, ThreadWatch.__table__
    board_watches = BoardWatch.__table__
    viewer_id = sa.bindparam("viewer_id")
    read_mark = (
        sa.select(reads.c.last_read_number)
        .where(reads.c.user_id == viewer_id, reads.c.thread_id == threads.c.id)
        .scalar_subquery()
    )
    thread_choice = (
        sa.select(thread_watches.c.watching)
        .where(thread_watches.c.thread_id == threads.c.id, thread_watches.c.user_id == viewer_id)
        .scalar_subquery()
    )
    board_watch = sa.exists().where(
        board_watches.c.board_id == threads.c.board_id, board_watches.c.user_id == viewer_id
    )
    columns += [read_mark, thread_choice, board_watch, _bell(moderator)]
    if moderator is not None:
        return sa.select(*columns).select_from(joined).where(where)
    return selecting_live_member(columns, joined).where(where)


@functools.cache
def _thread_prepared(member: bool, moderator: bool | None = False) -> Prepared:
    # Run straight on the driver's cursor: SQLAlchemy's execution and result set-up cost
    # more than the statement (forum.database.Prepared).
    return Prepared(_thread_statement(member, moderator))


def _bell(moderator: bool | None) -> Any:
    """The bell's count (forum.notifications.inbox) as a column of a page's own query: it is
    shown on every member's page, and a query of its own cost a round trip."""
    from forum.notifications.inbox import unread_count_statement

    return unread_count_statement(moderator).scalar_subquery()


def thread_for_viewer(session: Session, viewer: User | None, thread_id: int) -> ThreadForViewer:
    """Return the thread (with its board) and the viewer's read mark and watch state, in one
    query; raise NotFound if missing or hidden.

    Watching: an explicit choice on the thread wins, else watching its board (as
    forum.watching.is_watching_thread decides).
    """
    params: dict[str, Any] = {"thread_id": thread_id}
    if viewer is not None:
        params["viewer_id"] = viewer.id
    moderator = viewer is not None and viewer.is_moderator
    row = _thread_prepared(viewer is not None, moderator).first(session.connection(), params)
    if row is None:
        raise NotFound(thread_id)
    return _thread_shown(viewer, row, thread_id)


def thread_for_claim(
    session: Session,
    claim: Claim,
    thread_id: int,
    accept: Callable[[Claim, User | None], User | None],
) -> tuple[User | None, ThreadForViewer]:
    """Return the viewer and what ``thread_for_viewer`` returns for them, loading the member
    of the session ``claim`` names with the thread, in one query (a signed-in member's page
    would otherwise begin with the session loader's own).

    ``accept(claim, member)`` is given that member (None: no live session) and returns the
    request's viewer (Flask-Login decides, see forum.accounts.viewer). The viewer's columns
    are used only when the viewer is that member; another viewer (a remember-me cookie's) is
    read with ``thread_for_viewer``. Raises NotFound if the thread is missing or hidden.
    """
    row = _thread_prepared(True, None).first(
        session.connection(), {"thread_id": thread_id, **claim.params}
    )
    if row is None:
        raise NotFound(thread_id)
    member = member_of_row(session, row[:_MEMBER_WIDTH])
    columns = row[_MEMBER_WIDTH:]
    viewer = accept(claim, member)
    if viewer is None:
        return None, _thread_shown(None, columns[:_THREAD_COLUMNS], thread_id)
    if viewer is not member:
        return viewer, thread_for_viewer(session, viewer, thread_id)
    return viewer, _thread_shown(viewer, columns, thread_id)


# The thread's own columns in a row of _thread_statement, before a member's.
_THREAD_COLUMNS = 16


def _thread_shown(viewer: User | None, row: tuple[Any, ...], thread_id: int) -> ThreadForViewer:
    """Return the thread page's thread from a row of ``_thread_statement``; raise NotFound
    if the viewer may not see it."""
    (
        id_, title, author_id, board_id, pinned, locked, removed_at, solution_post_id,
        reply_count, view_count, post_number_seq, slug, name, moderators_only, solution_id,
        solution_removed_at, *viewer_columns,
    ) = row  # fmt: skip
    thread = ShownThread(
        id_, title, author_id, board_id, pinned, locked, removed_at, solution_post_id,
        reply_count, view_count, post_number_seq,
        ShownBoard(board_id, slug, name, moderators_only),
        SolutionMark(solution_removed_at is not None) if solution_id is not None else None,
    )  # fmt: skip
    if not can_see_thread(viewer, thread):  # type: ignore[arg-type]
        raise NotFound(thread_id)
    if not viewer_columns:
        return ThreadForViewer(thread, 0, False)
    mark, choice, board_watch, bell = viewer_columns
    watching = bool(choice) if choice is not None else bool(board_watch)
    return ThreadForViewer(thread, mark or 0, watching, bell or 0)


def get_post(session: Session, viewer: User | None, post_id: int) -> Post:
    """Return a post whose thread the viewer may see; raise NotFound otherwise."""
    post = session.scalar(
        sa.select(Post)
        .where(Post.id == post_id)
        .options(joinedload(Post.thread).joinedload(Thread.board), joinedload(Post.author))
    )
    if post is None or not can_see_thread(viewer, post.thread):
        raise NotFound(post_id)
    return post


@dataclass(frozen=True, slots=True)
class Member:
    """A member as a thread page shows them: a name (linked) and badges."""

    username: str
    badges: list[str]


@dataclass(frozen=True, slots=True)
class ShownPost(PostFacts):
    """One post as a thread page shows it, made from a row of ``thread_posts``."""

    id: int
    thread_id: int
    number: int
    body_html: str
    created_at: datetime
    edited_at: datetime | None
    edited_by_moderator: bool
    kudos_count: int
    removed_at: datetime | None
    removal_reason: str | None
    author_id: int
    author: Member
    edited_by: Member | None
    kudos_given: bool


@functools.cache
def _thread_posts_statement() -> sa.Select:
    """One page of a thread's posts with their authors, editors and the viewer's kudos.

    Built once (building a statement costs more than running it); all values are bound.
    """
    posts = Post.__table__
    users = User.__table__
    author = users.alias("author")
    editor = users.alias("editor")
    kudos = Kudos.__table__
    return (
        sa.select(
            posts.c.id,
            posts.c.thread_id,
            posts.c.number,
            posts.c.body_html,
            posts.c.created_at,
            posts.c.edited_at,
            posts.c.edited_by_moderator,
            posts.c.kudos_count,
            posts.c.removed_at,
            posts.c.removal_reason,
            posts.c.author_id,
            author.c.username,
            author.c.role,
            author.c.top_rated,
            author.c.affiliate_since,
            editor.c.username,
            editor.c.role,
            editor.c.top_rated,
            editor.c.affiliate_since,
            kudos.c.id.label("kudos_id"),
        )
        .select_from(
            posts.join(author, author.c.id == posts.c.author_id)
            .outerjoin(editor, editor.c.id == posts.c.edited_by_id)
            .outerjoin(
                kudos,
                sa.and_(
                    kudos.c.post_id == posts.c.id, kudos.c.giver_id == sa.bindparam("viewer_id")
                ),
            )
        )
        .where(
            posts.c.thread_id == sa.bindparam("thread_id"),
            posts.c.number.between(sa.bindparam("first"), sa.bindparam("last")),
        )
        .order_by(posts.c.number)
    )


def shown_posts(rows: list[Any]) -> list[ShownPost]:
    """Return the rows of ``thread_posts`` as the posts a thread page's template reads."""
    posts = []
    for row in rows:
        (
            id_, thread_id, number, body_html, created_at, edited_at, edited_by_moderator,
            kudos_count, removed_at, removal_reason, author_id, name, role, top_rated,
            affiliate, editor_name, editor_role, editor_top_rated, editor_affiliate, kudos_id,
        ) = row  # fmt: skip
        editor = None
        if editor_name is not None:
            editor = Member(editor_name, badges_of(editor_role, editor_top_rated, editor_affiliate))
        posts.append(
            ShownPost(
                id_,
                thread_id,
                number,
                body_html,
                created_at,
                edited_at,
                edited_by_moderator,
                kudos_count,
                removed_at,
                removal_reason,
                author_id,
                Member(name, badges_of(role, top_rated, affiliate)),
                editor,
                kudos_id is not None,
            )  # fmt: skip
        )
    return posts


def thread_posts(
    session: Session, viewer: User | None, thread: Thread | ShownThread, page: int, per_page: int
) -> Page[Any]:
    """Return one page of a thread's posts, in order, removed ones included, as plain rows:
    every value the page shows of a post (its author's and editor's names and badge columns,
    whether the viewer gave it kudos: ``kudos_id``). ``shown_posts`` makes them objects.

    Posts are numbered without gaps, so a page is a range of numbers: any page costs the
    same index lookup, however deep.
    """
    first = (page - 1) * per_page + 1
    rows = _thread_posts_prepared().all(
        session.connection(),
        {
            "thread_id": thread.id,
            "first": first,
            "last": first + per_page - 1,
            "viewer_id": viewer.id if viewer is not None else None,
        },
    )
    return Page(rows, page, per_page, thread.post_number_seq)


@functools.cache
def _thread_page_statement(claimed: bool) -> HeadAndRows:
    """The thread (``_thread_statement``: a guest's, or with the member a session claims,
    their read mark, watch state and bell) and one page of its posts (``thread_posts``,
    with the kudos of the bound ``viewer_id``), as one statement: on PostgreSQL each is a
    round trip, and a page's posts are a range of numbers, known before the thread is."""
    head = _thread_statement(True, None) if claimed else _thread_statement(False)
    return HeadAndRows(head, _thread_posts_statement(), ["number"])


def _posts_params(thread_id: int, viewer_id: int | None, page: int, per_page: int) -> dict:
    first = (page - 1) * per_page + 1
    return {
        "thread_id": thread_id,
        "first": first,
        "last": first + per_page - 1,
        "viewer_id": viewer_id,
    }


def thread_page(
    session: Session, viewer: User | None, thread_id: int, page: int, per_page: int
) -> tuple[ThreadForViewer, Page[Any]]:
    """Return the thread with the viewer's read mark and watch state (``thread_for_viewer``)
    and one page of its posts (``thread_posts``); raise NotFound if the thread is missing or
    hidden. A guest's is one statement on PostgreSQL."""
    if viewer is not None or not _one_statement(session):
        shown = thread_for_viewer(session, viewer, thread_id)
        return shown, thread_posts(session, viewer, shown.thread, page, per_page)
    row, rows = _thread_page_statement(False).run(
        session.connection(), _posts_params(thread_id, None, page, per_page)
    )
    if row is None:
        raise NotFound(thread_id)
    shown = _thread_shown(None, row, thread_id)
    return shown, Page(rows, page, per_page, shown.thread.post_number_seq)


def thread_page_for_claim(
    session: Session,
    claim: Claim,
    thread_id: int,
    page: int,
    per_page: int,
    accept: Callable[[Claim, User | None], User | None],
) -> tuple[User | None, ThreadForViewer, Page[Any]]:
    """Return the viewer and what ``thread_page`` returns for them, loading the member of the
    session ``claim`` names with the thread (as ``thread_for_claim``) and, on PostgreSQL,
    the page's posts with that member's kudos in the same statement. The posts are read
    again for another viewer than that member; raise NotFound if the thread is missing or
    hidden."""
    if not _one_statement(session):
        viewer, shown = thread_for_claim(session, claim, thread_id, accept)
        return viewer, shown, thread_posts(session, viewer, shown.thread, page, per_page)
    params = {**_posts_params(thread_id, claim.user_id, page, per_page), **claim.params}
    row, rows = _thread_page_statement(True).run(session.connection(), params)
    if row is None:
        raise NotFound(thread_id)
    member = member_of_row(session, row[:_MEMBER_WIDTH])
    columns = row[_MEMBER_WIDTH:]
    viewer = accept(claim, member)
    if viewer is None or viewer is not member:
        # The row's read mark, watch state and bell, and the posts' kudos, are the claimed
        # member's: not this viewer's.
        if viewer is None:
            shown = _thread_shown(None, columns[:_THREAD_COLUMNS], thread_id)
        else:
            shown = thread_for_viewer(session, viewer, thread_id)
        return viewer, shown, thread_posts(session, viewer, shown.thread, page, per_page)
    shown = _thread_shown(viewer, columns, thread_id)
    return viewer, shown, Page(rows, page, per_page, shown.thread.post_number_seq)


@functools.cache
def _thread_posts_prepared() -> Prepared:
    # Run straight on the driver's cursor: SQLAlchemy's execution and result set-up cost
    # more than the statement (forum.database.Prepared).
    return Prepared(_thread_posts_statement())


def post_revisions(session: Session, post: Post) -> list[PostRevision]:
    """Return every saved version of the post, newest first, with their editors."""
    return list(
        session.scalars(
            sa.select(PostRevision)
            .where(PostRevision.post_id == post.id)
            .options(selectinload(PostRevision.editor))
            .order_by(PostRevision.number.desc())
        )
    )


def member_by_name(session: Session, username: str) -> User:
    """Return the member with this username (any case); raise NotFound otherwise."""
    user = session.scalar(sa.select(User).where(User.username_key == username_key(username)))
    if user is None:
        raise NotFound(username)
    return user


def recent_posts_by(
    session: Session, viewer: User | None, member: User, limit: int = 10
) -> list[Post]:
    """Return the member's latest posts the viewer may see, with their threads."""
    query = (
        sa.select(Post)
        .join(Post.thread)
        .join(Thread.board)
        .where(Post.author_id == member.id)
        .options(joinedload(Post.thread))
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(limit)
    )
    if viewer is None or not viewer.is_moderator:
        query = query.where(
            Post.removed_at.is_(None),
            Thread.removed_at.is_(None),
            Board.moderators_only.is_(False),
        )
    return list(session.scalars(query))


@dataclass(frozen=True)
class RemovedThread:
    """What a member may know of a removed thread: where it was, and why it went."""

    board: Board
    reason: str


def removed_thread(
    session: Session, viewer: User | None, thread_id: int | None = None, post_id: int | None = None
) -> RemovedThread | None:
    """Return the tombstone of a removed thread (found by its id or one of its posts' ids).

    None when there is no such thread, it is not removed, or its board is hidden from the
    viewer: then the thread is simply not found.
    """
    if thread_id is None and post_id is not None:
        thread_id = session.scalar(sa.select(Post.thread_id).where(Post.id == post_id))
    if thread_id is None:
        return None
    thread = session.scalar(
        sa.select(Thread).where(Thread.id == thread_id).options(joinedload(Thread.board))
    )
    if thread is None or thread.removed_at is None or not can_see_board(viewer, thread.board):
        return None
    return RemovedThread(thread.board, first_post(session, thread).removal_reason or "")


def first_post(session: Session, thread: Thread | ShownThread) -> Post:
    """Return the thread's first post."""
    return session.execute(
        sa.select(Post).where(Post.thread_id == thread.id, Post.number == 1)
    ).scalar_one()
