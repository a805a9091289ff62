"""Behind trusted proxies, the client address comes from X-Forwarded-For."""

from __future__ import annotations

from flask import request

from forum import create_app


def _whoami_app(proxies: int):  # noqa: ANN202
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "TRUSTED_PROXIES": proxies,
        }
    )
    app.add_url_rule("/whoami", "whoami", lambda: request.remote_addr or "")
    return app


def test_forwarded_address_is_used_only_behind_trusted_proxies() -> None:
    headers = {"X-Forwarded-For": "203.0.113.7"}
    environ = {"REMOTE_ADDR": "10.0.0.2"}
    trusted = _whoami_app(1).test_client().get("/whoami", headers=headers, environ_base=environ)
    direct = _whoami_app(0).test_client().get("/whoami", headers=headers, environ_base=environ)
    assert (trusted.text, direct.text) == ("203.0.113.7", "10.0.0.2")
