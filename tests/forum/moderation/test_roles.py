"""Roles: admins grant and revoke the moderator role on a page and from the command line."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from forum.accounts.models import Role, User
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import roles
from forum.permissions import PermissionDenied
from tests.conftest import Browser
from tests.forum.moderation.conftest import log_rows, make_thread


@pytest.fixture
def root(app, admin) -> Browser:
    return Browser(app.test_client()).sign_in(admin)


def test_admin_grants_and_revokes_the_moderator_role(app, root, admin, member, board):
    page = root.get("/admin/roles").get_data(as_text=True)
    assert "Change a member’s role" in page and "(you)" in page
    response = root.post("/admin/roles", {"username": "ANN", "role": "moderator",
                                          "reason": "Helps newcomers"})  # fmt: skip
    assert response.status_code == 302
    assert "ann is now moderator." in root.get(response.location).get_data(as_text=True)
    db.session.refresh(member)
    assert member.role == "moderator"
    # The new moderator's next request already has the tools, and the badge shows.
    thread, _ = make_thread(member, board, title="Posted by a moderator")
    ann = Browser(app.test_client()).sign_in(member)
    assert ann.get("/moderation/").status_code == 200
    assert 'href="/moderation/">Moderation</a>' in ann.get("/").get_data(as_text=True)
    thread_page = ann.get(f"/t/{thread.id}").get_data(as_text=True)
    assert re.search(r'class="member"[^>]*>ann</a>\s*<span class="badge badge-moderator">Moderator',
                     thread_page)  # fmt: skip
    assert "badge-moderator" in ann.get("/u/ann").get_data(as_text=True)

    root.post("/admin/roles", {"username": "ann", "role": "member"})
    db.session.refresh(member)
    assert member.role == "member"
    assert ann.get("/moderation/").status_code == 403
    assert "badge-moderator" not in ann.get("/u/ann").get_data(as_text=True)
    assert [(e.action, e.actor_id, e.target_user_id, e.detail) for e in log_rows()] == [
        ("set_role", admin.id, member.id, "member → moderator"),
        ("set_role", admin.id, member.id, "moderator → member"),
    ]
    assert log_rows()[0].reason == "Helps newcomers"


def test_the_staff_list_offers_revoke_buttons(root, admin, moderator):
    html = root.get("/admin/roles").get_data(as_text=True)
    assert re.search(r'name="username" value="mod">\s*<input type="hidden" name="role" '
                     r'value="member">', html)  # fmt: skip
    assert root.post("/admin/roles", {"username": "mod", "role": "member"}).status_code == 302
    db.session.refresh(moderator)
    assert moderator.role == "member"


@pytest.mark.parametrize(
    ("data", "message"),
    [({"username": "nobody", "role": "moderator"}, "No member is called “nobody”."),
     ({"username": "ann", "role": "overlord"}, "Choose member, moderator or admin."),
     ({"username": "root", "role": "member"}, "You cannot change your own role.")],
)  # fmt: skip
def test_bad_role_changes_are_refused_on_the_form(root, member, data, message):
    response = root.post("/admin/roles", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert log_rows() == []


def test_sanctioned_members_are_not_promoted(admin, member):
    member.suspended_until = utcnow() + timedelta(days=1)
    with pytest.raises(roles.ModerationError, match="lift it first"):
        roles.set_role(db.session, admin, member.id, "moderator")
    assert roles.set_role(db.session, admin, member.id, "member").changed is False


def test_only_admins_change_roles(moderator, member):
    with pytest.raises(PermissionDenied):
        roles.set_role(db.session, moderator, member.id, "moderator")
    with pytest.raises(PermissionDenied):
        roles.set_role(db.session, member, member.id, "admin")


def test_the_command_line_sets_roles_and_logs_them(runner, member):
    db.session.flush()
    result = runner.invoke(args=["users", "set-role", "Ann", "moderator", "--reason", "trusted"])
    assert result.exit_code == 0, result.output
    assert "ann is now moderator." in result.output
    db.session.expire_all()
    assert db.session.get(User, member.id).role == Role.MODERATOR.value
    [entry] = log_rows()
    assert (entry.actor_id, entry.action, entry.reason) == (None, "set_role", "trusted")
    assert entry.detail == "member → moderator (command line)"
    again = runner.invoke(args=["users", "set-role", "ann", "moderator"])
    assert "already moderator" in again.output
    missing = runner.invoke(args=["users", "set-role", "nobody", "admin"])
    assert missing.exit_code != 0 and "No member is called" in missing.output
    bad = runner.invoke(args=["users", "set-role", "ann", "overlord"])
    assert bad.exit_code != 0


def test_command_line_acts_show_in_the_log_page(app, runner, moderator, member):
    runner.invoke(args=["users", "set-role", "ann", "moderator"])
    html = (
        Browser(app.test_client()).sign_in(moderator).get("/moderation/log").get_data(as_text=True)
    )
    assert "command line" in html and "member → moderator" in html
