"""An admin's override of a refused invitation: sent only to a never-active account, once,
and accepted by that account signed in, which gains the relationship and nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum.accounts import sessions
from forum.accounts.models import User
from forum.boards import posting
from forum.database import utcnow
from forum.extensions import db
from forum.outbox import OutboxEmail
from referrals import invitations, overrides
from referrals.invitations import InvitationClosed, InvitationError
from referrals.tables import Invitation, InvitationStatus, TalentRelationship
from tests.conftest import make_board, make_user

LINK = "http://townhall.test/invitations/"


def _override(inviter: User, email: str = "dormant@example.com", **kw):  # noqa: ANN003, ANN202
    values = {"kind": "talent", "purpose": "offer", "first_name": "Dana", "last_name": "Scully"}
    values.update(kw)
    return overrides.override(
        db.session, inviter.username, values["kind"], values["purpose"], values["first_name"],
        values["last_name"], email, utcnow(), LINK,
    )  # fmt: skip


def _secret_of(invitation: Invitation) -> str:
    secret = invitations.SECRET_PREFIX + f"override-{invitation.id}"
    invitation.token_hash = invitations.hash_secret(secret)
    db.session.flush()
    return secret


def _count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


@pytest.fixture
def dormant(app) -> User:  # noqa: ANN001
    """An account that signed up and never did anything; it only hires."""
    return make_user("dormant", email="dormant@example.com", hires=True, works=False)


def test_an_override_is_sent_to_a_never_active_account(app, dormant) -> None:
    client = make_user("hirer", hires=True)
    done = _override(client, "Dormant@Example.com")
    assert done.sent and done.account.id == dormant.id and done.replaced is None
    invitation = done.invitation
    assert invitation.account_id == dormant.id and invitation.inviter_id == client.id
    assert invitation.status == InvitationStatus.INVITED
    assert invitation.expires_at - invitation.created_at == timedelta(days=14)
    email = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.kind == "invitation"))
    assert email.to_address == "Dormant@example.com"
    assert "You already have an account with this email address" in email.text_body
    secret = email.text_body.split(LINK, 1)[1].split()[0]
    assert invitations.hash_secret(secret) == invitation.token_hash


def test_an_active_account_is_refused_naming_why_and_nothing_is_stored(app, dormant) -> None:
    posting.create_thread(db.session, dormant, make_board(), "Anyone here?", "Hello")
    with pytest.raises(InvitationError) as refused:
        _override(make_user(hires=True))
    assert refused.value.field == "email"
    assert "dormant has been active" in refused.value.message
    assert "1 post written" in refused.value.message
    assert _count(Invitation) == 0 and _count(OutboxEmail) == 0


def test_an_email_without_an_account_needs_no_override(app) -> None:
    with pytest.raises(InvitationError, match="nothing to override"):
        _override(make_user(hires=True), "new@example.com")


@pytest.mark.parametrize(
    ("inviter", "kw", "field", "message"),
    [
        ("nobody", {}, "inviter", "No member has that username"),
        ("worker", {}, "inviter", "Only clients can invite their own freelancers"),
        ("hirer", {"purpose": "proposal"}, "purpose", "Choose an invitation"),
        ("hirer", {"kind": "pet"}, "purpose", "Choose an invitation"),
        ("hirer", {"first_name": " "}, "first_name", "Give a name"),
    ],
)
def test_bad_values_are_refused(app, dormant, inviter, kw, field, message) -> None:
    make_user("hirer", hires=True)
    make_user("worker", hires=False, works=True)
    with pytest.raises(InvitationError, match=message) as refused:
        _override(User(username=inviter), **kw)
    assert refused.value.field == field
    assert _count(Invitation) == 0


def test_a_retry_sends_nothing_more(app, dormant) -> None:
    client = make_user(hires=True)
    first = _override(client)
    again = _override(client)
    assert not again.sent and again.invitation.id == first.invitation.id
    assert _count(Invitation) == 1 and _count(OutboxEmail) == 1


def test_an_invitation_from_before_the_account_existed_is_replaced(app) -> None:
    client = make_user(hires=True)
    stale = invitations.invite(db.session, client, "talent", "offer", "Dana", "Scully",
                               "dormant@example.com", utcnow(), LINK)  # fmt: skip
    make_user("dormant", email="dormant@example.com")
    done = _override(client)
    assert done.sent and done.replaced.id == stale.id
    assert stale.status == InvitationStatus.REVOKED


def test_the_invited_account_accepts_and_gains_the_relationship_only(app, dormant) -> None:
    client = make_user("hirer", hires=True)
    invitation = _override(client).invitation
    secret = _secret_of(invitation)
    users_before = _count(User)
    # The sign-in needed to accept, days after signing up, does not count against it.
    dormant.created_at = utcnow() - timedelta(days=30)
    sessions.start(db.session, dormant, "browser", remember=False)
    done = overrides.accept(db.session, secret, dormant, utcnow())
    assert done.user.id == dormant.id and _count(User) == users_before
    assert (done.relationship.client_id, done.relationship.freelancer_id) == (
        client.id, dormant.id,
    )  # fmt: skip
    assert invitation.status == InvitationStatus.ACCEPTED
    assert invitation.accepted_user_id == dormant.id
    assert (dormant.hires, dormant.works, dormant.username) == (True, False, "dormant")
    with pytest.raises(InvitationClosed):
        overrides.accept(db.session, secret, dormant, utcnow())
    assert _count(TalentRelationship) == 1


def test_another_account_cannot_accept_it(app, dormant) -> None:
    secret = _secret_of(_override(make_user(hires=True)).invitation)
    intruder = make_user("intruder", works=True)
    with pytest.raises(overrides.NotTheInvitedAccount):
        overrides.accept(db.session, secret, intruder, utcnow())
    assert _count(TalentRelationship) == 0


def test_the_sign_up_link_flow_cannot_use_it_to_make_an_account(app, dormant) -> None:
    secret = _secret_of(_override(make_user(hires=True)).invitation)
    with pytest.raises(InvitationClosed):
        invitations.accept(db.session, secret, "newname", "a long password", "scrypt:1024:8:1",
                           utcnow())  # fmt: skip
    assert db.session.scalar(sa.select(User.id).where(User.username == "newname")) is None


def test_an_account_active_since_the_override_cannot_accept(app, dormant) -> None:
    secret = _secret_of(_override(make_user(hires=True)).invitation)
    posting.create_thread(db.session, dormant, make_board(), "Anyone here?", "Hello")
    with pytest.raises(InvitationError, match="1 post written"):
        overrides.accept(db.session, secret, dormant, utcnow())
    assert _count(TalentRelationship) == 0


def test_the_inviter_cannot_resend_an_override(app, dormant) -> None:
    client = make_user(hires=True)
    invitation = _override(client).invitation
    with pytest.raises(InvitationError, match="only an admin"):
        invitations.resend(db.session, client, invitation.id, utcnow(), LINK)
