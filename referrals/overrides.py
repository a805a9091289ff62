"""An admin's override of a refused bring-your-own invitation: when the email belongs to an
account that was never active (``referrals.activity``), the invitation is sent anyway,
addressed to that account. Its link never makes an account: the person signs in as the
account the invitation is for and accepting records the relationship, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from forum.accounts.models import User
from forum.accounts.service import email_key, username_key
from referrals import activity
from referrals.invitations import (
    PURPOSES,
    Acceptance,
    InvitationError,
    claim,
    clean_email,
    clean_name,
    create,
    may_invite,
    open_invitation,
)
from referrals.tables import Invitation, InvitationKind, InvitationStatus

MAX_ROWS = 100


class NotTheInvitedAccount(PermissionError):
    """The signed-in account is not the one the invitation is for."""


@dataclass(frozen=True)
class Override:
    invitation: Invitation
    account: User
    # False when the inviter's override for this account was still open (a retry): nothing
    # was stored or sent again.
    sent: bool
    # An open invitation of the inviter to this email from before the account existed (its
    # link can no longer be used), revoked by the override.
    replaced: Invitation | None = None


def _inviter(session: Session, name: str, kind: InvitationKind, now: datetime) -> User:
    inviter = session.scalar(sa.select(User).where(User.username_key == username_key(name.strip())))
    if inviter is None:
        raise InvitationError("inviter", "No member has that username.")
    problem = may_invite(inviter, kind, now)
    if problem:
        problem = problem.replace("Your account", "Their account")
        raise InvitationError("inviter", f"{inviter.username} cannot send it: {problem}")
    return inviter


def override(
    session: Session,
    inviter_name: str,
    kind: str,
    purpose: str,
    first_name: str,
    last_name: str,
    email: str,
    now: datetime,
    link_base: str,
) -> Override:
    """Send the inviter's invitation to an email whose account was never active, addressed
    to that account (its link is ``link_base`` + a new secret); return what was done
    (flushed, not committed). Idempotent: while the inviter's override for that account is
    open, return it and send nothing.

    Raises InvitationError (with the field concerned) when the inviter may not invite,
    a value cannot be used, no account has the email (nothing to override), or the account
    has been active — the message then names why.
    """
    try:
        wanted = InvitationKind(kind)
    except ValueError:
        raise InvitationError("purpose", "Choose an invitation from the list.") from None
    if purpose not in PURPOSES[wanted]:
        raise InvitationError("purpose", "Choose an invitation from the list.")
    inviter = _inviter(session, inviter_name, wanted, now)
    first = clean_name("first_name", first_name)
    last = clean_name("last_name", last_name)
    address = clean_email(email)
    key = email_key(address)
    account = session.scalar(sa.select(User).where(User.email_key == key))
    if account is None:
        raise InvitationError(
            "email", f"No account has this email, so there is nothing to override: "
            f"{inviter.username} can invite them from their own talent page.",
        )  # fmt: skip
    if account.id == inviter.id:
        raise InvitationError("email", "That is the inviter's own account.")
    reasons = activity.why_active(session, account)
    if reasons:
        raise InvitationError(
            "email", f"The account {account.username} has been active, so the invitation stays "
            f"refused: {'; '.join(reasons)}. Invite them to a job instead.",
        )  # fmt: skip
    # As in invitations.invite: two submissions at once must not both find nothing pending.
    session.execute(sa.select(User.id).where(User.id == inviter.id).with_for_update(key_share=True))
    pending = session.scalar(
        sa.select(Invitation).where(
            Invitation.inviter_id == inviter.id,
            Invitation.email_key == key,
            Invitation.status == InvitationStatus.INVITED.value,
            Invitation.expires_at > now,
        )
    )
    if pending is not None and pending.account_id == account.id:
        return Override(pending, account, sent=False)
    if pending is not None:
        pending.status = InvitationStatus.REVOKED.value
        pending.revoked_at = now
    invitation = create(
        session, inviter, wanted, purpose, first, last, address, now, link_base, account.id
    )
    return Override(invitation, account, sent=True, replaced=pending)


def is_for(invitation: Invitation, user: User) -> bool:
    """Return whether ``user`` is the account the override invitation is for (same account,
    and its email is still the invitation's)."""
    return invitation.account_id == user.id and email_key(user.email) == invitation.email_key


def accept(session: Session, secret: str, user: User, now: datetime) -> Acceptance:
    """Accept an override invitation as the signed-in ``user``: record the relationship with
    the inviter and mark the invitation accepted; return all three. The account is not
    changed.

    Raises InvitationNotFound or InvitationClosed for a link that cannot be used,
    NotTheInvitedAccount when ``user`` is another account, InvitationError when the
    invitation is for someone new or the account has been active since it was sent (sign-ins
    from then on do not count: one was needed to accept).
    """
    invitation = open_invitation(session, secret, now)
    if invitation.account_id is None:
        raise InvitationError("account", "This invitation is for someone new to the marketplace.")
    if not is_for(invitation, user):
        raise NotTheInvitedAccount(invitation.id)
    reasons = activity.why_active(session, user, sign_ins_before=invitation.created_at)
    if reasons:
        raise InvitationError(
            "account", f"This account has been active ({'; '.join(reasons)}), so it cannot be "
            f"connected by an invitation. Ask {invitation.inviter.username} to invite you to "
            "a job instead.",
        )  # fmt: skip
    relationship = claim(session, invitation, secret, user, now)
    return Acceptance(user, invitation, relationship)


def recent(session: Session, limit: int = MAX_ROWS) -> list[Invitation]:
    """Return the invitations admins sent by override, newest first, with inviter and
    account loaded."""
    return list(
        session.scalars(
            sa.select(Invitation)
            .where(Invitation.account_id.is_not(None))
            .options(selectinload(Invitation.inviter), selectinload(Invitation.account))
            .order_by(Invitation.id.desc())
            .limit(limit)
        )
    )
