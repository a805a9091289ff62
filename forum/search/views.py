"""The search page."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from forum import fragments
from forum.boards.models import Board
from forum.database import Prepared, reads_first
from forum.extensions import db
from forum.requests import positive_int
from forum.search import service
from forum.search.forms import SearchForm

bp = Blueprint("search", __name__)


def _viewer():  # noqa: ANN202
    return current_user if current_user.is_authenticated else None


def _board_choices(viewer) -> list[tuple[str, str]]:  # noqa: ANN001
    """Return the slug and name of each board the viewer may search, in display order.

    Two columns, not reading.visible_boards' boards with their last thread and its poster
    loaded: the form shows names only, and loading those cost a millisecond a search."""
    statement = _board_choices_statement(viewer is not None and viewer.is_moderator)
    # On the driver's cursor: SQLAlchemy's execution cost more than the statement.
    return statement.all(db.session.connection(), {})


@functools.cache
def _board_choices_statement(moderator: bool) -> Prepared:
    boards = Board.__table__
    statement = sa.select(boards.c.slug, boards.c.name).order_by(boards.c.position, boards.c.name)
    if not moderator:
        statement = statement.where(boards.c.moderators_only.is_(False))
    return Prepared(statement)


_FILTER_FIELDS = ("board", "author", "since", "until", "sort", "solved")


def _filters_html(form: SearchForm, choices: list[tuple[str, str]]) -> Markup:
    """Return the form's filters, rendered once per board list and filter values.

    WTForms' rendering of the six fields took 0.4 ms, a tenth of an uncached search, and
    every search that sets the same filters (most set none) shows the same: the key holds
    what each field renders from (the submitted text, its value, its errors)."""
    fields = [form[name] for name in _FILTER_FIELDS]
    state = [(f.name, f.raw_data, f.data, [str(error) for error in f.errors]) for f in fields]
    html = fragments.cached(
        fragments.key_of("search-filters", choices, state),
        lambda: render_template("search/_filters.html", form=form),
    )
    return Markup(html)  # noqa: S704 - rendered by Jinja, autoescaped


@bp.get("/search")
@reads_first
def search():  # noqa: ANN201
    form = SearchForm(request.args)
    form.board.choices = [SelectChoice("", "All boards")] + [
        SelectChoice(slug, name) for slug, name in _board_choices(_viewer())
    ]
    page = positive_int(request.args.get("page", "1"), 1000)
    if page is None:
        abort(404)
    results = None
    problem = None
    text = (form.q.data or "").strip()
    if text and form.validate():
        filters = service.SearchFilters(
            board_slug=form.board.data or None,
            author=form.author.data or None,
            solved_only=bool(form.solved.data),
            since=form.since.data,
            until=form.until.data,
            newest_first=form.sort.data == "newest",
        )
        try:
            results = service.search(
                db.session,
                _viewer(),
                text,
                filters,
                page,
                current_app.config["SEARCH_RESULTS_PER_PAGE"],
            )
        except service.QueryError as error:
            problem = str(error)
    elif text:
        problem = "Please correct the marked fields."
    # A search that cannot run is advice, not an error: the page says what to change.
    # The content is the same for every request with the same arguments, board list and
    # results (its key holds all of them), so it is rendered once.
    choices = [(choice.value, choice.label) for choice in form.board.choices]
    key = fragments.key_of(
        "search-page",
        request.query_string,
        choices,
        problem,
        results,  # pickled by key_of, as it is: quicker than its JSON
    )
    content = fragments.cached(
        key,
        lambda: render_template(
            "search/_content.html",
            form=form,
            filters_html=_filters_html(form, choices),
            results=results,
            problem=problem,
            searched=text,
        ),
    )
    return render_template(
        "search/results.html",
        content=Markup(content),  # noqa: S704 - rendered by Jinja above, autoescaped
        searched=text,
    )
