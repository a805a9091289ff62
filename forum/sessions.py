"""Flask's signed-cookie sessions, with the signing serializer made once per key set and the
cookies it verified remembered."""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

# Cookies remembered per process; past this many the memory starts afresh.
OPENED_COOKIES = 4096

# What a remembered session may hold: values nobody can change in place, so each request's
# session (a copy of the dict) can be changed without touching what is remembered.
_IMMUTABLE = (str, int, float, bool, type(None))


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    """Flask builds a new ``URLSafeTimedSerializer`` for every request, twice (to open the
    session and to save it), and building one serializes a probe value: more than a small
    page's view costs. The keys only change with the configuration, so keep the serializer
    until they do.

    Opening a session (verifying the cookie's signature, decompressing and parsing it) cost
    a member's page about 45 µs, on every request with the same cookie. A cookie verified
    once is remembered with what it holds and when it was signed: the same cookie again,
    signed by the same keys, opens to the same session as long as its age is within the
    session's lifetime, exactly as ``loads`` decides. Only the exact cookie text that was
    verified is remembered, so nothing unverified is ever opened; sessions holding a
    mutable value (flashed messages) are not remembered."""

    def __init__(self) -> None:
        self._made_for: tuple[Any, ...] | None = None
        self._serializer: Any = None
        self._opened: dict[str, tuple[Any, dict[str, Any], int]] = {}
        self._lock = threading.Lock()

    def get_signing_serializer(self, app: Flask) -> Any:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if keys != self._made_for:
            self._serializer = super().get_signing_serializer(app)
            self._made_for = keys
        return self._serializer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        opened = self._opened.get(cookie)
        if opened is not None:
            verified_by, data, signed_at = opened
            # As itsdangerous's check of the age (whole seconds, none in the future).
            if verified_by is serializer and 0 <= int(time.time()) - signed_at <= max_age:
                return self.session_class(data)
        try:
            data, signed = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(data, dict) and all(isinstance(v, _IMMUTABLE) for v in data.values()):
            with self._lock:
                if len(self._opened) >= OPENED_COOKIES:
                    self._opened.clear()
                self._opened[cookie] = (serializer, dict(data), int(signed.timestamp()))
        return self.session_class(data)
