"""Bring your own talent and clients: invitations, refusals, single-use expiring links."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum.accounts.service import AccountError
from forum.database import utcnow
from forum.extensions import db
from referrals import invitations
from referrals.invitations import InvitationClosed, InvitationError, InvitationNotFound
from referrals.tables import Invitation, InvitationKind, InvitationStatus, TalentRelationship
from tests.conftest import FAST_PASSWORD_HASH, TEST_PASSWORD, make_user

LINK = "https://townhall.test/invitations/"
TALENT = InvitationKind.TALENT


def _invite(inviter, email="dana@example.com", kind=TALENT, purpose="offer", now=None):  # noqa: ANN001, ANN202
    return invitations.invite(
        db.session, inviter, kind, purpose, "Dana", "Scully", email, now or utcnow(), LINK
    )


def _secret_of(invitation: Invitation) -> str:
    # Tests cannot read the secret back from its hash; swap in a known one.
    secret = invitations.SECRET_PREFIX + f"test-{invitation.id}"
    invitation.token_hash = invitations.hash_secret(secret)
    db.session.flush()
    return secret


def _accept(secret: str, username: str = "dana", now=None):  # noqa: ANN001, ANN202
    return invitations.accept(
        db.session, secret, username, TEST_PASSWORD, FAST_PASSWORD_HASH, now or utcnow()
    )


def test_a_client_invites_a_freelancer_who_signs_up_with_the_link(app) -> None:
    client = make_user(hires=True)
    invitation = _invite(client, "Dana.Scully@Example.com")
    assert invitation.status_at(utcnow()) == InvitationStatus.INVITED
    assert invitation.expires_at - invitation.created_at == timedelta(days=14)
    assert len(invitation.token_hash) == 64
    done = _accept(_secret_of(invitation))
    assert done.user.email == "Dana.Scully@example.com" and done.user.works
    assert not done.user.hires
    assert done.invitation.status == InvitationStatus.ACCEPTED
    assert (done.relationship.client_id, done.relationship.freelancer_id) == (
        client.id, done.user.id,
    )  # fmt: skip
    assert done.relationship.flat_fee_bp == 500


def test_a_freelancer_invites_a_client_the_same_way(app) -> None:
    freelancer = make_user(hires=False, works=True)
    invitation = _invite(freelancer, kind=InvitationKind.CLIENT, purpose="proposal")
    done = _accept(_secret_of(invitation))
    assert done.user.hires and not done.user.works
    assert (done.relationship.client_id, done.relationship.freelancer_id) == (
        done.user.id, freelancer.id,
    )  # fmt: skip


def test_an_email_with_an_account_is_refused_with_advice(app) -> None:
    make_user("existing", email="taken@example.com")
    with pytest.raises(InvitationError) as refused:
        _invite(make_user(hires=True), "TAKEN@example.com")
    assert refused.value.field == "email"
    assert "already has an account. Invite them to a job instead" in refused.value.message


def test_a_banned_account_still_counts_as_existing(app) -> None:
    banned = make_user("gone", email="gone@example.com")
    banned.banned_at = utcnow()
    with pytest.raises(InvitationError, match="already has an account"):
        _invite(make_user(hires=True), "gone@example.com")


def test_a_second_pending_invitation_from_the_same_client_is_refused(app) -> None:
    client = make_user(hires=True)
    _invite(client)
    with pytest.raises(InvitationError, match="already invited this person"):
        _invite(client, "DANA@example.com")
    _invite(make_user(hires=True))  # another client may


@pytest.mark.parametrize(
    ("email", "purpose", "field"),
    [
        ("not-an-email", "offer", "email"),
        ("a@b", "offer", "email"),
        ("dana@example.com", "proposal", "purpose"),
    ],
)
def test_bad_values_are_refused_and_store_nothing(app, email, purpose, field) -> None:
    with pytest.raises(InvitationError) as refused:
        _invite(make_user(hires=True), email, purpose=purpose)
    assert refused.value.field == field
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 0


def test_only_clients_invite_talent_and_only_freelancers_invite_clients(app) -> None:
    with pytest.raises(InvitationError, match="Only clients"):
        _invite(make_user(hires=False, works=True))
    with pytest.raises(InvitationError, match="Only freelancers"):
        _invite(make_user(hires=True), kind=InvitationKind.CLIENT, purpose="proposal")


def test_a_link_works_once(app) -> None:
    secret = _secret_of(_invite(make_user(hires=True)))
    _accept(secret)
    with pytest.raises(InvitationClosed) as closed:
        _accept(secret, "dana2")
    assert closed.value.status == InvitationStatus.ACCEPTED


def test_an_expired_or_revoked_link_cannot_be_used(app) -> None:
    client = make_user(hires=True)
    old = _invite(client, now=utcnow() - timedelta(days=15))
    assert old.status_at(utcnow()) == InvitationStatus.EXPIRED
    with pytest.raises(InvitationClosed) as closed:
        _accept(_secret_of(old))
    assert closed.value.status == InvitationStatus.EXPIRED
    other = _invite(client, "fox@example.com")
    invitations.revoke(db.session, client, other.id, utcnow())
    with pytest.raises(InvitationClosed):
        _accept(_secret_of(other), "fox")
    with pytest.raises(InvitationNotFound):
        _accept(invitations.SECRET_PREFIX + "made-up")


def test_resending_renews_the_link_and_the_old_one_stops_working(app) -> None:
    client = make_user(hires=True)
    invitation = _invite(client, now=utcnow() - timedelta(days=20))
    old_secret = _secret_of(invitation)
    invitations.resend(db.session, client, invitation.id, utcnow(), LINK)
    assert invitation.send_count == 2
    assert invitation.status_at(utcnow()) == InvitationStatus.INVITED
    with pytest.raises(InvitationNotFound):
        _accept(old_secret)


def test_a_resend_moments_after_the_last_send_sends_nothing(app) -> None:
    client = make_user(hires=True)
    invitation = _invite(client)
    with pytest.raises(invitations.InvitationJustSent):
        invitations.resend(db.session, client, invitation.id, utcnow(), LINK)
    later = utcnow() + invitations.RESEND_PAUSE
    invitations.resend(db.session, client, invitation.id, later, LINK)
    with pytest.raises(invitations.InvitationJustSent):
        invitations.resend(db.session, client, invitation.id, later, LINK)
    assert invitation.send_count == 2


def test_another_members_invitation_cannot_be_resent_or_revoked(app) -> None:
    invitation = _invite(make_user(hires=True))
    stranger = make_user(hires=True)
    with pytest.raises(InvitationNotFound):
        invitations.revoke(db.session, stranger, invitation.id, utcnow())
    with pytest.raises(InvitationNotFound):
        invitations.resend(db.session, stranger, invitation.id, utcnow(), LINK)


def test_a_bad_username_makes_no_account_and_keeps_the_link_open(app) -> None:
    invitation = _invite(make_user(hires=True))
    secret = _secret_of(invitation)
    with pytest.raises(AccountError), db.session.begin_nested():
        _accept(secret, "x")
    assert invitations.open_invitation(db.session, secret, utcnow()).id == invitation.id
    assert db.session.scalar(sa.select(sa.func.count(TalentRelationship.id))) == 0


def test_the_invitation_email_is_queued_with_a_working_link(app) -> None:
    from forum.outbox import OutboxEmail

    client = make_user("hirer", hires=True)
    invitation = _invite(client, purpose="talent_cloud")
    email = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.kind == "invitation"))
    assert email.to_address == "dana@example.com"
    assert email.subject == "hirer invites you to join my talent cloud on the marketplace"
    assert email.text_body.startswith("Hello Dana,")
    secret = email.text_body.split(LINK, 1)[1].split()[0]
    assert invitations.hash_secret(secret) == invitation.token_hash
    assert secret not in invitation.token_hash
    assert _accept(secret).invitation.id == invitation.id


def test_nothing_is_queued_for_a_refused_invitation(app) -> None:
    from forum.outbox import OutboxEmail

    make_user("existing", email="taken@example.com")
    with pytest.raises(InvitationError):
        _invite(make_user(hires=True), "taken@example.com")
    assert db.session.scalar(sa.select(sa.func.count(OutboxEmail.id))) == 0
