"""Whole pages served from the fragment cache, with holes for what changes on every request.

A read page is rendered once per key of every value it shows (the page's own values, and the
layout's: the viewer, the bell, the CSRF secret, the path), like the fragments of
forum.fragments; rendering base.html and the page's template cost more than its queries. The
few values that differ on each request whatever the data (a thread's view count, a form's
one-time submission key) are holes: the page is rendered with a random marker in their place
and the marker is replaced with this request's value on every request, so nothing stale is
served. A request with flashed messages is rendered as usual (showing them consumes them).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

from forum import fragments
from forum.notifications import unread_count


def csrf_secret() -> str:
    """Return the session's CSRF secret, which the tokens of a page's forms are signed from,
    making it first for a new session. (Signing a token costs more than reading this.)"""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    secret = session.get(field)
    if secret is None:
        generate_csrf()
        secret = session[field]
    return secret


def layout_key() -> tuple[Any, ...]:
    """Return every value base.html shows besides the page's own: where the page is (its
    host, script root, path with query, endpoint) and, for a member, who they are (name,
    role, suspension), the bell's count and the session's CSRF secret (forms in the page
    carry tokens signed from it)."""
    parts: tuple[Any, ...] = (
        request.host,
        request.script_root,
        request.full_path,
        request.endpoint,
    )
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    if not user.is_authenticated:
        return parts
    return (
        *parts,
        user.id,
        user.username,
        user.role,
        user.suspended_until,
        user.is_suspended(),
        unread_count(),
        csrf_secret(),
    )


def cacheable() -> bool:
    """Whether this request's page may come from the cache: not when it has flashed
    messages to show (the layout consumes them)."""
    return not session.get("_flashes")


# Pages served lately, taken apart: the stored text, its pieces (text as UTF-8, and the
# names of the holes between them). Splitting a page at its holes and encoding it cost about
# 30 µs a request; past this many pages the memory starts afresh.
PARSED_PAGES = 512
_parsed: dict[str, tuple[str, list[bytes | str]]] = {}


def _pieces(key: str, stored: str) -> list[bytes | str]:
    """Return the stored page's pieces: encoded text at even positions, hole names at odd."""
    found = _parsed.get(key)
    # The memory store hands back the very string it holds; Redis an equal one.
    if found is not None and (found[0] is stored or found[0] == stored):
        return found[1]
    head, _, html = stored.partition("\n\n")
    marker, *names = head.split("\n")
    pieces: list[bytes | str] = []
    for i, piece in enumerate(html.split(marker) if names else [html]):
        # Pieces alternate: text, hole number, text, ...
        pieces.append(names[int(piece)] if i % 2 else piece.encode())
    if len(_parsed) >= PARSED_PAGES:
        _parsed.clear()
    _parsed[key] = (stored, pieces)
    return pieces


def cached(
    kind: str,
    parts: tuple[Any, ...],
    render: Callable[[Mapping[str, str]], str],
    fills: Mapping[str, str],
) -> bytes:
    """Return the page of ``kind`` whose own values are ``parts``, with ``fills`` in its holes,
    as UTF-8.

    ``render(holes)`` renders the page with ``holes[name]`` in place of each fill; it is
    called on a miss (or for a request that is not ``cacheable``). Fills are escaped.
    """
    if not cacheable():
        return render({name: escape(value) for name, value in fills.items()}).encode()
    key = fragments.key_of(f"page:{kind}", layout_key(), parts)
    store = current_app.extensions["fragments"]
    stored = store.get(key)
    if stored is None:
        # The marker is random, made after the content was written: no content can hold it.
        marker = secrets.token_hex(12)
        names = list(fills)
        html = render({name: f"{marker}{i}{marker}" for i, name in enumerate(names)})
        stored = "\n".join([marker, *names, "", html])
        store.set(key, stored)
    pieces = _pieces(key, stored)
    if len(pieces) == 1:  # a page without holes (board pages, the board list)
        return pieces[0]  # type: ignore[return-value]
    return b"".join(
        piece if i % 2 == 0 else escape(fills[piece]).encode()  # type: ignore[misc]
        for i, piece in enumerate(pieces)
    )
