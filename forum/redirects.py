"""Deciding whether a redirect target stays on this site, and what of a request may be
passed on to a URL we build."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


def safe_local_path(target: str | None, default: str = "/") -> str:
    """Return ``target`` if it is a path on this site, otherwise ``default``.

    Refuses anything a browser could read as another origin: schemes, scheme-relative
    "//host", backslashes (browsers treat "\\" as "/"), control characters and whitespace.
    """
    if not target or len(target) > 2000:
        return default
    if any(ord(ch) < 0x21 or ch == "\\" or ord(ch) == 0x7F for ch in target):
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def query_values() -> dict[str, str]:
    """Return the request's query arguments to pass on to ``url_for`` as values.

    Those named like url_for's own options (``_external``, ``_scheme``, ``_anchor``,
    ``_method``) are dropped: passed on, ``?_external=1&_scheme=javascript`` would make the
    built URL whatever the visitor's link chose, and ``?_method=x`` an error.
    """
    return {k: v for k, v in request.args.to_dict().items() if not k.startswith("_")}
