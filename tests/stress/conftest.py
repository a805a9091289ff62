"""Fixtures for the stress runs (``make stress``): one freshly migrated PostgreSQL schema for
the session, gunicorn serving it with several worker processes, and the app in this process
for seeding with the domain's own functions and for checking what ended up in the tables."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from forum import create_app
from forum.extensions import db
from tests.conftest import _test_config, postgresql_base_url, require_postgresql
from tests.stress.harness import Server, Tally

ROUNDS = int(os.environ.get("TOWNHALL_STRESS_ROUNDS", "5"))
WORKERS = int(os.environ.get("TOWNHALL_STRESS_WORKERS", "3"))
TALLY = Tally()


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if TALLY.rows:
        terminalreporter.section("stress: rounds and requests")
        for line in TALLY.lines():
            terminalreporter.write_line(line)


def _schema() -> str:
    checkout = hashlib.sha256(str(Path(__file__).resolve()).encode()).hexdigest()[:8]
    return f"townhall_stress_{checkout}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def _url(schema: str) -> str:
    base = postgresql_base_url()
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


def fresh_schema(name: str) -> str:
    """Create (again) an empty schema, migrate it, and return its URL."""
    require_postgresql()
    engine = sa.create_engine(postgresql_base_url())
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {name}"))
    engine.dispose()
    url = _url(name)
    migrated = create_app(_test_config(url))
    with migrated.app_context():
        upgrade()
        db.engine.dispose()
    return url


def drop_schema(name: str) -> None:
    engine = sa.create_engine(postgresql_base_url())
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def stress_url() -> Iterator[str]:
    """The URL of this run's own freshly migrated PostgreSQL schema."""
    name = _schema()
    url = fresh_schema(name)
    yield url
    drop_schema(name)


@pytest.fixture(scope="session")
def stress_app(stress_url: str) -> Iterator[Flask]:
    app = create_app({**_test_config(stress_url), "SERVER_NAME": None})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def seeding(stress_app: Flask) -> Iterator[Flask]:
    """An app context on the stress schema: seed with domain functions and commit; read the
    tables afterwards (``db.session.remove()`` first, to see what the server committed)."""
    with stress_app.app_context():
        try:
            yield stress_app
        finally:
            db.session.remove()


@pytest.fixture(scope="session")
def server(stress_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn with WORKERS sync worker processes, serving the stress schema."""
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    running = Server(stress_url, WORKERS, log)
    try:
        yield running
    finally:
        running.stop()
    # The app logs "unhandled error" with the traceback for every 500 it answers.
    assert not running.errors_logged(), running.log_tail(80)


@pytest.fixture(scope="session")
def tally() -> Tally:
    return TALLY
