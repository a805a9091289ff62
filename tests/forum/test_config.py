"""Configuration from the environment."""

from __future__ import annotations

import pytest

from forum.config import ConfigurationError, from_environment, normalise_database_url


def test_production_requires_a_secret_key(tmp_path) -> None:
    with pytest.raises(ConfigurationError):
        from_environment(tmp_path, {"TOWNHALL_ENV": "production"})


def test_production_uses_the_given_key_and_secure_cookies(tmp_path) -> None:
    config = from_environment(tmp_path, {"TOWNHALL_ENV": "production", "SECRET_KEY": "s3cret"})
    assert config["SECRET_KEY"] == "s3cret"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REMEMBER_COOKIE_SECURE"] is True


def test_development_generates_and_keeps_a_key(tmp_path) -> None:
    first = from_environment(tmp_path, {})["SECRET_KEY"]
    second = from_environment(tmp_path, {})["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_database_url_defaults_to_sqlite_in_instance(tmp_path) -> None:
    url = from_environment(tmp_path, {})["SQLALCHEMY_DATABASE_URI"]
    assert url == f"sqlite:///{tmp_path / 'townhall.sqlite3'}"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_postgresql_urls_use_psycopg3(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


def test_app_reads_database_url(monkeypatch, tmp_path) -> None:
    from forum import create_app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/other.sqlite3")
    app = create_app({"SECRET_KEY": "x"})
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("other.sqlite3")
