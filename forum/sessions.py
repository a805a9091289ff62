"""Flask's signed-cookie sessions, with the signing serializer made once per key set."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    """Flask builds a new ``URLSafeTimedSerializer`` for every request, twice (to open the
    session and to save it), and building one serializes a probe value: more than a small
    page's view costs. The keys only change with the configuration, so keep the serializer
    until they do."""

    def __init__(self) -> None:
        self._made_for: tuple[Any, ...] | None = None
        self._serializer: Any = None

    def get_signing_serializer(self, app: Flask) -> Any:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if keys != self._made_for:
            self._serializer = super().get_signing_serializer(app)
            self._made_for = keys
        return self._serializer
