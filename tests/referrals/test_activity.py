"""The "never active" rule behind invitation overrides: each thing an account can have done
is a reason, named; signing in on the day of sign-up is not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from forum.accounts import sessions
from forum.accounts.models import Role, User
from forum.boards import posting
from forum.boards.models import Post
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import reports
from referrals import affiliates, invitations, spend, tokens
from referrals.activity import why_active
from referrals.tables import TalentRelationship
from tests.conftest import make_board, make_user
from tests.referrals.factories import event, make_link, make_program, make_referral


def _post(account: User) -> None:
    posting.create_thread(db.session, account, make_board(), "Hello", "First post")


def _someone_elses_post() -> Post:
    thread = posting.create_thread(db.session, make_user(), make_board(), "Hello there", "Hi")
    return posting.reply(db.session, make_user(), thread, "A reply")


def _kudos(account: User) -> None:
    posting.give_kudos(db.session, account, _someone_elses_post())


def _report(account: User) -> None:
    reports.file_report(db.session, account, _someone_elses_post(), "spam", "")


def _pays(account: User) -> None:
    spend.record_event(db.session, event(account, make_user(works=True)), utcnow())


def _is_paid(account: User) -> None:
    spend.record_event(db.session, event(make_user(), account), utcnow())


def _link(account: User) -> None:
    make_link(make_program(), account)


def _referral(account: User) -> None:
    make_referral(make_program(), referrer=account)


def _invitation(account: User) -> None:
    invitations.invite(
        db.session, account, "talent", "offer", "Dana", "Scully", "dana@example.com", utcnow(),
        "http://townhall.test/invitations/",
    )  # fmt: skip


def _relationship(account: User) -> None:
    db.session.add(TalentRelationship(client_id=make_user().id, freelancer_id=account.id,
                                      flat_fee_bp=500, created_at=utcnow()))  # fmt: skip


def _affiliate(account: User) -> None:
    affiliates.apply(db.session, account, "Readers", utcnow())


def _token(account: User) -> None:
    tokens.create_token(db.session, "mine", ["me:read"], utcnow(), owner=account)


def _banned(account: User) -> None:
    account.banned_at = utcnow()


def _moderator(account: User) -> None:
    account.role = Role.MODERATOR.value


def _signed_in_the_next_day(account: User) -> None:
    sessions.start(db.session, account, "browser", remember=False)
    account.created_at = utcnow() - timedelta(days=1)


ACTS: dict[str, tuple[Callable[[User], None], str]] = {
    "post": (_post, "1 post written"),
    "kudos": (_kudos, "1 kudos given"),
    "report": (_report, "1 report filed"),
    "payer": (_pays, "1 payment on the marketplace"),
    "payee": (_is_paid, "1 payment on the marketplace"),
    "link": (_link, "1 referral link"),
    "referral": (_referral, "1 referral made"),
    "invitation": (_invitation, "1 invitation sent"),
    "relationship": (_relationship, "1 bring-your-own relationship"),
    "affiliate": (_affiliate, "1 affiliate application"),
    "token": (_token, "1 API token"),
    "banned": (_banned, "banned or closed"),
    "moderator": (_moderator, "a moderator"),
    "sign-in": (_signed_in_the_next_day, "signed in after the day it signed up"),
}


def test_a_new_account_was_never_active(app) -> None:
    assert why_active(db.session, make_user()) == []


@pytest.mark.parametrize("act", ACTS, ids=list(ACTS))
def test_each_thing_an_account_did_is_a_named_reason(app, act: str) -> None:
    do, reason = ACTS[act]
    account = make_user("someone", hires=True, works=True)
    do(account)
    db.session.flush()
    reasons = why_active(db.session, account)
    assert any(r.startswith(reason) for r in reasons), reasons


def test_signing_in_on_the_day_of_sign_up_is_not_activity(app) -> None:
    account = make_user()
    sessions.start(db.session, account, "the sign-up", remember=False)
    sessions.start(db.session, account, "later that day", remember=False)
    assert why_active(db.session, account) == []


def test_sign_ins_from_a_moment_on_can_be_left_out(app) -> None:
    account = make_user()
    account.created_at = utcnow() - timedelta(days=5)
    sessions.start(db.session, account, "to accept an invitation", remember=False)
    db.session.flush()
    assert why_active(db.session, account)[0].startswith("signed in after")
    before = utcnow() - timedelta(minutes=1)
    assert why_active(db.session, account, sign_ins_before=before) == []


def test_several_reasons_are_counted_and_all_named(app) -> None:
    account = make_user()
    _post(account)
    _post(account)
    _link(account)
    db.session.flush()
    assert why_active(db.session, account) == ["2 posts written", "1 referral link"]
