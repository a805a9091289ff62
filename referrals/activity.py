"""Whether an account was ever active: the rule behind an admin's override of a refused
bring-your-own invitation ("an admin may override for an account that was never active").

An account is never active when the schema records nothing it did: no posts (threads
included), kudos given or reports filed; no spend events as payer or payee; no referral
links, referrals as referrer, bring-your-own invitations or relationships, affiliate
application or API token; no sign-in after the UTC day it signed up (signing up signs in);
not banned (Townhall never deletes accounts, so a closed account is a ban: its owner left,
and it cannot sign in to accept anyway) and not staff.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import Role, User, UserSession
from forum.boards.models import Kudos, Post
from forum.moderation.models import Report
from referrals.models import Affiliate, ApiToken, Link, Referral, SpendEvent
from referrals.tables import Invitation, TalentRelationship


def _count(model: type, *where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).select_from(model).where(*where).scalar_subquery()


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def why_active(
    session: Session, user: User, *, sign_ins_before: datetime | None = None
) -> list[str]:
    """Return why the account is not "never active", one short reason each (empty when it
    never was active). One query.

    ``sign_ins_before`` leaves out sign-ins from that moment on: the sign-in made to accept
    an invitation must not count against it.
    """
    day_after_sign_up = datetime.combine(
        user.created_at.astimezone(UTC).date() + timedelta(days=1), time.min, tzinfo=UTC
    )
    late_sign_ins = [UserSession.user_id == user.id, UserSession.created_at >= day_after_sign_up]
    if sign_ins_before is not None:
        late_sign_ins.append(UserSession.created_at < sign_ins_before)
    paid = sa.or_(SpendEvent.payer_id == user.id, SpendEvent.payee_id == user.id)
    related = sa.or_(
        TalentRelationship.client_id == user.id, TalentRelationship.freelancer_id == user.id
    )
    counts = session.execute(
        sa.select(
            _count(Post, Post.author_id == user.id),
            _count(Kudos, Kudos.giver_id == user.id),
            _count(Report, Report.reporter_id == user.id),
            _count(SpendEvent, paid),
            _count(Link, Link.referrer_id == user.id),
            _count(Referral, Referral.referrer_id == user.id),
            _count(Invitation, Invitation.inviter_id == user.id),
            _count(TalentRelationship, related),
            _count(Affiliate, Affiliate.user_id == user.id),
            _count(ApiToken, ApiToken.owner_id == user.id),
            _count(UserSession, *late_sign_ins),
        )
    ).one()
    posts, kudos, reports, spend, links, referrals, invited, related, affiliate, tokens, later = (
        counts
    )
    reasons = []
    if user.banned_at is not None:
        reasons.append("banned or closed")
    if user.role != Role.MEMBER:
        reasons.append(f"a {user.role}")
    for count, one, many in (
        (posts, "post written", "posts written"),
        (kudos, "kudos given", "kudos given"),
        (reports, "report filed", "reports filed"),
        (spend, "payment on the marketplace", "payments on the marketplace"),
        (links, "referral link", "referral links"),
        (referrals, "referral made", "referrals made"),
        (invited, "invitation sent", "invitations sent"),
        (related, "bring-your-own relationship", "bring-your-own relationships"),
        (affiliate, "affiliate application", "affiliate applications"),
        (tokens, "API token", "API tokens"),
    ):
        if count:
            reasons.append(_plural(count, one, many))
    if later:
        times = "" if later == 1 else f" {later} times"
        reasons.append(f"signed in{times} after the day it signed up ({user.created_at:%-d %B %Y})")
    return reasons
