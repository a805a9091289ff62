"""Reading the forum: the queries behind the board list, board pages and thread pages.

Each page is a fixed number of queries, whatever the number of threads or posts shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from forum.accounts.models import User
from forum.accounts.service import username_key
from forum.boards.models import Board, Kudos, Post, PostRevision, Thread
from forum.permissions import NotFound, can_see_board, can_see_thread

T = TypeVar("T")


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


def get_board(session: Session, viewer: User | None, slug: str) -> Board:
    """Return the board with this slug; raise NotFound if missing or hidden from the viewer."""
    board = session.scalar(sa.select(Board).where(Board.slug == slug))
    if board is None or not can_see_board(viewer, board):
        raise NotFound(slug)
    return board


def _visible_threads(viewer: User | None):  # noqa: ANN202 - a where-clause
    if viewer is not None and viewer.is_moderator:
        return sa.true()
    return Thread.removed_at.is_(None)


def board_threads(
    session: Session, viewer: User | None, board: Board, page: int, per_page: int
) -> Page[Thread]:
    """Return one page of the board's threads: pinned first, then latest activity.

    Members' pages are counted by the board's own counter and skipped to through the index of
    visible threads (ids only), so a deep page costs about what the first one does.
    """
    where = sa.and_(Thread.board_id == board.id, _visible_threads(viewer))
    if viewer is not None and viewer.is_moderator:
        total = session.scalar(sa.select(sa.func.count()).select_from(Thread).where(where)) or 0
    else:
        total = board.thread_count
    order = (Thread.pinned.desc(), Thread.last_post_at.desc(), Thread.id.desc())
    ids = (
        sa.select(Thread.id)
        .where(where)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
        .scalar_subquery()
    )
    threads = session.scalars(
        sa.select(Thread)
        .where(Thread.id.in_(ids))
        .options(joinedload(Thread.author), joinedload(Thread.last_post_author))
        .order_by(*order)
    ).all()
    return Page(list(threads), page, per_page, total)


def get_thread(session: Session, viewer: User | None, thread_id: int) -> Thread:
    """Return the thread with its board; raise NotFound if missing or hidden."""
    thread = session.scalar(
        sa.select(Thread)
        .where(Thread.id == thread_id)
        .options(joinedload(Thread.board), joinedload(Thread.solution_post))
    )
    if thread is None or not can_see_thread(viewer, thread):
        raise NotFound(thread_id)
    return thread


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


def thread_posts(session: Session, thread: Thread, page: int, per_page: int) -> Page[Post]:
    """Return one page of a thread's posts, in order, removed ones included.

    Posts are numbered without gaps, so a page is a range of numbers: any page costs the
    same index lookup, however deep.
    """
    first = (page - 1) * per_page + 1
    posts = session.scalars(
        sa.select(Post)
        .where(Post.thread_id == thread.id, Post.number.between(first, first + per_page - 1))
        .options(joinedload(Post.author), joinedload(Post.edited_by))
        .order_by(Post.number)
    ).all()
    return Page(list(posts), page, per_page, thread.post_number_seq)


def kudos_given(session: Session, viewer: User | None, posts: list[Post]) -> set[int]:
    """Return the ids of the posts among ``posts`` to which the viewer has given kudos."""
    if viewer is None or not posts:
        return set()
    return set(
        session.scalars(
            sa.select(Kudos.post_id).where(
                Kudos.giver_id == viewer.id, Kudos.post_id.in_([p.id for p in posts])
            )
        )
    )


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


def first_post(session: Session, thread: Thread) -> Post:
    """Return the thread's first post."""
    return session.execute(
        sa.select(Post).where(Post.thread_id == thread.id, Post.number == 1)
    ).scalar_one()
