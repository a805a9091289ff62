"""Shared fixtures: an app per database, a rolled-back transaction per test, and helpers.

Every test that uses ``app`` runs once on SQLite and once on PostgreSQL. The schema is made
by running the migrations once per database and test process; each test then runs inside a
transaction that is rolled back, so tests never see each other's rows.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event

from forum import create_app
from forum.accounts.models import Role, User
from forum.accounts.service import SignUp, register
from forum.boards.models import Board
from forum.database import Prepared
from forum.extensions import db, limiter

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
TEST_PASSWORD = "correct horse battery"
FAST_PASSWORD_HASH = "scrypt:1024:8:1"


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def postgresql_base_url() -> str:
    from forum.config import normalise_database_url

    return normalise_database_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL))


def postgresql_schema() -> str:
    # One schema per checkout and test process, so parallel runs never share tables.
    checkout = hashlib.sha256(str(Path(__file__).resolve()).encode()).hexdigest()[:8]
    return f"townhall_test_{checkout}_{_worker_id()}"


def postgresql_url(schema: str | None = None) -> str:
    """Return the URL of ``schema`` (default this test process's own) in the test database."""
    base = postgresql_base_url()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema or postgresql_schema()}"


def empty_database_url(kind: str, directory: Path, name: str | None = None) -> str:
    """Return the URL of an empty database of ``kind``: a file in ``directory`` on SQLite;
    on PostgreSQL this process's schema, or ``<that schema>_<name>`` (for a second database
    beside it, a live server's say), dropped and made anew."""
    if kind == "sqlite":
        return f"sqlite:///{directory / ((name or 'townhall') + '.sqlite3')}"
    require_postgresql()
    schema = postgresql_schema() + (f"_{name}" if name else "")
    engine = sa.create_engine(postgresql_base_url())
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return postgresql_url(schema)


def _postgresql_available() -> str | None:
    """Return None when PostgreSQL answers, else the reason it does not."""
    try:
        engine = sa.create_engine(postgresql_base_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def service_missing(problem: str) -> NoReturn:
    """End a test that needs a service (PostgreSQL, Redis, the browser) this machine lacks:
    a failure under CI, whose machine has them all; a skip only on a developer's machine."""
    if not IN_CI:
        pytest.skip(problem)  # only here: CI's machine has every service
    pytest.fail(f"required under CI: {problem}")


def require_postgresql() -> None:
    """Skip the test when PostgreSQL does not answer; under CI, fail it instead."""
    problem = _postgresql_available()
    if problem:
        service_missing(f"PostgreSQL is unreachable: {problem}")


def require_redis(url: str) -> Any:
    """Return a client of the Redis at ``url``; skip the test when it does not answer, and
    under CI fail it instead (the machine CI runs on has Redis at 127.0.0.1:6379)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis is unreachable at {url}: {exc}")
    return client


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_kind" in metafunc.fixturenames:
        kinds = ["sqlite", "postgresql"]
        # A local run may be limited to some databases; under CI every test runs on both.
        if os.environ.get("TOWNHALL_TEST_DATABASES") and not IN_CI:
            kinds = os.environ["TOWNHALL_TEST_DATABASES"].split(",")
        # A test of one database's own mechanism (a trigger) is made only for that one.
        marker = metafunc.definition.get_closest_marker("databases")
        if marker is not None:
            kinds = [kind for kind in kinds if kind in marker.args]
        metafunc.parametrize("database_kind", kinds, scope="session")


@pytest.fixture(scope="session")
def database_url(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the URL of a freshly migrated database of the given kind."""
    url = empty_database_url(database_kind, tmp_path_factory.mktemp("db"))
    migrated = create_app(_test_config(url))
    with migrated.app_context():
        upgrade()
        db.engine.dispose()
    return url


def _test_config(url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "PASSWORD_HASH_METHOD": FAST_PASSWORD_HASH,
        "RATELIMIT_STORAGE_URI": "memory://",
        "SERVER_NAME": "townhall.test",
        "BASE_URL": "http://townhall.test",
        # Views are written by the test that means to (the app lives for the whole session).
        "THREAD_VIEWS_FLUSH_SECONDS": 10**9,
    }


@pytest.fixture(scope="session")
def _session_app(database_url: str) -> Iterator[Flask]:
    app = create_app(_test_config(database_url))
    app.test_client_class = IsolatedClient
    yield app
    with app.app_context():
        db.engine.dispose()


class PinnedSession(FlaskSession):
    """A session bound to the test's connection instead of the app's engine."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        return self.bind if self.bind is not None else super().get_bind(*args, **kwargs)


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    Without this, requests would reuse the test's app context and share ``g`` (and with it
    Flask-Login's cached user) and the database session with the test and each other.
    """

    def open(self, *args: Any, **kwargs: Any):  # noqa: ANN201
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(_session_app: Flask) -> Iterator[Flask]:
    """Yield the app with every database write of the test rolled back afterwards."""
    app = _session_app
    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        original_session = db.session
        db.session = db._make_scoped_session(
            {
                "class_": PinnedSession,
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
            }
        )
        limiter.reset()
        try:
            yield app
        finally:
            db.session.remove()
            db.session = original_session
            transaction.rollback()
            connection.close()


def _empty_all_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            # Lifted for the moment the tables are emptied, as TRUNCATE passes PostgreSQL's
            # (the append-only moderation log's).
            triggers = connection.execute(
                sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            for name, _ in triggers:
                connection.execute(sa.text(f'DROP TRIGGER "{name}"'))
            for name in tables:
                connection.execute(sa.text(f"DELETE FROM {name}"))
            for _, sql in triggers:
                connection.execute(sa.text(sql))


@pytest.fixture
def committed_app(_session_app: Flask) -> Iterator[Flask]:
    """Yield the app with real commits, for tests that use several connections at once.

    Every table is emptied afterwards. Use ``app`` unless the test needs parallelism.
    """
    app = _session_app
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
        try:
            yield app
        finally:
            db.session.remove()
            _empty_all_tables()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # noqa: ANN201
    return app.test_cli_runner()


# --- test data ---------------------------------------------------------------------------

_sequence = itertools.count(1)


def make_user(
    username: str | None = None,
    role: Role = Role.MEMBER,
    hires: bool = True,
    works: bool = False,
    email: str | None = None,
) -> User:
    """Create (and flush) a member with TEST_PASSWORD."""
    number = next(_sequence)
    username = username or f"member{number}"
    user = register(
        db.session,
        SignUp(username, email or f"{username}@example.com", TEST_PASSWORD, hires, works),
        FAST_PASSWORD_HASH,
    )
    user.role = role.value
    db.session.flush()
    return user


def make_board(slug: str | None = None, moderators_only: bool = False) -> Board:
    slug = slug or f"board-{next(_sequence)}"
    board = Board(
        slug=slug,
        name=slug.replace("-", " ").title(),
        description=f"About {slug}",
        moderators_only=moderators_only,
    )
    db.session.add(board)
    db.session.flush()
    return board


def cookies_of(client: FlaskClient) -> dict[str, str]:
    """The cookies a test client holds, by name."""
    return {c.key: c.value for c in client._cookies.values()}


def replay_cookies(app: Flask, cookies: dict[str, str]) -> FlaskClient:
    """A second browser that carries a copy of another browser's cookies."""
    copy = app.test_client()
    for key, value in cookies.items():
        copy.set_cookie(key, value, domain="townhall.test")
    return copy


@pytest.fixture
def member(app: Flask) -> User:
    return make_user("ann")


@pytest.fixture
def other_member(app: Flask) -> User:
    return make_user("ben")


@pytest.fixture
def moderator(app: Flask) -> User:
    return make_user("mod", role=Role.MODERATOR)


@pytest.fixture
def admin(app: Flask) -> User:
    return make_user("root", role=Role.ADMIN)


@pytest.fixture
def board(app: Flask) -> Board:
    return make_board("general")


CSRF_PATTERN = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


def csrf_token(client: FlaskClient, path: str = "/sign-in") -> str:
    """Return a CSRF token valid for this client's session, read from a real form."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_PATTERN.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


class Browser:
    """A test client with a signed-in member and form posting that carries CSRF."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            self._token = csrf_token(self.client, "/")
        return self._token

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any):  # noqa: ANN201
        return self.client.post(path, data={"csrf_token": self.token(), **(data or {})}, **kwargs)

    def get(self, path: str, **kwargs: Any):  # noqa: ANN201
        return self.client.get(path, **kwargs)

    def sign_in(self, user: User, password: str = TEST_PASSWORD) -> Browser:
        db.session.commit()  # make the user visible to the request's session
        self._token = csrf_token(self.client, "/sign-in")
        response = self.client.post(
            "/sign-in",
            data={"csrf_token": self._token, "login": user.username, "password": password},
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        self._token = None
        return self


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


@pytest.fixture
def signed_in(app: Flask, member: User) -> Browser:
    """A browser signed in as ``member``."""
    return Browser(app.test_client()).sign_in(member)


# --- measuring ---------------------------------------------------------------------------


@contextmanager
def count_queries(prepared: bool = False) -> Iterator[list[str]]:
    """Collect the SQL statements run on the app's engine inside the block; with
    ``prepared``, those run with ``forum.database.Prepared`` too (no engine event sees them)."""
    statements: list[str] = []

    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
            statements.append(statement)

    engine = db.engine
    run = Prepared._run

    def _run_recorded(self: Prepared, connection: Any, *rest: Any) -> Any:
        statements.append(self._compiled(connection.dialect)[0])
        return run(self, connection, *rest)

    event.listen(engine, "before_cursor_execute", _record)
    if prepared:
        Prepared._run = _run_recorded
    try:
        yield statements
    finally:
        Prepared._run = run
        event.remove(engine, "before_cursor_execute", _record)


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
