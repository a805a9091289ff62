"""The request class: what arrives in URLs, forms and query strings, before any view sees it."""

from __future__ import annotations

from functools import cached_property

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter

# The largest id a row can have: ids are INTEGER columns (PostgreSQL's int4). A larger number
# in a URL would make the database refuse the query (a 500) instead of finding nothing.
MAX_ID = 2**31 - 1


def _without_nul(values: MultiDict) -> ImmutableMultiDict:
    return ImmutableMultiDict(
        [
            (key.replace("\x00", ""), value.replace("\x00", ""))
            for key, value in values.items(multi=True)
        ]
    )


class TownhallRequest(Request):
    """Form and query values with NUL characters removed.

    No person types a NUL, PostgreSQL refuses to store one (a 500 otherwise), and some
    browsers and parsers stop reading at one: it is only ever an attack or garbage.
    """

    def _load_form_data(self) -> None:
        super()._load_form_data()
        self.form = _without_nul(self.form)

    @cached_property
    def args(self) -> ImmutableMultiDict:  # type: ignore[override]
        return _without_nul(super().args)


class IdConverter(IntegerConverter):
    """``<int:…>`` in routes: a number up to MAX_ID; anything larger does not match (404)."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def positive_int(text: str | None, maximum: int = MAX_ID) -> int | None:
    """Return ``text`` as a number from 1 to ``maximum``, or None for anything else.

    Stricter than ``str.isdigit`` then ``int``: "²" is a digit to ``isdigit`` but not to
    ``int``, and ``int`` refuses more than 4,300 digits; both would be a 500.
    """
    if not text or len(text) > len(str(maximum)) or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= maximum else None
