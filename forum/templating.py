"""Jinja filters and globals shared by every page."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request, url_for

from forum.database import utcnow
from forum.redirects import query_values


def format_datetime(value: datetime | None) -> str:
    """Return an unambiguous UTC timestamp for people, e.g. "3 Mar 2026, 14:05 UTC"."""
    if value is None:
        return ""
    return value.strftime("%-d %b %Y, %H:%M UTC")


def time_ago(value: datetime | None, now: datetime | None = None) -> str:
    """Return a short relative time such as "5 minutes ago"."""
    if value is None:
        return ""
    seconds = int(((now or utcnow()) - value).total_seconds())
    if seconds < 60:
        return "just now"
    return _minutes_ago(seconds // 60)


@functools.lru_cache(maxsize=4096)
def _minutes_ago(minutes: int) -> str:
    """The text of ``time_ago`` for a time ``minutes`` whole minutes ago (at least one).

    Every unit is a whole number of minutes, so the text depends on the minutes alone; a
    board page shows 30 of them on every request, which the cache makes a lookup."""
    for size, unit in (
        (365 * 24 * 60, "year"),
        (30 * 24 * 60, "month"),
        (24 * 60, "day"),
        (60, "hour"),
        (1, "minute"),
    ):
        if minutes >= size:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    raise ValueError(minutes)  # pragma: no cover - minutes >= 1


def url_for_page(page: int) -> str:
    """Return the current URL with another ``page`` query value."""
    args: dict[str, Any] = {**request.view_args, **query_values()}  # type: ignore[dict-item]
    args["page"] = page
    return url_for(request.endpoint or "boards.index", **args)


# Relative URLs templates built, by (host, script root, endpoint, values): a page builds
# dozens, each costing more than the lookup. Bounded: emptied when it grows past this.
URL_CACHE_SIZE = 20_000


def cached_url_for(endpoint: str, **values: Any) -> str:
    """``url_for`` for templates, remembering the URLs it built.

    A relative URL depends only on the URL map, the request's host and script root, the
    endpoint and the values; calls with ``_external``, ``_anchor`` and the like, relative
    endpoints (".name") and apps with URL default functions are passed through.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if endpoint[:1] == "." or any(app.url_default_functions.values()):
        return url_for(endpoint, **values)
    try:
        key = (
            request.host,
            request.script_root,
            endpoint,
            *sorted((name, type(value), value) for name, value in values.items()),
        )
        cache = app.extensions["url_cache"]
        url = cache.get(key)
    except TypeError:  # an unhashable value (a list): build it
        return url_for(endpoint, **values)
    if url is None:
        if any(name[:1] == "_" for name in values):
            return url_for(endpoint, **values)
        url = url_for(endpoint, **values)
        if len(cache) >= URL_CACHE_SIZE:
            cache.clear()
        cache[key] = url
    return url


def add_nav_link(app: Flask, endpoint: str, label: str, audience: str = "member") -> None:
    """Show a link in the header of every page, to members or only to admins.

    How other parts (the referral pages) appear in the header without the forum knowing them.
    """
    app.jinja_env.globals["nav_links"].append(
        {"endpoint": endpoint, "label": label, "audience": audience}
    )


def external_url(endpoint: str, **values: Any) -> str:
    """Return an absolute URL on this site, built from BASE_URL, for use outside a request.

    Emails are written by workers with no request to take a host from.
    """
    parts = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "http"
    )
    return adapter.build(endpoint, values, force_external=True)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["nav_links"] = []
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["ago"] = time_ago
    app.jinja_env.globals["url_for_page"] = url_for_page
    app.jinja_env.globals["external_url"] = external_url
    app.extensions["url_cache"] = {}
    app.jinja_env.globals["url_for"] = cached_url_for
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
