"""The development mailbox: admins read queued emails when no SMTP server is configured."""

from __future__ import annotations

import pytest

from forum.accounts.models import Role
from forum.extensions import db
from forum.outbox import enqueue
from tests.conftest import Browser, make_user


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 302), (Role.MEMBER, 403), (Role.MODERATOR, 403), (Role.ADMIN, 200)],
)
def test_only_admins_read_the_mailbox(app, role, status) -> None:
    enqueue(db.session, "dana@example.com", "Hello Dana", "The body <b>", kind="invitation")
    browser = Browser(app.test_client())
    if role is not None:
        browser.sign_in(make_user(role=role))
    response = browser.get("/admin/mailbox")
    assert response.status_code == status
    if status == 200:
        html = response.get_data(as_text=True)
        assert "Hello Dana" in html and "The body &lt;b&gt;" in html


def test_with_smtp_the_mailbox_does_not_exist(app) -> None:
    app.config["SMTP_URL"] = "smtp://mail.example:587"
    try:
        browser = Browser(app.test_client()).sign_in(make_user(role=Role.ADMIN))
        assert browser.get("/admin/mailbox").status_code == 404
    finally:
        app.config["SMTP_URL"] = None
