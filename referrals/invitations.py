"""Bring your own talent (or client): a member invites someone who has no account yet; the
emailed link signs them up and records the relationship, which pays a reduced service fee.

Links are single-use secrets of which only a SHA-256 hash is stored; they expire after
INVITATION_DAYS. Townhall never deletes accounts (closing one is a ban), so "an account ever
existed for this email" is "a row in users has this email_key", banned accounts included.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from forum.accounts import service
from forum.accounts.models import User
from forum.accounts.service import email_key
from referrals import messages
from referrals.models import Program, RewardKind
from referrals.tables import (
    Invitation,
    InvitationKind,
    InvitationStatus,
    TalentRelationship,
)

INVITATION_DAYS = 14
# A resend this soon after the last send is a double click or a retry, not a new wish.
RESEND_PAUSE = timedelta(minutes=1)
SECRET_PREFIX = "inv_"  # noqa: S105 - a marker, not a secret
DEFAULT_FLAT_FEE_BP = 500
PURPOSES = {
    InvitationKind.TALENT: {
        "offer": "review an offer",
        "talent_cloud": "join my talent cloud",
    },
    InvitationKind.CLIENT: {
        "proposal": "review my proposal",
        "work_together": "work with me on the marketplace",
    },
}
PROGRAM_SLUGS = {
    InvitationKind.TALENT: "bring-your-own-talent",
    InvitationKind.CLIENT: "bring-your-own-client",
}


class InvitationError(ValueError):
    """The invitation cannot be made or changed as asked; tied to the field concerned."""

    category = "error"  # how a page flashes it

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InvitationJustSent(InvitationError):
    """The invitation was sent moments ago (a double click, a retried request, a second
    tab): it is not sent again, so the invitee gets one email, not two."""

    category = "info"  # nothing went wrong

    def __init__(self, address: str) -> None:
        super().__init__(
            "status",
            f"This invitation was sent to {address} less than a minute ago and is on its way.",
        )


class InvitationNotFound(LookupError):
    """No invitation of this member (or for this link) exists."""


class InvitationClosed(ValueError):
    """The link was used, revoked or has expired; ``status`` says which."""

    def __init__(self, status: InvitationStatus) -> None:
        super().__init__(status.value)
        self.status = status


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_secret(secret)


def clean_name(field: str, value: str) -> str:
    """Return the name on one line; raise InvitationError when empty or too long."""
    name = " ".join((value or "").split())
    if not 1 <= len(name) <= 60:
        raise InvitationError(field, "Give a name of 1 to 60 characters.")
    return name


def clean_email(value: str) -> str:
    """Return the address in its normal form; raise InvitationError when it is malformed."""
    value = (value or "").strip()
    if len(value) > 254:
        raise InvitationError("email", "That email address is too long.")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvitationError(
            "email", "Enter a valid email address, like name@example.com."
        ) from None


def may_invite(user: User, kind: InvitationKind, now: datetime) -> str:
    """Return why the member may not send this kind of invitation ("" when they may)."""
    if user.is_banned or user.is_suspended(now):
        return "Your account cannot send invitations at the moment."
    if kind == InvitationKind.TALENT and not user.hires:
        return "Only clients can invite their own freelancers."
    if kind == InvitationKind.CLIENT and not user.works:
        return "Only freelancers can invite their own clients."
    return ""


def _email_text(invitation: Invitation, inviter: User, link: str) -> tuple[str, str]:
    purpose = PURPOSES[InvitationKind(invitation.kind)][invitation.purpose]
    subject = f"{inviter.username} invites you to {purpose} on the marketplace"
    how = (
        "Create your account with this link (your name and email are filled in for you)"
        if invitation.account_id is None
        else "You already have an account with this email address: open this link, sign in "
        "to that account and accept"
    )
    body = (
        f"Hello {invitation.first_name},\n\n"
        f"{inviter.username} invites you to {purpose}. {how}:\n\n{link}\n\n"
        f"The link works once and expires on {invitation.expires_at:%-d %B %Y} (UTC). "
        "If you did not expect this email, ignore it: nothing happens unless you use the link.\n"
    )
    return subject, body


def _send(session: Session, invitation: Invitation, inviter: User, link_base: str, secret: str):  # noqa: ANN202
    subject, body = _email_text(invitation, inviter, link_base + secret)
    messages.queue_email(session, invitation.email, subject, body, "invitation")


def invite(
    session: Session,
    inviter: User,
    kind: InvitationKind,
    purpose: str,
    first_name: str,
    last_name: str,
    email: str,
    now: datetime,
    link_base: str,
) -> Invitation:
    """Record an invitation, queue its email (the link is ``link_base`` + a new secret) and
    return it (flushed, not committed).

    Raises InvitationError when the inviter may not invite, a value cannot be used, an
    account exists (or existed) for the email, or the inviter already has a pending
    invitation for it.
    """
    kind = InvitationKind(kind)
    problem = may_invite(inviter, kind, now)
    if problem:
        raise InvitationError("kind", problem)
    if purpose not in PURPOSES[kind]:
        choices = ", ".join(f"“{p}”" for p in PURPOSES[kind].values())
        raise InvitationError("purpose", f"Choose one of {choices}.")
    first = clean_name("first_name", first_name)
    last = clean_name("last_name", last_name)
    address = clean_email(email)
    key = email_key(address)
    if session.scalar(sa.select(User.id).where(User.email_key == key)):
        who = "freelancer" if kind == InvitationKind.TALENT else "client"
        raise InvitationError(
            "email",
            f"This {who} already has an account. Invite them to a job instead: "
            "bring-your-own invitations are only for people new to the marketplace.",
        )
    # One invitation of a member at a time: a form submitted twice at once must not pass the
    # pending check twice (PostgreSQL; SQLite serializes writers anyway).
    session.execute(sa.select(User.id).where(User.id == inviter.id).with_for_update(key_share=True))
    pending = session.scalar(
        sa.select(Invitation.id).where(
            Invitation.inviter_id == inviter.id,
            Invitation.email_key == key,
            Invitation.status == InvitationStatus.INVITED.value,
            Invitation.expires_at > now,
        )
    )
    if pending:
        raise InvitationError(
            "email",
            "You have already invited this person and the invitation is still open. "
            "Resend it from your list instead.",
        )
    return create(session, inviter, kind, purpose, first, last, address, now, link_base)


def create(
    session: Session,
    inviter: User,
    kind: InvitationKind,
    purpose: str,
    first_name: str,
    last_name: str,
    address: str,
    now: datetime,
    link_base: str,
    account_id: int | None = None,
) -> Invitation:
    """Store an invitation of values already checked, queue its email (the link is
    ``link_base`` + a new secret) and return it (flushed, not committed)."""
    secret, hashed = _new_secret()
    invitation = Invitation(
        inviter_id=inviter.id,
        kind=kind.value,
        purpose=purpose,
        first_name=first_name,
        last_name=last_name,
        email=address,
        email_key=email_key(address),
        token_hash=hashed,
        status=InvitationStatus.INVITED.value,
        created_at=now,
        expires_at=now + timedelta(days=INVITATION_DAYS),
        last_sent_at=now,
        send_count=1,
        account_id=account_id,
    )
    session.add(invitation)
    session.flush()
    _send(session, invitation, inviter, link_base, secret)
    return invitation


def invitation_of(
    session: Session, inviter: User, invitation_id: int, *, for_update: bool = False
) -> Invitation:
    """Return one of the member's invitations; raise InvitationNotFound otherwise.

    ``for_update`` locks its row until the transaction ends (PostgreSQL; SQLite's writers
    are already one at a time) and reads its newest values, for a change that depends on them.
    """
    query = sa.select(Invitation).where(
        Invitation.id == invitation_id, Invitation.inviter_id == inviter.id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    invitation = session.scalar(query)
    if invitation is None:
        raise InvitationNotFound(invitation_id)
    return invitation


def resend(
    session: Session, inviter: User, invitation_id: int, now: datetime, link_base: str
) -> Invitation:
    """Send the invitation again with a new link valid for another INVITATION_DAYS (the old
    link stops working) and return it.

    Raises InvitationNotFound, or InvitationError when it was accepted or revoked, was an
    admin's override, or an account now exists for the email; InvitationJustSent when it
    was sent less than RESEND_PAUSE ago, which is also what the second of two simultaneous
    resends meets (the row is locked, so it waits for the first and reads its send time).
    """
    invitation = invitation_of(session, inviter, invitation_id, for_update=True)
    if invitation.status != InvitationStatus.INVITED:
        raise InvitationError("status", f"This invitation was {invitation.status}.")
    if invitation.account_id is not None:
        raise InvitationError(
            "status", "An admin sent this invitation to an existing account: only an admin "
            "can send it again, from the referral console.",
        )  # fmt: skip
    if session.scalar(sa.select(User.id).where(User.email_key == invitation.email_key)):
        raise InvitationError(
            "email", "This person has an account now. Invite them to a job instead."
        )
    if invitation.last_sent_at > now - RESEND_PAUSE:
        raise InvitationJustSent(invitation.email)
    secret, hashed = _new_secret()
    invitation.token_hash = hashed
    invitation.expires_at = now + timedelta(days=INVITATION_DAYS)
    invitation.last_sent_at = now
    invitation.send_count += 1
    session.flush()
    _send(session, invitation, inviter, link_base, secret)
    return invitation


def revoke(session: Session, inviter: User, invitation_id: int, now: datetime) -> Invitation:
    """Revoke an open invitation (its link stops working) and return it.

    Raises InvitationNotFound, or InvitationError when it was accepted or already revoked.
    """
    invitation = invitation_of(session, inviter, invitation_id)
    if invitation.status != InvitationStatus.INVITED:
        raise InvitationError("status", f"This invitation was already {invitation.status}.")
    invitation.status = InvitationStatus.REVOKED.value
    invitation.revoked_at = now
    session.flush()
    return invitation


def invitations_of(session: Session, inviter: User) -> list[Invitation]:
    """Return every invitation the member sent, newest first."""
    return list(
        session.scalars(
            sa.select(Invitation)
            .where(Invitation.inviter_id == inviter.id)
            .order_by(Invitation.id.desc())
        )
    )


def open_invitation(session: Session, secret: str, now: datetime) -> Invitation:
    """Return the invitation a link opens, if it can still be accepted.

    Raises InvitationNotFound for an unknown link, InvitationClosed when it was accepted,
    revoked or has expired.
    """
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 100:
        raise InvitationNotFound(secret)
    invitation = session.scalar(
        sa.select(Invitation).where(Invitation.token_hash == hash_secret(secret))
    )
    if invitation is None:
        raise InvitationNotFound(secret)
    status = invitation.status_at(now)
    if status != InvitationStatus.INVITED:
        raise InvitationClosed(status)
    return invitation


def flat_fee_bp(session: Session, kind: InvitationKind) -> int:
    """Return the flat service fee of the bring-your-own program for this kind (its fee
    discount tier), or DEFAULT_FLAT_FEE_BP when that program has none."""
    program = session.scalar(sa.select(Program).where(Program.slug == PROGRAM_SLUGS[kind]))
    if program is not None:
        for tier in program.tiers:
            if tier.reward_kind == RewardKind.FEE_DISCOUNT:
                return tier.reward_amount
    return DEFAULT_FLAT_FEE_BP


@dataclass(frozen=True)
class Acceptance:
    user: User
    invitation: Invitation
    relationship: TalentRelationship


def accept(
    session: Session,
    secret: str,
    username: str,
    password: str,
    password_method: str,
    now: datetime,
) -> Acceptance:
    """Create the invited person's account (with the invitation's email), record the
    relationship with the inviter, and mark the invitation accepted; return all three.

    The link works once: the invitation row is updated only while still open, so two
    submissions at once make one account. Raises InvitationNotFound, InvitationClosed, or
    forum.accounts.service.AccountError for an unusable username or password.
    """
    invitation = open_invitation(session, secret, now)
    if invitation.account_id is not None:
        raise InvitationClosed(InvitationStatus.ACCEPTED)  # for an account that exists
    kind = InvitationKind(invitation.kind)
    user = service.register(
        session,
        service.SignUp(
            username=username,
            email=invitation.email,
            password=password,
            hires=kind == InvitationKind.CLIENT,
            works=kind == InvitationKind.TALENT,
        ),
        password_method,
    )
    relationship = claim(session, invitation, secret, user, now)
    return Acceptance(user, invitation, relationship)


def claim(
    session: Session, invitation: Invitation, secret: str, user: User, now: datetime
) -> TalentRelationship:
    """Mark the invitation accepted by ``user``, record the relationship between the inviter
    and ``user``, notify the inviter, and return the relationship.

    The invitation row is updated only while still open under this link's secret, so two
    submissions at once claim it once: raises InvitationClosed for the second.
    """
    kind = InvitationKind(invitation.kind)
    claimed = session.execute(
        sa.update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.status == InvitationStatus.INVITED.value,
            Invitation.token_hash == hash_secret(secret),
        )
        .values(status=InvitationStatus.ACCEPTED.value, accepted_at=now, accepted_user_id=user.id)
        .returning(Invitation.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if claimed is None:
        raise InvitationClosed(InvitationStatus.ACCEPTED)
    session.refresh(invitation)
    client_id, freelancer_id = (
        (invitation.inviter_id, user.id)
        if kind == InvitationKind.TALENT
        else (user.id, invitation.inviter_id)
    )
    relationship = TalentRelationship(
        client_id=client_id,
        freelancer_id=freelancer_id,
        invitation_id=invitation.id,
        flat_fee_bp=flat_fee_bp(session, kind),
        created_at=now,
    )
    session.add(relationship)
    session.flush()
    messages.notify(
        session,
        invitation.inviter_id,
        "referral_signed_up",
        f"{invitation.full_name} accepted your invitation and joined as {user.username}."
        if invitation.account_id is None
        else f"{invitation.full_name} ({user.username}) accepted your invitation.",
        "/referrals/talent",
        f"invitation:{invitation.id}",
    )
    return relationship
