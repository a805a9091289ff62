"""Writing to the forum: threads, replies, edits, kudos and accepted solutions.

Functions take a session and plain values, change rows, and leave the commit to the caller.
Counters are updated with SQL expressions so that concurrent writers never lose a count.
In the same transaction, every write keeps the search index current, notifies whoever should
hear of it, and (for a new post) watches the thread and marks it read for its author.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from forum import mentions, unread, watching
from forum.accounts.models import User
from forum.boards.models import Board, Kudos, Post, PostFacts, PostRevision, Thread
from forum.connections import begin_transaction, in_autocommit, write_alone
from forum.database import Prepared, UTCDateTime, utcnow
from forum.markup import MAX_BODY_CHARS, BodyTooLong, render
from forum.moderation.log import record
from forum.moderation.models import Action
from forum.notifications import fanout
from forum.permissions import (
    PermissionDenied,
    can_see_board,
    ensure_can_accept,
    ensure_can_edit,
    ensure_can_post,
    ensure_can_reply,
)
from forum.search import generation
from forum.search.index import (
    TEXT_SEARCH_CONFIG,
    index_new_post,
    index_post,
    new_post_params,
    postgresql_insert_values,
)

if TYPE_CHECKING:
    from forum.boards.reading import ShownThread

MIN_TITLE_CHARS = 3
MAX_TITLE_CHARS = 200


class PostingError(ValueError):
    """Invalid input, tied to the form field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def shows_something(text: str) -> bool:
    """Whether ``text`` has a character a reader can see: whitespace and invisible format and
    control characters (zero-width space, joiners, byte-order marks) alone show nothing."""
    return any(
        not char.isspace() and unicodedata.category(char) not in ("Cf", "Cc") for char in text
    )


def clean_title(title: str) -> str:
    """Return the title with surrounding space removed; raise PostingError if unusable."""
    title = " ".join(title.replace("\x00", "").split())
    if not (shows_something(title) and MIN_TITLE_CHARS <= len(title) <= MAX_TITLE_CHARS):
        raise PostingError(
            "title", f"A title needs {MIN_TITLE_CHARS} to {MAX_TITLE_CHARS} characters."
        )
    return title


@dataclass(frozen=True, slots=True)
class Body:
    """A post body ready to store: its source, its sanitized HTML, its plain text (what the
    search index holds) and the members it mentions (who hear of it)."""

    source: str
    html: str
    text: str
    mentioned: list[User]


@dataclass(frozen=True, slots=True)
class NewPost(PostFacts):
    """A reply just written, as the values stored (no entity): what the reply view redirects
    to and fanout.post_created reads. ``reply`` makes it the session's Post."""

    id: int
    number: int
    values: dict[str, Any]  # every other column (_post_values)

    @property
    def thread_id(self) -> int:
        return self.values["thread_id"]

    @property
    def author_id(self) -> int:
        return self.values["author_id"]

    @property
    def removed_at(self) -> None:
        return None


def render_body(session: Session, body: str) -> Body:
    """Return the Body to store for what a member wrote; raise PostingError if unusable."""
    if len(body) > MAX_BODY_CHARS:
        raise PostingError("body", f"A post can have at most {MAX_BODY_CHARS:,} characters.")
    if not shows_something(body):
        raise PostingError("body", "Write something: a post cannot be empty.")
    source = body.replace("\r\n", "\n").replace("\x00", "").rstrip()
    named = mentions.lookup(session, source)
    try:
        rendered = render(source, named.resolve)
    except BodyTooLong as exc:  # pragma: no cover - guarded above
        raise PostingError("body", str(exc)) from exc
    by_id = {user.id: user for user in named.members.values()}
    mentioned = [by_id[user_id] for user_id in named.mentioned_ids]
    return Body(source, rendered.html, rendered.text, mentioned)


def stored_submission_key(key: str | None) -> str | None:
    """Return the submission key as stored: a form's own key (32 hex digits) as it is, and
    any other a client may send (longer than the column, or with characters PostgreSQL's
    text refuses, such as NUL) as its SHA-256, which fits and still tells a resubmission."""
    if not key:
        return None
    if len(key) <= _SUBMISSION_KEY_CHARS and key.isascii() and key.isprintable():
        return key
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


_SUBMISSION_KEY_CHARS = Post.__table__.c.submission_key.type.length


def _find_resubmission(session: Session, author: User, submission_key: str | None) -> Post | None:
    if not submission_key:
        return None
    # The id alone: almost every submission is new, and an entity costs the ORM's loading.
    found = _RESUBMISSION.first(
        session.connection(), {"author_id": author.id, "key": submission_key}
    )
    return session.get(Post, found[0]) if found is not None else None


_posts = Post.__table__
_RESUBMISSION = Prepared(
    sa.select(_posts.c.id).where(
        _posts.c.author_id == sa.bindparam("author_id"),
        _posts.c.submission_key == sa.bindparam("key"),
    )
)


_threads = Thread.__table__
_boards = Board.__table__
_users = User.__table__
_NOW = sa.bindparam("now", type_=UTCDateTime)
# Built once: a post's statements, with their values bound at execution (building them cost
# more than SQLite's running them). Those that write nothing search shows run on the
# driver's cursor (forum.database.Prepared: SQLAlchemy's execution of each cost more than
# SQLite's running it); the post's own INSERT and its index entry do not, so that the search
# generation sees them.
_NUMBER_TAKEN = (
    _threads.c.post_number_seq,
    _threads.c.board_id,
    _threads.c.removed_at,
    _threads.c.locked,
)
_TAKE_NUMBER = Prepared(
    sa.update(_threads)
    .where(_threads.c.id == sa.bindparam("thread_id"))
    .values(post_number_seq=_threads.c.post_number_seq + 1)
    .returning(*_NUMBER_TAKEN)
)
# A reply's number and the thread's reply counters in one statement: both are undone
# together if the reply is (a resubmission that lost the race, a refusal).
_TAKE_REPLY_NUMBER = Prepared(
    sa.update(_threads)
    .where(_threads.c.id == sa.bindparam("thread_id"))
    .values(
        post_number_seq=_threads.c.post_number_seq + 1,
        reply_count=_threads.c.reply_count + 1,
        last_post_at=_NOW,
        last_post_author_id=sa.bindparam("replier_id", type_=sa.Integer),
    )
    .returning(*_NUMBER_TAKEN)
)
_COUNT_AUTHOR_POST = Prepared(
    sa.update(_users)
    .where(_users.c.id == sa.bindparam("author_id"))
    .values(post_count=_users.c.post_count + 1)
    .returning(_users.c.banned_at, _users.c.suspended_until)
)
# The board's last activity only moves forward: a reply in another thread of the board,
# stamped after this one, may have reached the board's row first (this one waited on a
# lock since it took its time), and must stay the board's latest.
_NEWER = sa.or_(_boards.c.last_post_at.is_(None), _boards.c.last_post_at <= _NOW)
_COUNT_BOARD_POST = Prepared(
    sa.update(_boards)
    .where(_boards.c.id == sa.bindparam("board_id"))
    .values(
        post_count=_boards.c.post_count + 1,
        last_post_at=sa.case((_NEWER, _NOW), else_=_boards.c.last_post_at),
        last_thread_id=sa.case(
            (_NEWER, sa.bindparam("thread_id", type_=sa.Integer)), else_=_boards.c.last_thread_id
        ),
    )
)
_revisions = PostRevision.__table__
_ADD_FIRST_REVISION = Prepared(
    sa.insert(_revisions).values(
        {c.name: sa.bindparam(c.name, type_=c.type) for c in _revisions.c if c.name != "id"}
    )
)


@functools.cache
def _add_post_statement(dialect: str) -> sa.Insert:
    """The INSERT of a post, returning its id; on PostgreSQL it indexes the post too."""
    if dialect != "postgresql":
        return sa.insert(_posts).returning(_posts.c.id)
    # search_vector and search_text are outside the ORM metadata (forum.search.schema).
    posts = sa.table(
        "posts",
        *(sa.column(column.name, column.type) for column in _posts.c),
        sa.column("search_vector"),
        sa.column("search_text"),
    )
    return sa.insert(posts).values(postgresql_insert_values()).returning(posts.c.id)


def _once(
    session: Session, author: User, submission_key: str | None, write: Callable[[], Post]
) -> tuple[Post, bool]:
    """Return (the post ``write()`` made, True), or (the earlier post, False) when the same
    submission won a race.

    A form sent twice at once (a double click, a retry racing the original) passes the
    earlier-submission check twice before either commits; the unique key on (author,
    submission key) stops the second post. Its writes are undone to a savepoint and it
    answers with the post the first one made, instead of failing. (A reply needs none of
    this: its post's INSERT leaves a used key out, see _add_reply.)
    """
    try:
        with session.begin_nested():
            return write(), True
    except IntegrityError:
        earlier = _find_resubmission(session, author, submission_key)
        if earlier is None:
            raise
        return earlier, False


def _first_post_number(session: Session, thread: Thread) -> tuple[int, int]:
    """Return (the thread's first post number, its board id), holding the thread's row lock
    (one UPDATE both locks the row and hands out the number)."""
    taken = _TAKE_NUMBER.first(session.connection(), {"thread_id": thread.id})
    number, board_id, _removed_at, _locked = taken  # (threads are never deleted: a row)
    return number, board_id


def _add_first_post(
    session: Session,
    author: User,
    thread: Thread,
    body: Body,
    submission_key: str | None,
    title: str,
) -> Post:
    """Write a new thread's first post and everything that goes with it; return it."""
    now = utcnow()
    number, board_id = _first_post_number(session, thread)
    values = _post_values(author, thread, body, submission_key, None, now)
    values["number"] = number
    connection = session.connection()
    dialect = connection.dialect.name
    # Inserted with Core rather than by a flush of the unit of work (which cost more than the
    # statement). It goes through the engine's execution, so the search generation sees it.
    params = {**values, **new_post_params(title, body.text)} if dialect == "postgresql" else values
    post_id = connection.execute(_add_post_statement(dialect), params).scalar_one()
    post = Post(id=post_id, **values)
    _record_new_post(session, author, thread, post, board_id, body, title, now)
    return _as_persistent(session, post)


def _post_values(
    author: User,
    thread: Thread,
    body: Body,
    submission_key: str | None,
    quoted_post_id: int | None,
    now: datetime,
) -> dict[str, object]:
    """A new post's every column but its id and number, as stored (nothing to reload)."""
    return {
        "thread_id": thread.id,
        "author_id": author.id,
        "body_source": body.source,
        "body_html": body.html,
        "quoted_post_id": quoted_post_id,
        "submission_key": submission_key or None,
        "created_at": now,
        "edited_at": None,
        "edited_by_id": None,
        "edited_by_moderator": False,
        "revision_count": 1,
        "kudos_count": 0,
        "removed_at": None,
        "removed_by_id": None,
        "removal_reason": None,
    }


def _refuse_changed_thread(
    session: Session,
    author: User,
    thread: Any,
    board_id: int,
    removed_at: datetime | None,
    locked: bool,
) -> Any:
    """Raise PermissionDenied when the thread, as read once its row was locked, was removed,
    locked, or moved to a board the author cannot see since the request loaded it. Return
    the thread to write to: ``thread``, or when it moved, its entity with its board as it
    is now (a thread read as a plain row, see ThreadToWrite, cannot be reloaded)."""
    if board_id != thread.board_id:
        # Moved meanwhile: the board the caller loaded is stale (its visibility, and the
        # board notifications are checked against). Read the thread's board again.
        if isinstance(thread, Thread):
            session.expire(thread, ["board_id", "board"])
        else:
            thread = session.get(Thread, thread.id, populate_existing=True)
        if not can_see_board(author, thread.board):
            raise PermissionDenied("This thread was moved; no new replies can be posted.")
    if removed_at is not None:
        raise PermissionDenied("This thread was removed; no new replies can be posted.")
    if locked and not author.is_moderator:
        raise PermissionDenied("This thread is locked; no new replies can be posted.")
    return thread


def _as_persistent(session: Session, post: Post) -> Post:
    # The caller gets the Post as a flush would have left it: made from the values stored,
    # and put in the session as persistent (SQLAlchemy's public way for an object whose row
    # exists), so that its relationships load as any other's.
    make_transient_to_detached(post)
    session.add(post)
    return post


_NEW_POST_COLUMNS = [c.name for c in _posts.c if c.name not in ("id", "number")]


def _reply_allowed(thread: Any, author: Any) -> list[sa.ColumnElement[bool]]:
    """The conditions under which a reply's INSERT writes its post, on the rows of the thread
    and the author (their tables) as they are under the write lock: what ensure_can_post
    and _refuse_changed_thread check, so that a refused reply writes nothing
    (_explain_refusal then says which refusal). _REPLY_POSTGRESQL writes them out too."""
    now = sa.bindparam("reply_now", type_=UTCDateTime)
    return [
        thread.c.board_id == sa.bindparam("reply_board_id", type_=sa.Integer),
        thread.c.removed_at.is_(None),
        sa.or_(~thread.c.locked, sa.bindparam("reply_by_moderator", type_=sa.Boolean)),
        author.c.banned_at.is_(None),
        sa.or_(author.c.suspended_until.is_(None), author.c.suspended_until <= now),
    ]


def _reply_allowed_params(author: User, thread: Thread, now: datetime) -> dict[str, object]:
    return {
        "reply_board_id": thread.board_id,
        "reply_by_moderator": author.is_moderator,
        "reply_now": now,
    }


@functools.cache
def _insert_reply_sqlite() -> Prepared:
    """The INSERT of a reply on SQLite, numbered from the thread's row in the same statement;
    it writes nothing (returns no row) when the author's submission key was used before or
    the reply is refused (_reply_allowed)."""
    # Parameters named unlike any column: SQLAlchemy takes a parameter named as a column of
    # the INSERT it runs for that column's value.
    values = [sa.bindparam(f"new_{name}", type_=_posts.c[name].type) for name in _NEW_POST_COLUMNS]
    author_id = sa.bindparam("new_author_id", type_=sa.Integer)
    numbered = (
        sa.select(*values, _threads.c.post_number_seq + 1)
        .select_from(_threads.join(_users, _users.c.id == author_id))
        .where(
            _threads.c.id == sa.bindparam("new_thread_id", type_=sa.Integer),
            *_reply_allowed(_threads, _users),
        )
    )
    return Prepared(
        sqlite.insert(_posts)
        .from_select([*_NEW_POST_COLUMNS, "number"], numbered)
        .on_conflict_do_nothing(index_elements=["author_id", "submission_key"])
        .returning(_posts.c.id, _posts.c.number)
    )


def _add_reply(
    session: Session,
    author: User,
    thread: Thread,
    body: Body,
    submission_key: str | None,
    quoted_post_id: int | None,
    notified_directly: list[int],
    now: datetime,
) -> NewPost | None:
    """Write a reply and everything that goes with it, statement by statement (SQLite);
    return it, or None when its INSERT wrote nothing (a used submission key, a refusal).
    (``notified_directly`` is for _add_reply_postgresql: here post_created notifies all.)

    SQLite has one writer at a time, and the transaction holds the lock (or fails rather
    than write after another writer): nothing changes the thread or the author between the
    post's INSERT, which checks them and takes the next number, and the UPDATEs that follow.
    A left-out reply changed nothing, so it needs no savepoint to undo.
    """
    values = _post_values(author, thread, body, submission_key, quoted_post_id, now)
    connection = session.connection()
    params = {f"new_{name}": value for name, value in values.items()}
    params.update(_reply_allowed_params(author, thread, now))
    # On the driver's cursor, so the search generation is told by hand (it is written below
    # or not at all: a left-out reply changed nothing).
    inserted = _insert_reply_sqlite().first(connection, params)
    if inserted is None:
        return None
    generation.changed(connection)
    post_id, number = inserted
    taken, board_id, _removed_at, _locked = _TAKE_REPLY_NUMBER.first(
        connection, {"thread_id": thread.id, "now": now, "replier_id": author.id}
    )
    assert (taken, board_id) == (number, thread.board_id)  # (one writer: see above)
    post = NewPost(post_id, number, values)
    _record_new_post(session, author, thread, post, board_id, body, None, now)
    return post


def _record_new_post(
    session: Session,
    author: User,
    thread: Thread,
    post: Post | NewPost,
    board_id: int,
    body: Body,
    title: str | None,
    now: datetime,
) -> None:
    """Write what goes with a new post: its first revision, the author's and the board's
    counters (refusing a banned or suspended author), the search index (SQLite), the
    author's watch and read mark."""
    connection = session.connection()
    # The revision is only ever read back from its table: inserted without an ORM object.
    _ADD_FIRST_REVISION.execute(
        connection,
        {
            "post_id": post.id,
            "number": 1,
            "title": title,
            "body_source": body.source,
            "body_html": body.html,
            "editor_id": author.id,
            "by_moderator": False,
            "reason": "",
            "created_at": now,
        },
    ).close()
    # The author's row as it is once locked: a moderator may have banned or suspended them
    # since the request loaded them (a new thread's author; a reply's INSERT checked it).
    banned_at, suspended_until = _COUNT_AUTHOR_POST.first(connection, {"author_id": author.id})
    set_committed_value(author, "banned_at", banned_at)
    set_committed_value(author, "suspended_until", suspended_until)
    ensure_can_post(author, now)
    _COUNT_BOARD_POST.execute(
        connection, {"board_id": board_id, "now": now, "thread_id": thread.id}
    ).close()
    if connection.dialect.name != "postgresql":
        index_new_post(connection, post.id, title, body.text)
    watching.watch_on_post(session, author, thread)
    unread.mark_read(session, author.id, thread.id, post.number)


def _add_reply_postgresql(
    session: Session,
    author: User,
    thread: Thread,
    body: Body,
    submission_key: str | None,
    quoted_post_id: int | None,
    notified_directly: list[int],
    now: datetime,
) -> NewPost | None:
    """Write a reply and everything that goes with it in one statement (PostgreSQL: each
    statement is a round trip); return it, or None when it wrote nothing (a used
    submission key, a refusal). What the statement does, and in which order, is
    _REPLY_POSTGRESQL's."""
    values = _post_values(author, thread, body, submission_key, quoted_post_id, now)
    search = new_post_params(None, body.text)
    params = {
        "thread_id": thread.id,
        "author_id": author.id,
        "body_source": body.source,
        "body_html": body.html,
        "quoted_post_id": quoted_post_id,
        "submission_key": values["submission_key"],
        "now": now,
        "board_id": thread.board_id,
        "by_moderator": author.is_moderator,
        "search_title": search["search_title"],
        "search_body": search["search_body"],
        "notified_directly": notified_directly,
        "post_key_prefix": fanout.post_key(""),
        "reply_kind": fanout.NotificationKind.REPLY.value,
        "pending": fanout.EmailState.PENDING.value,
    }
    connection = session.connection()
    post_id, number = connection.execute(_REPLY_POSTGRESQL, params).one()
    if post_id is None:
        return None
    # The statement incremented the search generation (a commit's own increment is one more
    # round trip); left out, it did not, and the commit does as for any change.
    generation.incremented(connection)
    return NewPost(post_id, number, values)


# A reply in one statement of data-modifying CTEs, each what _add_reply runs on SQLite:
#   t, a: the thread's row and the author's, locked in this order (FOR NO KEY UPDATE: a
#      concurrent writer's change is waited for, then read; a reads t first). Not FOR
#      UPDATE: that lock also waits for the KEY SHARE locks that inserting a row which
#      refers to the thread or the member takes (a kudos, a notification naming them), and
#      such a transaction may be waiting for this one (a deadlock `make stress` met: a
#      member's kudos held their row's KEY SHARE and waited for the thread). An UPDATE of
#      the row, which the statement-by-statement path does, takes FOR NO KEY UPDATE too.
#   p: the post, numbered, and its search entry (as forum.search.index indexes it), unless
#      the reply is refused (as _reply_allowed: a moved, removed or locked thread, a banned
#      or suspended author) or the author's submission key was used before (ON CONFLICT DO
#      NOTHING: a copy racing this one waits for it to commit, then meets its row). Its
#      constant columns are _post_values's. Everything after reads p: a post left out
#      writes nothing at all.
#   ct, r, ca, cb: the thread's number and counters, the revision, the author's and the
#      board's counters (the board's row after the author's: cb reads ca).
#   w, rm, n: as watching.watch_on_post, unread.mark_read, and the watchers' fan-out of
#      fanout.post_created (watching.thread_watchers, leaving out the author, banned members,
#      all but staff on a moderators-only board, and the members the post names, whom
#      post_created notifies next).
#   g: the search generation's increment (forum.search.generation), last (it reads cb).
# Written out rather than built: psycopg converts the parameters of a statement over 4,096
# characters anew each time (built, this one had 6,500), which cost more than SQLAlchemy's
# execution of it. Only constants are formatted into it, never a value.
_STAFF_ROLES = ", ".join(f"'{role}'" for role in fanout.STAFF_ROLES)
_REPLY_POSTGRESQL = sa.text(
    f"""WITH t AS (
SELECT post_number_seq + 1 AS number, board_id, removed_at, locked FROM threads
WHERE id = :thread_id FOR NO KEY UPDATE),
a AS (SELECT banned_at, suspended_until FROM users
WHERE id = :author_id AND EXISTS (SELECT FROM t) FOR NO KEY UPDATE),
p AS (INSERT INTO posts (thread_id, author_id, number, body_source, body_html, quoted_post_id,
submission_key, created_at, edited_by_moderator, revision_count, kudos_count, search_vector,
search_text)
SELECT :thread_id, :author_id, t.number, :body_source, :body_html, :quoted_post_id,
:submission_key, :now, false, 1, 0,
setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', :search_title), 'A')
|| setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', :search_body), 'B'), :search_body
FROM t, a
WHERE t.board_id = :board_id AND t.removed_at IS NULL AND (NOT t.locked OR :by_moderator)
AND a.banned_at IS NULL AND (a.suspended_until IS NULL OR a.suspended_until <= :now)
ON CONFLICT (author_id, submission_key) DO NOTHING
RETURNING id, number),
ct AS (UPDATE threads SET post_number_seq = p.number, reply_count = reply_count + 1,
last_post_at = :now, last_post_author_id = :author_id FROM p WHERE threads.id = :thread_id),
r AS (INSERT INTO post_revisions (post_id, number, body_source, body_html, editor_id,
by_moderator, reason, created_at)
SELECT p.id, 1, :body_source, :body_html, :author_id, false, '', :now FROM p),
ca AS (UPDATE users SET post_count = post_count + 1 FROM p WHERE users.id = :author_id
RETURNING users.id),
cb AS (UPDATE boards SET post_count = post_count + 1,
last_post_at = CASE WHEN last_post_at IS NULL OR last_post_at <= :now THEN :now
ELSE last_post_at END,
last_thread_id = CASE WHEN last_post_at IS NULL OR last_post_at <= :now THEN :thread_id
ELSE last_thread_id END
FROM t WHERE boards.id = t.board_id AND EXISTS (SELECT FROM p) AND EXISTS (SELECT FROM ca)
RETURNING boards.id),
w AS (INSERT INTO thread_watches (thread_id, user_id, watching, created_at)
SELECT :thread_id, :author_id, true, :now FROM p WHERE NOT EXISTS (
SELECT FROM notification_settings WHERE user_id = :author_id AND watch_on_post IS false)
ON CONFLICT DO NOTHING),
rm AS (INSERT INTO thread_reads (user_id, thread_id, last_read_number, updated_at)
SELECT :author_id, :thread_id, p.number, :now FROM p
ON CONFLICT (user_id, thread_id) DO UPDATE SET
last_read_number = GREATEST(thread_reads.last_read_number, excluded.last_read_number),
updated_at = :now),
n AS (INSERT INTO notifications (recipient_id, kind, actor_id, post_id, thread_id, count,
dedupe_key, created_at, updated_at, email_state)
SELECT wr.user_id, :reply_kind, :author_id, p.id, :thread_id, 1,
CAST(:post_key_prefix AS TEXT) || p.id, :now, :now, :pending
FROM (SELECT user_id FROM thread_watches WHERE thread_id = :thread_id AND watching IS true
UNION SELECT bw.user_id FROM board_watches bw JOIN t ON bw.board_id = t.board_id
WHERE NOT EXISTS (SELECT FROM thread_watches tw WHERE tw.thread_id = :thread_id
AND tw.user_id = bw.user_id AND tw.watching IS false)) wr
JOIN users u ON u.id = wr.user_id CROSS JOIN p CROSS JOIN t JOIN boards b ON b.id = t.board_id
WHERE wr.user_id <> :author_id AND u.banned_at IS NULL
AND (NOT b.moderators_only OR u.role IN ({_STAFF_ROLES}))
AND wr.user_id <> ALL(CAST(:notified_directly AS INTEGER[]))
ON CONFLICT DO NOTHING),
g AS ({generation.INCREMENT} AND EXISTS (SELECT FROM cb))
SELECT p.id, p.number FROM t LEFT JOIN p ON true LEFT JOIN ca ON true LEFT JOIN cb ON true"""  # noqa: S608 - constants only
).bindparams(
    sa.bindparam("now", type_=UTCDateTime),
    sa.bindparam("by_moderator", type_=sa.Boolean),
)


def _explain_refusal(session: Session, author: User, thread: Any, now: datetime) -> Any:
    """After a reply's INSERT wrote nothing, and not for a used submission key: raise the
    PermissionDenied that says why, from the author's and the thread's rows as they are
    (under the write lock). Returns the thread with its new board when it was moved to a
    board the author can see: the reply is to be written again, to it."""
    session.refresh(author, ["banned_at", "suspended_until"])
    ensure_can_post(author, now)
    board_id, removed_at, locked = session.execute(
        sa.select(_threads.c.board_id, _threads.c.removed_at, _threads.c.locked).where(
            _threads.c.id == thread.id
        )
    ).one()
    moved = board_id != thread.board_id
    thread = _refuse_changed_thread(session, author, thread, board_id, removed_at, locked)
    if not moved:  # pragma: no cover - the rows show no reason: a bug in _reply_allowed
        raise RuntimeError(f"a reply to thread {thread.id} was refused for no reason found")
    return thread


def create_thread(
    session: Session,
    author: User,
    board: Board,
    title: str,
    body: str,
    submission_key: str | None = None,
) -> Thread:
    """Create a thread with its first post and return it.

    A repeated submission_key returns the thread created the first time. Raises
    PostingError for invalid input and PermissionDenied when the author may not post here.
    """
    ensure_can_post(author)
    if not can_see_board(author, board):
        raise PermissionDenied("You cannot post in this board.")
    submission_key = stored_submission_key(submission_key)
    earlier = _find_resubmission(session, author, submission_key)
    if earlier is not None:
        return earlier.thread
    title = clean_title(title)
    rendered = render_body(session, body)
    now = utcnow()

    def write() -> Post:
        thread = Thread(
            board_id=board.id,
            author_id=author.id,
            title=title,
            created_at=now,
            last_post_at=now,
            last_post_author_id=author.id,
        )
        session.add(thread)
        session.flush()
        return _add_first_post(session, author, thread, rendered, submission_key, title)

    post, new = _once(session, author, submission_key, write)
    thread = post.thread
    if not new:
        return thread
    session.execute(
        sa.update(Board).where(Board.id == board.id).values(thread_count=Board.thread_count + 1)
    )
    fanout.post_created(session, post, thread, board, rendered.mentioned)
    # The counters changed in SQL: the thread's attributes reload when next read (a view that
    # only redirects never reads them, so nothing is queried).
    session.expire(thread)
    return thread


def reply(
    session: Session,
    author: User,
    thread: Thread | ShownThread,
    body: str,
    quoted_post: Post | None = None,
    submission_key: str | None = None,
    rendered: Body | None = None,
) -> Post:
    """Add a reply to a thread and return it (the earlier post for a repeated submission).

    ``thread`` is the entity with its board, or the thread read as a plain row with its
    board (``reading.thread_for_claim_to_write``: the reply view's, no entity to load).
    ``rendered`` is ``render_body(session, body)`` when the caller rendered it already
    (before taking the write lock). Raises PostingError for invalid input, PermissionDenied
    when the thread is locked or the author may not post (then nothing was written).
    """
    post = write_reply(session, author, thread, body, quoted_post, submission_key, rendered)
    if isinstance(post, NewPost):
        # As a flush would have left it: made from the values stored, and persistent.
        return _as_persistent(session, Post(id=post.id, number=post.number, **post.values))
    return post


def write_reply(
    session: Session,
    author: User,
    thread: Thread | ShownThread,
    body: str,
    quoted_post: Post | None = None,
    submission_key: str | None = None,
    rendered: Body | None = None,
) -> Post | NewPost:
    """Do what ``reply`` does, and return the new post as its values (NewPost), or the
    earlier Post for a repeated submission: for a caller that only needs its id, number
    and thread (the reply view's redirect), without making the entity."""
    ensure_can_reply(author, thread)
    submission_key = stored_submission_key(submission_key)
    rendered = rendered or render_body(session, body)
    if quoted_post is not None and quoted_post.thread_id != thread.id:
        quoted_post = None
    quoted_id = quoted_post.id if quoted_post is not None else None
    quoted_author = quoted_post.author if quoted_post is not None else None
    named = fanout.directly_notified(author.id, rendered.mentioned, quoted_author)
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    add = _add_reply_postgresql if postgresql else _add_reply
    now = utcnow()
    post = None
    if postgresql and not named and in_autocommit(connection):
        # The reply view's reads ran in autocommit, and with nobody named to notify directly
        # the reply is _REPLY_POSTGRESQL alone (post_created then writes nothing): it runs
        # as its own transaction, without BEGIN and COMMIT (two round trips), and holds the
        # thread's row lock only while it runs. When it wrote nothing (a resubmission, a
        # refusal), it is run again in a transaction, whose locks hold while the reason is
        # read.
        write_alone(connection)
        post = add(session, author, thread, rendered, submission_key, quoted_id, named, now)
    if post is None:
        begin_transaction(connection)
        post = add(session, author, thread, rendered, submission_key, quoted_id, named, now)
    if post is None:
        # The same submission was posted before, or just now by a copy that won the race
        # (the unique key on author and submission key left this one's post out)...
        earlier = _find_resubmission(session, author, submission_key)
        if earlier is not None:
            return earlier
        # ...or the reply was refused: raises why, unless the thread only moved to a board
        # the author can see, where it is written again.
        thread = _explain_refusal(session, author, thread, now)
        post = add(session, author, thread, rendered, submission_key, quoted_id, named, now)
        if post is None:  # pragma: no cover - the same rows, under the same lock
            raise RuntimeError(f"a reply to thread {thread.id} was refused twice")
    fanout.post_created(
        session, post, thread, thread.board, rendered.mentioned, quoted_author,
        watchers_notified=postgresql,
    )  # fmt: skip
    if isinstance(thread, Thread):
        # The counters changed in SQL: the thread's attributes reload when next read (a view
        # that only redirects never reads them, so nothing is queried).
        session.expire(thread)
    return post


def quote_markdown(post: Post, permalink: str) -> str:
    """Return the Markdown that opens a reply quoting ``post``, linking back to it."""
    quoted = "\n".join(f"> {line}" if line else ">" for line in post.body_source.splitlines())
    return f"> **{post.author.username}** [wrote]({permalink}):\n>\n{quoted}\n\n"


def edit_post(
    session: Session,
    editor: User,
    post: Post,
    body: str,
    title: str | None = None,
    reason: str = "",
) -> PostRevision:
    """Save a new revision of a post (and the thread title for a first post); return it.

    An edit that changes nothing (a resubmitted form) adds no revision and returns the
    latest one. Raises PermissionDenied when the editor may not edit this post, PostingError
    for invalid input.
    """
    ensure_can_edit(editor, post)
    rendered = render_body(session, body)
    source, html = rendered.source, rendered.html
    thread = post.thread
    new_title = clean_title(title) if (title is not None and post.is_first) else None
    if source == post.body_source and new_title in (None, thread.title):
        return session.scalars(
            sa.select(PostRevision)
            .where(PostRevision.post_id == post.id)
            .order_by(PostRevision.number.desc())
            .limit(1)
        ).one()
    by_moderator = editor.id != post.author_id and editor.is_moderator
    reason = " ".join(reason.split())
    if by_moderator and not reason:
        raise PostingError(
            "reason", "Say why you are editing this member's post: the reason is kept with it."
        )
    now = utcnow()
    post.revision_count += 1
    revision = PostRevision(
        post_id=post.id,
        number=post.revision_count,
        title=new_title,
        body_source=source,
        body_html=html,
        editor_id=editor.id,
        by_moderator=by_moderator,
        reason=reason.strip()[:500],
        created_at=now,
    )
    session.add(revision)
    post.body_source, post.body_html = source, html
    post.edited_at, post.edited_by_id, post.edited_by_moderator = now, editor.id, by_moderator
    if new_title is not None:
        thread.title = new_title
    session.flush()
    if by_moderator:
        record(
            session, editor, Action.EDIT_POST, reason=revision.reason, post=post,
            target_user_id=post.author_id, detail=f"revision {revision.number}",
        )  # fmt: skip
    index_post(session, post, thread.title if post.is_first else None, rendered.text)
    fanout.post_edited(session, post, thread.board, editor, rendered.mentioned)
    return revision


def _insert_ignoring_duplicates(session: Session, model: type, **values: object) -> bool:
    """Insert a row unless it violates a unique constraint; return whether it was inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**values).on_conflict_do_nothing().returning(model.id)
    return session.execute(statement).scalar_one_or_none() is not None


def give_kudos(session: Session, giver: User, post: Post) -> bool:
    """Record the giver's kudos for a post; return False if they had already given it.

    Raises PermissionDenied for one's own post, a removed post, or a sanctioned giver.
    """
    ensure_can_post(giver)
    if post.author_id == giver.id:
        raise PermissionDenied("You cannot give kudos to your own post.")
    if post.is_removed:
        raise PermissionDenied("This post was removed.")
    if not _insert_ignoring_duplicates(
        session, Kudos, post_id=post.id, giver_id=giver.id, created_at=utcnow()
    ):
        return False
    session.execute(
        sa.update(Post).where(Post.id == post.id).values(kudos_count=Post.kudos_count + 1)
    )
    session.execute(
        sa.update(User)
        .where(User.id == post.author_id)
        .values(kudos_received=User.kudos_received + 1)
    )
    fanout.kudos_given(session, post, giver)
    session.refresh(post)
    return True


def accept_solution(session: Session, actor: User, post: Post) -> None:
    """Mark a reply as its thread's solution (replacing any earlier one).

    Raises PermissionDenied if the actor is neither the thread's author nor a moderator,
    PostingError if the post is the first post or removed.
    """
    thread = post.thread
    ensure_can_accept(actor, thread)
    if post.is_first:
        raise PostingError("post", "The question itself cannot be its own solution.")
    if post.is_removed:
        raise PostingError("post", "A removed post cannot be the solution.")
    thread.solution_post_id = post.id
    session.flush()
    fanout.solution_accepted(session, post, actor)


def unaccept_solution(session: Session, actor: User, thread: Thread) -> None:
    """Clear the thread's accepted solution. Raises PermissionDenied as accept_solution."""
    ensure_can_accept(actor, thread)
    thread.solution_post_id = None
    session.flush()
