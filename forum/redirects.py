"""Deciding whether a redirect target stays on this site."""

from __future__ import annotations

from urllib.parse import urlsplit


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
