"""In a real browser: a member reports a post, a moderator removes it from the queue.

The app runs on a real server (werkzeug, in a thread) against a freshly migrated database of
each kind; headless Chromium (Debian's, driven by Playwright) clicks through the pages.
Screenshots of the queue and of the tombstone land in test-artifacts/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from werkzeug.serving import make_server

from forum import create_app
from forum.accounts.models import Role
from forum.boards import posting
from forum.boards.models import Board, Post
from forum.extensions import db
from forum.moderation.models import ModerationAction, Report
from tests.conftest import (
    ARTIFACTS,
    FAST_PASSWORD_HASH,
    TEST_PASSWORD,
    empty_database_url,
    make_user,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def moderation_server(database_kind: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Serve a freshly migrated database with a reported-to-be thread; yield its URL."""
    url = empty_database_url(database_kind, tmp_path, "moderation")
    app = create_app({
        "SECRET_KEY": "browser-test", "SQLALCHEMY_DATABASE_URI": url,
        "PASSWORD_HASH_METHOD": FAST_PASSWORD_HASH, "RATELIMIT_STORAGE_URI": "memory://",
    })  # fmt: skip
    with app.app_context():
        upgrade()
        member = make_user("carol")
        spammer = make_user("dealmaker", works=True)
        make_user("moderator", role=Role.MODERATOR)
        board = Board(slug="freelancers", name="Freelancing", description="Proposals and pay")
        db.session.add(board)
        db.session.flush()
        thread = posting.create_thread(
            db.session, member, board, "Is a 10% fee normal for long contracts?",
            "I have billed one client for a year. Does the fee go down over time?",
        )  # fmt: skip
        bad = posting.reply(
            db.session, spammer, thread,
            "Skip the fees! **Email me at deals@example.com** and pay me directly by wire.",
        )  # fmt: skip
        db.session.commit()
        ids = {"thread": thread.id, "post": bad.id}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    runner = threading.Thread(target=server.serve_forever, daemon=True)
    runner.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app, **ids}
    finally:
        server.shutdown()
        runner.join(timeout=10)
        server.server_close()
        app.extensions["thread_views"].take()  # else written at exit, on an unclosed connection
        with app.app_context():
            db.engine.dispose()


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def test_member_reports_and_moderator_removes_from_the_queue(chromium, moderation_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    live_server = moderation_server

    ARTIFACTS.mkdir(exist_ok=True)
    base, post_id, thread_id = live_server["url"], live_server["post"], live_server["thread"]
    console_errors: list[str] = []
    contexts = []
    try:
        member_context = chromium.new_context(viewport={"width": 1100, "height": 900})
        member_page = member_context.new_page()
        mod_context = chromium.new_context(viewport={"width": 1100, "height": 1000})
        contexts += [member_context, mod_context]
        mod_page = mod_context.new_page()
        for page in (member_page, mod_page):
            page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))

        # The member reports the dealmaker's post from the thread page.
        _sign_in(member_page, base, "carol")
        member_page.goto(f"{base}/t/{thread_id}")
        member_page.locator(f"#post-{post_id}").get_by_role("link", name="Report").click()
        expect(member_page.get_by_role("heading", level=1)).to_have_text("Report dealmaker’s post")
        member_page.get_by_label("Circumvention (asked to take work or payment off the "
                                 "platform)").check()  # fmt: skip
        member_page.get_by_label("Note for the moderators").fill(
            "Asks to be paid by wire outside the platform."
        )
        member_page.get_by_role("button", name="Send report").click()
        expect(member_page.get_by_text("Thank you for your report")).to_be_visible()

        # The moderator finds it in the queue, and removes it from there.
        _sign_in(mod_page, base, "moderator")
        mod_page.get_by_role("link", name="Moderation").click()
        expect(mod_page.get_by_role("heading", level=1)).to_have_text("Report queue")
        group = mod_page.locator(f"#reports-{post_id}")
        expect(group).to_contain_text("1 report")
        expect(group).to_contain_text("Asks to be paid by wire outside the platform.")
        expect(group.get_by_label("Reason shown to members")).to_have_value(
            "Asking to take work or payment off the platform"
        )
        mod_page.screenshot(path=str(ARTIFACTS / "moderation-queue.png"), full_page=True)
        mod_page.set_viewport_size({"width": 390, "height": 844})
        mod_page.screenshot(path=str(ARTIFACTS / "moderation-queue-phone.png"), full_page=True)
        mod_page.set_viewport_size({"width": 1100, "height": 1000})
        group.get_by_role("button", name="Remove post").click()
        expect(mod_page.get_by_text("The post was removed.")).to_be_visible()
        expect(mod_page.get_by_text("No open reports.")).to_be_visible()

        # The member now sees a tombstone; the moderator still sees the original.
        member_page.goto(f"{base}/t/{thread_id}")
        tombstone = member_page.locator(f"#post-{post_id} .tombstone")
        expect(tombstone).to_have_text(
            "This post was removed by a moderator: Asking to take work or payment off the platform."
        )
        expect(member_page.locator("body")).not_to_contain_text("deals@example.com")
        member_page.screenshot(path=str(ARTIFACTS / "moderation-tombstone.png"),
                               full_page=True)  # fmt: skip
        mod_page.goto(f"{base}/t/{thread_id}")
        expect(mod_page.locator(f"#post-{post_id}")).to_contain_text("deals@example.com")
        expect(mod_page.locator(f"#post-{post_id}")).to_contain_text("Removed by a moderator")
        mod_page.screenshot(path=str(ARTIFACTS / "moderation-removed-for-moderator.png"),
                            full_page=True)  # fmt: skip
    finally:
        for context in contexts:
            context.close()

    assert console_errors == []  # e.g. a Content-Security-Policy violation
    with live_server["app"].app_context():
        post = db.session.get(Post, post_id)
        assert post.is_removed and "deals@example.com" in post.body_source
        assert db.session.scalar(sa.select(Report.status)) == "action_taken"
        actions = db.session.scalars(
            sa.select(ModerationAction.action).order_by(ModerationAction.id)
        ).all()
        assert actions == ["resolve_reports", "remove_post"]
        db.session.remove()
