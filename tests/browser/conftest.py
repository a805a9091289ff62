"""A live Townhall server and Debian's Chromium driven by Playwright.

Under CI a missing browser fails the run; elsewhere the browser tests are skipped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from forum import create_app
from forum.demo import load as load_demo
from forum.extensions import db
from forum.signals import demo_loaded
from tests.conftest import ARTIFACTS, FAST_PASSWORD_HASH, empty_database_url, service_missing

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Headless Chromium names itself in its user agent, and clicks by headless browsers count as
# a bot's: a visitor meant to be a person (whose click attributes a sign-up) sends this one.
PERSON = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)


def _require_browser() -> None:
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as exc:
            problem = f"playwright is not installed: {exc}"
    if problem:
        service_missing(f"the browser: {problem}")


def _serve(url: str) -> Iterator[str]:
    """Migrate the database at ``url``, load the demo data, serve it; yield the base URL."""
    app = create_app(
        {
            "SECRET_KEY": "browser-test",
            "SQLALCHEMY_DATABASE_URI": url,
            "PASSWORD_HASH_METHOD": FAST_PASSWORD_HASH,
        }
    )
    with app.app_context():
        upgrade()
        load_demo(db.session, FAST_PASSWORD_HASH)
        demo_loaded.send(app, session=db.session)  # default programs, alice's link
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"  # links in emails
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    # Views not written yet would be written at exit, on a connection nobody closes.
    app.extensions["thread_views"].take()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve a freshly migrated SQLite database with demo data; yield the base URL."""
    _require_browser()
    path = tmp_path_factory.mktemp("live") / "townhall.sqlite3"
    yield from _serve(f"sqlite:///{path}")


@pytest.fixture(scope="session")
def live_server_on(
    database_kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Serve demo data on each test database (SQLite: ``live_server``); yield the base URL."""
    if database_kind == "sqlite":
        yield request.getfixturevalue("live_server")
        return
    _require_browser()
    yield from _serve(empty_database_url(database_kind, tmp_path_factory.mktemp("live"), "live"))


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium) -> Iterator[object]:  # noqa: ANN001
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone(chromium) -> Iterator[object]:  # noqa: ANN001
    context = chromium.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:  # noqa: ANN001
    """Save a full-page screenshot under test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
