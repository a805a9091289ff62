"""What the referral pages tell people outside the page: emails (through the outbox) and
notifications (through the forum's notifications), always in the caller's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from forum import notifications, outbox
from referrals.rewards_text import reward_text


def queue_email(session: Session, to: str, subject: str, body: str, kind: str) -> None:
    """Queue an email in the outbox, in the caller's transaction: it goes out (through
    ``flask outbox send``) only if that transaction commits."""
    outbox.enqueue(session, to, subject, body, kind=kind)


def notify(
    session: Session, recipient_id: int, kind: str, detail: str, link: str, dedupe_key: str
) -> None:
    """Notify a member (kinds "referral_signed_up" and "reward_approved"); a repeated
    ``dedupe_key`` notifies once."""
    notifications.notify(
        session, recipient_id, kind, detail=detail, link=link, dedupe_key=dedupe_key
    )


def referral_signed_up(
    session: Session, referrer_id: int, referral_id: int, referee_name: str
) -> None:
    """Tell the referrer that someone they referred signed up."""
    notify(
        session,
        referrer_id,
        "referral_signed_up",
        f"{referee_name} signed up through your link.",
        f"/referrals/{referral_id}",
        f"referral:{referral_id}",
    )


def reward_approved(
    session: Session, referrer_id: int, referral_id: int, reward_id: int, kind: str, amount: int
) -> None:
    """Tell the referrer that a reward of theirs is approved."""
    notify(
        session,
        referrer_id,
        "reward_approved",
        f"Your reward is approved: {reward_text(kind, amount)}.",
        f"/referrals/{referral_id}",
        f"reward:{reward_id}",
    )
