"""The request class: what arrives in forms and query strings, before any view sees it."""

from __future__ import annotations

from functools import cached_property

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict


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
