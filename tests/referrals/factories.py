"""Small factories for referral test data: programs, links, referrals, events."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from forum.accounts.models import User
from forum.database import utcnow
from forum.extensions import db
from referrals import attribution, clicks, links, programs
from referrals.attribution import Attribution
from referrals.models import (
    EventKind,
    Link,
    Program,
    RefereeKind,
    Referral,
    ReferrerKind,
    RewardKind,
)
from referrals.programs import ProgramSpec, TierSpec
from referrals.spend import EventIn, Party
from tests.conftest import make_user

_sequence = itertools.count(1)

CREDIT_AT_500 = (TierSpec(50_000, RewardKind.CREDIT, 10_000),)


def make_program(
    tiers: tuple[TierSpec, ...] = CREDIT_AT_500,
    referrer_kind: ReferrerKind = ReferrerKind.CLIENT,
    referee_kind: RefereeKind = RefereeKind.CLIENT,
    hold_days: int = 30,
    attribution_days: int = 30,
    started: datetime | None = None,
    **fields,
) -> Program:
    """Create a running program (started a day ago unless told)."""
    number = next(_sequence)
    spec = ProgramSpec(
        slug=f"program-{number}",
        name=f"Program {number}",
        referrer_kind=referrer_kind,
        referee_kind=referee_kind,
        attribution_days=attribution_days,
        hold_days=hold_days,
        tiers=tiers,
        starts_at=started or utcnow() - timedelta(days=1),
        **fields,
    )
    return programs.create_program(db.session, spec, utcnow())


def referrer_for(program: Program, **fields) -> User:
    """Create a member who may refer in the program."""
    kind = program.referrer_kind
    if kind == ReferrerKind.AFFILIATE:
        from referrals import affiliates

        user = make_user(**fields)
        affiliates.decide(db.session, user, True, None, utcnow())
        return user
    works = kind in (ReferrerKind.FREELANCER, ReferrerKind.TOP_RATED_FREELANCER)
    user = make_user(hires=not works, works=works, **fields)
    user.top_rated = kind == ReferrerKind.TOP_RATED_FREELANCER
    return user


def make_link(program: Program, referrer: User | None = None, **fields) -> Link:
    referrer = referrer or referrer_for(program)
    return links.create_link(db.session, referrer, program, utcnow(), **fields)


def referee_for(program: Program, **fields) -> User:
    client = program.referee_kind == RefereeKind.CLIENT
    return make_user(hires=client, works=not client, **fields)


def make_referral(
    program: Program,
    referrer: User | None = None,
    referee: User | None = None,
    signup_address_hash: str | None = None,
    clicked: datetime | None = None,
) -> Referral:
    """Create a referral the way a sign-up does: a click on a link, then attribution."""
    link = make_link(program, referrer)
    clicked = clicked or utcnow() - timedelta(hours=1)
    click = clicks.record_click(
        db.session, link, f"click-{next(_sequence)}", "Mozilla/5.0", None, clicked, 30
    )
    referee = referee or referee_for(program)
    referral = attribution.attribute_sign_up(
        db.session,
        referee,
        Attribution(program.id, link.id, click.id, clicked),
        signup_address_hash,
        utcnow(),
    )
    assert referral is not None
    return referral


def party(who: User | str | int) -> Party:
    if isinstance(who, User):
        return Party(user_id=who.id)
    if isinstance(who, int):
        return Party(user_id=who)
    return Party(external_id=who)


def event(
    payer: User | str | int,
    payee: User | str | int,
    amount_cents: int = 10_000,
    kind: EventKind = EventKind.PAYMENT,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    currency: str = "USD",
) -> EventIn:
    return EventIn(
        event_id=event_id or f"evt-{next(_sequence)}",
        occurred_at=occurred_at or utcnow(),
        kind=kind,
        payer=party(payer),
        payee=party(payee),
        amount_cents=amount_cents,
        currency=currency,
    )


def counterparty(referral: Referral) -> User:
    """Return a member on the other side of the referee's payments."""
    return make_user(
        hires=referral.program.referee_kind != RefereeKind.CLIENT,
        works=referral.program.referee_kind == RefereeKind.CLIENT,
    )


def spend_event(
    referral: Referral, other: User, amount_cents: int, kind=EventKind.PAYMENT, **kw
) -> EventIn:
    """An event in which the referee spends (client) or earns (freelancer) the amount."""
    if referral.program.referee_kind == RefereeKind.CLIENT:
        return event(referral.referee, other, amount_cents, kind, **kw)
    return event(other, referral.referee, amount_cents, kind, **kw)


def sign_up(client, username: str, kind: str = "hire", email: str | None = None):  # noqa: ANN001, ANN201
    """Sign up through the real form (CSRF included) with whatever cookies the client holds."""
    from tests.conftest import TEST_PASSWORD, csrf_token

    token = csrf_token(client, "/sign-up")
    return client.post(
        "/sign-up",
        data={
            "csrf_token": token,
            "username": username,
            "email": email or f"{username}@example.com",
            "password": TEST_PASSWORD,
            "confirm": TEST_PASSWORD,
            "kind": kind,
        },
    )


CASH_AT_100 = (TierSpec(10_000, RewardKind.CASH, 5_000),)


def rewarded_referral(
    program: Program | None = None, referrer: User | None = None, amount_cents: int = 10_000
) -> Referral:
    """Return a referral whose referee spent ``amount_cents`` (recorded as a spend event), in
    a program paying $50 cash at $100 with no hold unless told: an approved cash reward."""
    from referrals import spend

    program = program or make_program(tiers=CASH_AT_100, hold_days=0)
    referral = make_referral(program, referrer)
    spend.record_event(
        db.session, spend_event(referral, counterparty(referral), amount_cents), utcnow()
    )
    db.session.refresh(referral)
    return referral
