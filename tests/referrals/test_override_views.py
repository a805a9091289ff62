"""The override through real requests: the console form (admins only, CSRF, the log row),
and the link that asks the invited account to sign in and accept."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from forum.accounts.models import Role, User
from forum.boards import posting
from forum.extensions import db
from forum.moderation.models import ModerationAction
from forum.outbox import OutboxEmail
from referrals import invitations
from referrals.tables import Invitation, InvitationStatus, TalentRelationship
from tests.conftest import TEST_PASSWORD, Browser, csrf_token, make_board, make_user

PAGE = "/admin/referrals/invitations"
FORM = {
    "inviter": "hirer",
    "invitation": "talent:offer",
    "first_name": "Dana",
    "last_name": "Scully",
    "email": "dormant@example.com",
    "reason": "Signed up by mistake last year, never used the account",
}


@pytest.fixture
def people(app):  # noqa: ANN001, ANN201
    people = {
        "admin": make_user("boss", role=Role.ADMIN),
        "hirer": make_user("hirer", hires=True),
        "dormant": make_user("dormant", email="dormant@example.com", hires=False, works=True),
    }
    db.session.commit()
    return people


def _count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def _log() -> list[ModerationAction]:
    return list(db.session.scalars(
        sa.select(ModerationAction).where(ModerationAction.action == "override_invitation")
    ))  # fmt: skip


@pytest.mark.parametrize(("role", "status"), [(None, 302), (Role.MEMBER, 403),
                                              (Role.MODERATOR, 403)])  # fmt: skip
def test_only_admins_override(app, people, role, status) -> None:
    browser = Browser(app.test_client())
    if role is None:
        browser._token = csrf_token(browser.client, "/sign-in")
    else:
        browser.sign_in(make_user(role=role))
    assert browser.get(PAGE).status_code == status
    assert browser.post(PAGE, FORM).status_code == status
    assert _count(Invitation) == 0 and _log() == []


def test_an_admin_sends_an_override_once_and_the_log_says_why(app, people) -> None:
    boss = Browser(app.test_client()).sign_in(people["admin"])
    page = boss.get(PAGE)
    assert page.status_code == 200 and "Send a refused invitation anyway" in page.get_data(True)
    response = boss.post(PAGE, FORM)
    assert response.status_code == 302
    invitation = db.session.scalar(sa.select(Invitation))
    assert invitation.account_id == people["dormant"].id
    assert _count(OutboxEmail) == 1
    (entry,) = _log()
    assert entry.actor_id == people["admin"].id
    assert entry.target_user_id == people["dormant"].id
    assert entry.reason == FORM["reason"]
    assert f"invitation {invitation.id} from hirer" in entry.detail
    # A retry (a double click, a reload) sends nothing and logs nothing more.
    again = boss.post(PAGE, FORM, follow_redirects=True)
    assert "already sent" in again.get_data(as_text=True)
    assert _count(Invitation) == 1 and _count(OutboxEmail) == 1 and len(_log()) == 1
    listed = boss.get(PAGE).get_data(as_text=True)
    assert "dormant@example.com" in listed and "Invited" in listed


def test_an_active_account_is_refused_naming_why_and_nothing_is_stored(app, people) -> None:
    posting.create_thread(db.session, people["dormant"], make_board(), "Hello all", "Hi")
    db.session.commit()
    boss = Browser(app.test_client()).sign_in(people["admin"])
    response = boss.post(PAGE, FORM)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "dormant has been active" in page and "1 post written" in page
    assert _count(Invitation) == 0 and _count(OutboxEmail) == 0 and _log() == []


def test_the_form_needs_its_csrf_token(app, people) -> None:
    boss = Browser(app.test_client()).sign_in(people["admin"])
    assert boss.client.post(PAGE, data=FORM).status_code == 400
    assert _count(Invitation) == 0 and _log() == []


def _sent(app, people) -> tuple[Invitation, str]:  # noqa: ANN001
    Browser(app.test_client()).sign_in(people["admin"]).post(PAGE, FORM)
    invitation = db.session.scalar(sa.select(Invitation))
    secret = invitations.SECRET_PREFIX + "override"
    invitation.token_hash = invitations.hash_secret(secret)
    db.session.commit()
    return invitation, secret


def _form_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1]


def test_the_invited_person_signs_in_and_accepts_without_a_second_account(app, people) -> None:
    invitation, secret = _sent(app, people)
    link = f"/invitations/{secret}"
    users = _count(User)
    visitor = Browser(app.test_client())
    page = visitor.get(link).get_data(as_text=True)
    assert "You already have an account" in page and "Sign in to accept" in page
    assert "Choose a username" not in page  # no sign-up form: nothing new is created
    # Posting to the link without signing in asks to sign in, and stores nothing.
    anonymous = visitor.client.post(link, data={"csrf_token": csrf_token(visitor.client)})
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.location
    # The sign-in page brings them back to the link.
    sign_in = visitor.client.get(f"/sign-in?next={link}")
    response = visitor.client.post(f"/sign-in?next={link}", data={
        "csrf_token": _form_token(sign_in.get_data(as_text=True)),
        "login": "dormant@example.com", "password": TEST_PASSWORD,
    })  # fmt: skip
    assert response.status_code == 302 and response.location.endswith(link)
    page = visitor.get(link).get_data(as_text=True)
    assert "Accept and connect with hirer" in page
    # Without the CSRF token nothing happens.
    assert visitor.client.post(link).status_code == 400
    assert _count(TalentRelationship) == 0
    accepted = visitor.client.post(link, data={"csrf_token": _form_token(page)})
    assert accepted.status_code == 302
    relationship = db.session.scalar(sa.select(TalentRelationship))
    assert (relationship.client_id, relationship.freelancer_id) == (
        people["hirer"].id, people["dormant"].id,
    )  # fmt: skip
    assert _count(User) == users
    db.session.refresh(invitation)
    assert invitation.status == InvitationStatus.ACCEPTED
    again = visitor.client.post(link, data={"csrf_token": _form_token(page)})
    assert again.status_code == 410 and _count(TalentRelationship) == 1


def test_a_different_signed_in_account_cannot_accept(app, people) -> None:
    invitation, secret = _sent(app, people)
    other = Browser(app.test_client()).sign_in(people["hirer"])
    page = other.get(f"/invitations/{secret}")
    assert page.status_code == 403
    assert "for another account" in page.get_data(as_text=True)
    assert other.post(f"/invitations/{secret}").status_code == 403
    db.session.refresh(invitation)
    assert invitation.status == InvitationStatus.INVITED and _count(TalentRelationship) == 0


def test_an_account_active_since_the_override_is_told_why(app, people) -> None:
    _, secret = _sent(app, people)
    posting.create_thread(db.session, people["dormant"], make_board(), "Hello all", "Hi")
    invited = Browser(app.test_client()).sign_in(people["dormant"])
    response = invited.post(f"/invitations/{secret}")
    assert response.status_code == 409
    assert "1 post written" in response.get_data(as_text=True)
    assert _count(TalentRelationship) == 0
