"""Pages for reading and writing the forum: boards, threads, posts."""

from __future__ import annotations

import functools

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    get_template_attribute,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from forum import fragments, notifications, pages, ratelimits, unread
from forum.accounts import viewer as viewers
from forum.boards import posting, reading, viewcounts
from forum.boards.forms import EditForm, ReplyForm, ThreadForm, new_submission_key
from forum.database import reads_first, start_writing, utcnow
from forum.extensions import db
from forum.forms import ActionForm, add_field_error
from forum.permissions import NotFound, PermissionDenied, ensure_can_edit, ensure_can_post
from forum.requests import positive_int
from forum.templating import cached_url_for, time_ago

bp = Blueprint("boards", __name__)


def _viewer():  # noqa: ANN202
    # The member itself, not the proxy: each attribute read through current_user looks the
    # member up again (a reply read it about 150 times).
    if not current_user.is_authenticated:
        return None
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _refuse_sanctioned() -> None:
    """A suspended member gets the reason (and until when) instead of a form to fill."""
    try:
        ensure_can_post(current_user)
    except PermissionDenied as denied:
        abort(403, str(denied))


def _thread_or_404(thread_id: int):  # noqa: ANN202
    try:
        return reading.get_thread(db.session, _viewer(), thread_id)
    except NotFound:
        abort(404)


def _post_or_404(post_id: int):  # noqa: ANN202
    try:
        return reading.get_post(db.session, _viewer(), post_id)
    except NotFound:
        abort(404)


def _tombstone_or_404(thread_id: int | None = None, post_id: int | None = None):  # noqa: ANN202
    """Return the "thread removed" page (410) a member gets instead of a removed thread."""
    removed = reading.removed_thread(db.session, _viewer(), thread_id=thread_id, post_id=post_id)
    if removed is None:
        abort(404)
    page = render_template("boards/thread_removed.html", board=removed.board, reason=removed.reason)
    return page, 410


def post_url(post) -> str:  # noqa: ANN001
    """Return the URL of the thread page that shows ``post``, anchored at it."""
    page = reading.page_of(post.number, current_app.config["POSTS_PER_PAGE"])
    args = {"page": page} if page > 1 else {}
    # The thread page's URL is the same for every post on that page: remembered, with the
    # anchor (which url_for would leave as it is: letters, digits and "-") added to it.
    return f"{cached_url_for('boards.thread', thread_id=post.thread_id, **args)}#post-{post.id}"


@bp.get("/")
@reads_first
def index():  # noqa: ANN201
    viewer = _viewer()
    boards = reading.board_list(db.session, viewer)
    now = utcnow()
    ago = {board.id: time_ago(board.last_post_at, now) for board in boards}
    # The key is every value the fragment shows: the rows and their relative times.
    key = fragments.key_of(
        "board-list", request.host, request.script_root, [tuple(b) for b in boards], ago
    )

    def render_page(_holes) -> str:  # noqa: ANN001
        boards_html = fragments.cached(
            key, lambda: render_template("boards/_boards.html", boards=boards, ago=ago)
        )
        return render_template(
            "boards/index.html",
            boards_html=Markup(boards_html),  # noqa: S704 - rendered by our own template
        )

    return pages.cached("board-list", (key,), render_page, {})


@bp.get("/b/<slug>")
@reads_first
def board(slug: str):  # noqa: ANN201
    claimed = viewers.claim()
    # A page value that is no page is a 404 once the board is known (as for a thread).
    number = positive_int(request.args.get("page", "1"), 1_000_000)
    per_page = current_app.config["THREADS_PER_PAGE"]
    try:
        if claimed is None:
            viewer = _viewer()
            shown = reading.board_page(db.session, viewer, slug, number or 1, per_page)
        else:  # the signed-in member comes with the board (and its threads), in one query
            viewer, shown = reading.board_page_for_claim(
                db.session, claimed, slug, number or 1, per_page, viewers.accept
            )
    except NotFound:
        abort(404)
    board, watching_board, page = shown.board, shown.watching, shown.threads
    notifications.remember_unread_count(shown.bell)
    if number is None:
        abort(404)
    if page.number > page.pages:
        abort(404)
    now = utcnow()
    marks = {t.id: t.last_read_number for t in page.items} if viewer is not None else {}
    unread_states = unread.states_from_marks(viewer, page.items, marks, now)
    ago = {thread.id: time_ago(thread.last_post_at, now) for thread in page.items}
    # The key is every value the fragment shows: the board's name, the rows (a member's
    # read marks among them), their unread states and relative times.
    key = fragments.key_of(
        "board-threads",
        request.host,
        request.script_root,
        board.id,
        board.name,
        page.number,
        page.per_page,
        [tuple(row) for row in page.items],
        sorted(unread_states.items()),
        ago,
    )

    def render_page(_holes) -> str:  # noqa: ANN001
        threads_html = fragments.cached(
            key,
            lambda: render_template(
                "boards/_threads.html",
                board=board,
                page=page,
                unread_states=unread_states,
                ago=ago,
                first_unread_url=first_unread_url,
            ),
        )
        return render_template(
            "boards/board.html",
            board=board,
            page=page,
            threads_html=Markup(threads_html),  # noqa: S704 - rendered by our own template
            watching_board=watching_board,
        )

    # The page's key: the threads' key and the rest the page shows (the board's description
    # and slug, its pages, the viewer's watch state).
    return pages.cached(
        "board",
        (key, board.slug, board.description, page.total, watching_board),
        render_page,
        {},
    )


def first_unread_url(thread, number: int) -> str:  # noqa: ANN001
    """Return the URL of post ``number`` of a thread, on its page, anchored at it."""
    page = reading.page_of(number, current_app.config["POSTS_PER_PAGE"])
    args = {"page": page} if page > 1 else {}
    return url_for("boards.thread", thread_id=thread.id, _anchor=f"p{number}", **args)


@bp.route("/b/<slug>/new", methods=["GET", "POST"])
@login_required
@ratelimits.posting
def new_thread(slug: str):  # noqa: ANN201
    try:
        board = reading.get_board(db.session, _viewer(), slug)
    except NotFound:
        abort(404)
    _refuse_sanctioned()
    form = ThreadForm()
    if form.validate_on_submit():
        try:
            thread = posting.create_thread(
                db.session,
                current_user,
                board,
                form.title.data or "",
                form.body.data or "",
                submission_key=form.submission_key.data,
            )
        except posting.PostingError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        except PermissionDenied as denied:
            db.session.rollback()
            abort(403, str(denied))
        else:
            # The URL is built before the commit, which expires every loaded row: reading
            # them back afterwards would cost a query (and on SQLite the write lock again).
            location = url_for("boards.thread", thread_id=thread.id)
            db.session.commit()
            return redirect(location)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("boards/new_thread.html", board=board, form=form), status


@bp.get("/t/<int:thread_id>")
@reads_first
def thread(thread_id: int):  # noqa: ANN201
    claimed = viewers.claim()
    # A page value that is no page is a 404 once the thread is known (a removed thread's
    # tombstone comes first); its posts are read for page 1 meanwhile.
    number = positive_int(request.args.get("page", "1"), 1_000_000)
    per_page = current_app.config["POSTS_PER_PAGE"]
    try:
        if claimed is None:
            viewer = _viewer()
            shown, page = reading.thread_page(db.session, viewer, thread_id, number or 1, per_page)
        else:  # the signed-in member comes with the thread (and its posts), in one query
            viewer, shown, page = reading.thread_page_for_claim(
                db.session, claimed, thread_id, number or 1, per_page, viewers.accept
            )
    except NotFound:
        return _tombstone_or_404(thread_id=thread_id)
    thread = shown.thread
    notifications.remember_unread_count(shown.unread_notifications)
    if number is None:
        abort(404)
    if page.number > page.pages:
        abort(404)
    is_moderator = viewer is not None and viewer.is_moderator

    def render_posts() -> str:
        posts = reading.shown_posts(page.items)
        return render_template(
            "boards/_posts.html",
            thread=thread,
            page=page,
            posts=posts,
            kudos_given={post.id for post in posts if post.kudos_given},
        )

    posts_cache_key = posts_key(thread, page, viewer)
    first_post = reading.first_post(db.session, thread) if is_moderator else None

    def render_page(holes) -> str:  # noqa: ANN001
        return render_template(
            "boards/thread.html",
            thread=thread,
            first_post=first_post,
            page=page,
            posts_html=Markup(fragments.cached(posts_cache_key, render_posts)),  # noqa: S704 - ours
            watching_thread=shown.watching,
            reply_body_field=_reply_body_field() if viewer else None,
            submission_key=holes["submission_key"],
            post_url=post_url,
            views=holes["views"],
        )

    views = viewcounts.tally()
    shown_views = thread.view_count + views.pending(thread.id) + 1
    # The page's key: the posts' key (every value of the posts) and the rest the page shows
    # (the thread's row, the moderator's first post, the viewer's watch state).
    html = pages.cached(
        "thread",
        (
            posts_cache_key,
            thread,
            (first_post.id, first_post.removal_reason) if first_post is not None else None,
            shown.watching,
        ),
        render_page,
        {
            "views": f"{shown_views} {'view' if shown_views == 1 else 'views'}",
            "submission_key": new_submission_key() if viewer else "",
        },
    )
    views.count(thread.id)
    last_shown = page.items[-1].number if page.items else 0
    if viewer is not None and last_shown > shown.read_mark:
        # Written after rendering: committing first would expire every loaded row and make
        # the template reload them. On PostgreSQL the page's reads ran in autocommit and
        # the write is one statement of its own; otherwise the read transaction ends before
        # the write so that, on SQLite, the write waits for other writers instead of failing.
        thread_id, viewer_id = thread.id, viewer.id
        if not unread.mark_read_alone(db.session, viewer_id, thread_id, last_shown):
            start_writing(db.session)
            unread.mark_read(db.session, viewer_id, thread_id, last_shown)
            db.session.commit()
    if views.due():
        pending = views.take()
        try:
            start_writing(db.session)
            viewcounts.write(db.session, pending)
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            views.restore(pending)  # written with the next flush instead
    return html


def _reply_body_field() -> Markup:
    """Return the thread page's reply box body field: an empty ReplyForm's, rendered once per
    process (it is the same on every page; building and rendering the form each time cost
    more than the rest of the page). The CSRF and submission key fields are per page."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    html = app.extensions.get("reply_body_field")
    if html is None:
        html = get_template_attribute("_macros.html", "field")(ReplyForm().body, rows=6)
        app.extensions["reply_body_field"] = html
    return html


def posts_key(thread, page, viewer) -> str:  # noqa: ANN001
    """Return the cache key of a thread page's posts: every value boards/_posts.html reads,
    so that any change (a reply, an edit, a removal, kudos, a badge, the viewer's role or
    suspension, another session) is another key.

    Each post's row (``reading.thread_posts``) holds every column the template shows (body,
    edit, removal, kudos count, the author's and editor's names and the columns of their
    badges, whether the viewer gave kudos)."""
    viewer_part = None
    if viewer is not None:
        viewer_part = (
            viewer.id,
            viewer.role,
            viewer.is_moderator,
            viewer.is_suspended(),
            # The fragment's forms carry tokens signed from this session's CSRF secret.
            pages.csrf_secret(),
        )
    return fragments.key_of(
        "thread-posts",
        request.script_root,
        thread.id,
        thread.author_id,
        thread.solution_post_id,
        thread.removed_at,
        thread.locked,
        page.number,
        page.per_page,
        [tuple(row) for row in page.items],
        viewer_part,
    )


def _with_thread_to_write(view):  # noqa: ANN001, ANN202
    """Load the thread a view writes to and the signed-in member in one query, before the
    view's other decorators ask Flask-Login for the member (which would query for them on
    its own). The view gets the thread (or None: it loads it itself) as ``loaded_thread``."""

    @functools.wraps(view)
    def wrapper(thread_id: int, **kwargs):  # noqa: ANN003, ANN202
        claimed = viewers.claim()
        thread = None
        if claimed is not None:
            _member, thread = reading.thread_for_claim_to_write(
                db.session, claimed, thread_id, viewers.accept
            )
        return view(thread_id, loaded_thread=thread, **kwargs)

    return wrapper


@bp.route("/t/<int:thread_id>/reply", methods=["GET", "POST"])
@reads_first  # posting.write_reply decides how the reply is written
@_with_thread_to_write
@login_required
@ratelimits.posting
def reply(thread_id: int, loaded_thread=None):  # noqa: ANN001, ANN201
    member = _viewer()
    thread = loaded_thread or _thread_or_404(thread_id)
    _refuse_sanctioned()
    posted = _posted_reply()
    if posted is not None:
        # The usual POST, without a ReplyForm: building one signed a new CSRF token for
        # nothing (CSRFProtect checked the one sent before the view ran) and cost more than
        # the reply's statements. A form is built only to show errors.
        body, submission_key, quote = posted
        quoted = _quoted_post(member, thread, request.values.get("quote") or quote)
        return _post_reply(member, thread, body, submission_key, quoted)
    form = ReplyForm()
    quoted = _quoted_post(member, thread, request.values.get("quote") or form.quote_id.data)
    if request.method == "GET" and quoted is not None:
        form.quote_id.data = str(quoted.id)
        permalink_url = url_for("boards.permalink", post_id=quoted.id)
        form.body.data = posting.quote_markdown(quoted, permalink_url)
    if form.validate_on_submit():
        return _post_reply(member, thread, form.body.data or "", form.submission_key.data, quoted)
    return _reply_page(thread, form, quoted)


def _posted_reply() -> tuple[str, str | None, str | None] | None:
    """Return a reply form's body, submission key and quoted post id as ReplyForm reads
    them from a POST of form fields (None for anything else: ReplyForm reads it). A field
    left out is the form's default: no body, a new submission key, no quote."""
    if request.method != "POST" or request.files or not request.form:
        return None
    fields = request.form
    submission_key = fields.get("submission_key")
    if submission_key is None:
        submission_key = new_submission_key()
    return fields.get("body") or "", submission_key, fields.get("quote_id")


def _quoted_post(member, thread, quote_id: str | None):  # noqa: ANN001, ANN202
    """Return the post of this thread that the reply quotes (by id), or None."""
    post_id = positive_int(quote_id)
    if post_id is None:
        return None
    try:
        quoted = reading.get_post(db.session, member, post_id)
    except NotFound:
        return None
    if quoted.thread_id != thread.id or quoted.is_removed:
        return None
    return quoted


def _post_reply(member, thread, body: str, submission_key: str | None, quoted):  # noqa: ANN001, ANN202
    """Write the reply and redirect to it, or answer with why it was not written."""
    try:
        # Markdown is rendered and sanitized before the write lock is taken (SQLite).
        rendered = posting.render_body(db.session, body)
        start_writing(db.session, keep_loaded=True)
        post = posting.write_reply(
            db.session,
            member,
            thread,
            body,
            quoted_post=quoted,
            submission_key=submission_key,
            rendered=rendered,
        )
    except posting.PostingError as error:
        db.session.rollback()
        form = ReplyForm()
        form.validate_on_submit()
        add_field_error(form, error.field, error.message)
        return _reply_page(thread, form, quoted)
    except PermissionDenied as denied:
        db.session.rollback()
        if member.is_suspended():
            abort(403, str(denied))
        # A thread locked meanwhile: back to it, where the page says so.
        flash(str(denied), "error")
        return redirect(url_for("boards.thread", thread_id=thread.id))
    location = post_url(post)  # before the commit expires the post (see new_thread)
    db.session.commit()
    return redirect(location)


def _reply_page(thread, form, quoted):  # noqa: ANN001, ANN202
    status = 422 if form.errors or form.form_errors else 200
    return render_template("boards/reply.html", thread=thread, form=form, quoted=quoted), status


@bp.get("/posts/<int:post_id>")
def permalink(post_id: int):  # noqa: ANN201
    try:
        post = reading.get_post(db.session, _viewer(), post_id)
    except NotFound:
        return _tombstone_or_404(post_id=post_id)
    return redirect(post_url(post))


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit_post(post_id: int):  # noqa: ANN201
    post = _post_or_404(post_id)
    try:
        ensure_can_edit(current_user, post)
    except PermissionDenied as denied:
        abort(403, str(denied))
    form = EditForm()
    if post.author_id != current_user.id:
        form.reason.label.text = "Reason for the edit (required for a moderator’s edit)"
    if request.method == "GET":
        form.body.data = post.body_source
        form.title.data = post.thread.title if post.is_first else None
    if form.validate_on_submit():
        try:
            posting.edit_post(
                db.session,
                current_user,
                post,
                form.body.data or "",
                title=form.title.data if post.is_first else None,
                reason=form.reason.data or "",
            )
        except posting.PostingError as error:
            db.session.rollback()
            add_field_error(form, error.field, error.message)
        else:
            location = post_url(post)  # before the commit expires the post (see new_thread)
            db.session.commit()
            flash("Your changes are saved.", "success")
            return redirect(location)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("boards/edit_post.html", post=post, form=form), status


@bp.get("/posts/<int:post_id>/revisions")
def revisions(post_id: int):  # noqa: ANN201
    post = _post_or_404(post_id)
    if post.is_removed and not (_viewer() and current_user.is_moderator):
        abort(404)
    return render_template(
        "boards/revisions.html",
        post=post,
        revisions=reading.post_revisions(db.session, post),
        post_url=post_url,
    )


@bp.post("/posts/<int:post_id>/kudos")
@login_required
def kudos(post_id: int):  # noqa: ANN201
    post = _post_or_404(post_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        posting.give_kudos(db.session, current_user, post)
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, str(denied))
    location = post_url(post)  # before the commit expires the post (see new_thread)
    db.session.commit()
    return redirect(location)


@bp.post("/posts/<int:post_id>/accept")
@login_required
def accept(post_id: int):  # noqa: ANN201
    post = _post_or_404(post_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        posting.accept_solution(db.session, current_user, post)
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, str(denied))
    except posting.PostingError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(post_url(post))
    location = post_url(post)  # before the commit expires the post (see new_thread)
    db.session.commit()
    flash("Marked as the solution.", "success")
    return redirect(location)


@bp.post("/t/<int:thread_id>/unaccept")
@login_required
def unaccept(thread_id: int):  # noqa: ANN201
    thread = _thread_or_404(thread_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        posting.unaccept_solution(db.session, current_user, thread)
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, str(denied))
    db.session.commit()
    flash("The thread is no longer marked solved.", "info")
    return redirect(url_for("boards.thread", thread_id=thread.id))
