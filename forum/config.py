"""Settings read from the environment, with safe development defaults."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


class ConfigurationError(RuntimeError):
    """Raised when the environment cannot produce a safe configuration."""


def normalise_database_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver named for PostgreSQL URLs.

    Hosting platforms hand out ``postgres://`` and ``postgresql://`` URLs; SQLAlchemy would
    pick psycopg2 for those, which we do not install.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _development_secret_key(instance_path: Path) -> str:
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def from_environment(instance_path: Path, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the app configuration built from environment variables.

    Raises ConfigurationError when production is requested without a SECRET_KEY.
    """
    env = os.environ if environ is None else environ
    production = env.get("TOWNHALL_ENV", "development") == "production"
    instance_path.mkdir(parents=True, exist_ok=True)

    secret_key = env.get("SECRET_KEY")
    if not secret_key:
        if production:
            raise ConfigurationError("SECRET_KEY must be set when TOWNHALL_ENV=production")
        secret_key = _development_secret_key(instance_path)

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'townhall.sqlite3'}"
    return {
        "TOWNHALL_ENV": "production" if production else "development",
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        # No pool_pre_ping: it cost every request a round trip. A pooled PostgreSQL
        # connection (which can die while idle: a restart, a proxy's timeout) is pinged only
        # when it sat unused this long (forum/connections.py); a SQLite file cannot die.
        "DATABASE_IDLE_PING_SECONDS": float(env.get("DATABASE_IDLE_PING_SECONDS", 1.0)),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", 2 * 1024 * 1024)),
        "WTF_CSRF_TIME_LIMIT": None,
        # scrypt, Werkzeug's default KDF; the test suite lowers its cost.
        "PASSWORD_HASH_METHOD": env.get("PASSWORD_HASH_METHOD", "scrypt"),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        # Only `make bench` turns them off, to time posting itself rather than 429 answers.
        "RATELIMIT_ENABLED": env.get("RATELIMIT_ENABLED", "true").lower() != "false",
        # If Redis goes away, count in each process's memory (and log) rather than fail.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        # Proxies (load balancers) in front of the app that set X-Forwarded-For/-Proto. Without
        # this, every visitor has the balancer's address: rate limits and the referral engine's
        # flood and self-referral checks would see one visitor.
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", 0)),
        # Rendered fragments: Redis shared by every process, else each process's memory.
        "CACHE_REDIS_URL": env.get("CACHE_REDIS_URL") or None,
        "CACHE_MAX_BYTES": int(env.get("CACHE_MAX_BYTES", 32 * 1024 * 1024)),
        "POSTS_PER_PAGE": 20,
        "THREADS_PER_PAGE": 30,
        "SEARCH_RESULTS_PER_PAGE": 20,
        # Search results cached until searchable content changes (forum/search/cache.py).
        "SEARCH_CACHE": env.get("SEARCH_CACHE", "true").lower() != "false",
        # Where this site is reached from outside: the links in emails start with it.
        "BASE_URL": env.get("BASE_URL", "http://127.0.0.1:5000"),
        # smtp://user:password@host:587 (STARTTLS) or smtps://…:465; unset prints emails.
        "SMTP_URL": env.get("SMTP_URL") or None,
        "MAIL_FROM": env.get("MAIL_FROM", "Townhall <no-reply@townhall.invalid>"),
        # A notification is emailed this long after it happened, if still unread by then.
        "NOTIFICATION_EMAIL_DELAY": int(env.get("NOTIFICATION_EMAIL_DELAY", 600)),
    }
