"""The referrer's pages through real requests: dashboard, links, timeline, exports, tokens,
affiliate applications, invitations."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from forum.accounts.models import User
from forum.extensions import db
from referrals import invitations
from referrals.models import Affiliate, ApiToken, Link
from referrals.tables import Invitation, TalentRelationship
from tests.conftest import TEST_PASSWORD, Browser, make_user
from tests.referrals.factories import (
    make_link,
    make_program,
    make_referral,
    referrer_for,
    rewarded_referral,
)


@pytest.fixture
def program(app):  # noqa: ANN001, ANN201
    return make_program()


def _as(app, user: User) -> Browser:  # noqa: ANN001
    return Browser(app.test_client()).sign_in(user)


def test_the_dashboard_needs_an_account(client) -> None:
    response = client.get("/referrals/")
    assert response.status_code == 302 and "/sign-in" in response.location


def test_the_dashboard_shows_programs_links_totals_chart_and_table(app) -> None:
    referral = rewarded_referral()
    make_link(referral.program, referral.referrer, code="spring-sale", campaign="Newsletter")
    html = _as(app, referral.referrer).get("/referrals/").get_data(as_text=True)
    assert 'value="http://townhall.test/r/spring-sale"' in html and "readonly" in html
    assert "Newsletter" in html
    assert '<svg class="chart" id="chart-30"' in html and "<table" in html
    assert "Last 90 days" in html
    assert referral.referee.username in html
    assert '<script src="/static/copy.js" defer>' in html
    assert re.search(r"<dt>Sign-ups</dt><dd>1</dd>", html)
    ninety = _as(app, referral.referrer).get("/referrals/?days=90").get_data(as_text=True)
    assert 'id="chart-90"' in ninety


def test_ineligible_programs_say_why(app) -> None:
    from forum.database import utcnow
    from referrals import programs

    programs.setup_default_programs(db.session, utcnow())
    freelancer = make_user(hires=False, works=True)
    html = _as(app, freelancer).get("/referrals/").get_data(as_text=True)
    assert "Only Top Rated freelancers can refer in this program" in html
    assert "Only approved affiliates can refer in this program." in html
    assert "Apply to be an affiliate" in html


def test_a_member_creates_and_disables_a_link(app, program) -> None:
    referrer = referrer_for(program)
    browser = _as(app, referrer)
    response = browser.post(
        "/referrals/links",
        {"link-program": str(program.id), "link-campaign": "Blog", "link-target": "/b/x"},
    )
    assert response.status_code == 302
    link = db.session.scalar(sa.select(Link).where(Link.referrer_id == referrer.id))
    assert (link.campaign, link.target) == ("Blog", "/b/x")
    assert browser.post(f"/referrals/links/{link.id}/disable").status_code == 302
    db.session.refresh(link)
    assert not link.enabled


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"link-target": "https://evil.example/"}, "The target must be a path on this site"),
        ({"link-target": "//evil.example/"}, "The target must be a path on this site"),
        ({"link-program": "999999"}, "Choose one of the programs you may refer in."),
        ({"link-campaign": "x" * 81}, "Field cannot be longer than 80 characters."),
    ],
)
def test_bad_links_are_refused_and_store_nothing(app, program, data, message) -> None:
    referrer = referrer_for(program)
    response = _as(app, referrer).post(
        "/referrals/links", {"link-program": str(program.id), "link-target": "/", **data}
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True).replace("&#34;", '"')
    assert db.session.scalar(sa.select(Link.id).where(Link.referrer_id == referrer.id)) is None


def test_a_program_one_may_not_refer_in_is_refused(app) -> None:
    top_rated_only = make_program(referrer_kind="top_rated_freelancer")
    client = make_user(hires=True)
    response = _as(app, client).post(
        "/referrals/links", {"link-program": str(top_rated_only.id), "link-target": "/"}
    )
    assert response.status_code == 422


def test_the_timeline_page_shows_progress_and_review(app) -> None:
    referral = rewarded_referral(amount_cents=4_000)
    html = _as(app, referral.referrer).get(f"/referrals/{referral.id}").get_data(as_text=True)
    assert "Clicked your link" in html and "$40.00 of $100.00 (40%)" in html
    assert '<progress class="progress" max="10000" value="4000"' in html


def test_one_referrer_never_sees_anothers_data(app) -> None:
    """Isolation: pages, CSV and guessed ids (the API has its own test)."""
    mine, theirs = rewarded_referral(), rewarded_referral()
    browser = _as(app, mine.referrer)
    assert browser.get(f"/referrals/{theirs.id}").status_code == 404
    assert browser.get(f"/referrals/{theirs.id + 10_000}").status_code == 404
    for path in ("/referrals/", "/referrals/export/referrals.csv", "/referrals/export/rewards.csv"):
        body = browser.get(path).get_data(as_text=True)
        assert theirs.referee.username not in body, path
        assert mine.referee.username in body, path
    their_link = make_link(theirs.program, theirs.referrer)
    assert browser.post(f"/referrals/links/{their_link.id}/disable").status_code == 404
    db.session.refresh(their_link)
    assert their_link.enabled


def test_csv_exports_are_attachments(app) -> None:
    referral = rewarded_referral()
    response = _as(app, referral.referrer).get("/referrals/export/rewards.csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="rewards.csv"'
    assert response.get_data(as_text=True).startswith("reward_id,referral_id,program")


def test_a_member_makes_and_revokes_a_read_only_token(app) -> None:
    member = make_user()
    browser = _as(app, member)
    response = browser.post("/referrals/tokens", {"name": "My blog"})
    assert response.status_code == 200
    secret = re.search(r'id="new-token" class="copy-source" type="text" readonly value="([^"]+)"',
                       response.get_data(as_text=True)).group(1)  # fmt: skip
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.owner_id == member.id))
    assert token.scope_set == {"me:read"} and secret.startswith("th_")
    assert secret not in browser.get("/referrals/tokens").get_data(as_text=True)
    other = _as(app, make_user())
    assert other.post(f"/referrals/tokens/{token.id}/revoke").status_code == 404
    assert browser.post(f"/referrals/tokens/{token.id}/revoke").status_code == 302
    db.session.refresh(token)
    assert token.revoked_at is not None


def test_a_member_applies_to_be_an_affiliate(app) -> None:
    member = make_user()
    browser = _as(app, member)
    bad = browser.post(
        "/referrals/affiliate", {"website": "evil", "audience": "Devs", "promotion": "Blog"}
    )
    assert bad.status_code == 422 and "starting with https://" in bad.get_data(as_text=True)
    assert db.session.scalar(sa.select(Affiliate).where(Affiliate.user_id == member.id)) is None
    good = browser.post(
        "/referrals/affiliate",
        {"website": "https://blog.example", "audience": "20k devs", "promotion": "Posts"},
    )
    assert good.status_code == 302
    record = db.session.scalar(sa.select(Affiliate).where(Affiliate.user_id == member.id))
    assert (record.status, record.website, record.promotion) == (
        "applied", "https://blog.example", "Posts",
    )  # fmt: skip
    assert "waiting for an admin" in browser.get("/referrals/affiliate").get_data(as_text=True)


# --- invitations ---------------------------------------------------------------------------

INVITE = {
    "talent-first_name": "Dana",
    "talent-last_name": "Scully",
    "talent-email": "dana@example.com",
    "talent-purpose": "offer",
}


def test_a_client_invites_and_sees_the_invitation_listed(app) -> None:
    client = make_user(hires=True)
    browser = _as(app, client)
    response = browser.post("/referrals/talent/invite/talent", INVITE)
    assert response.status_code == 302
    html = browser.get("/referrals/talent").get_data(as_text=True)
    assert "Dana Scully" in html and "Invited" in html


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"talent-email": "not-an-email"}, "Enter a valid email address"),
        ({"talent-email": "ann@example.com"}, "already has an account. Invite them to a job"),
        ({"talent-first_name": ""}, "This field is required."),
        ({"talent-purpose": "world_domination"}, "Not a valid choice."),
    ],
)
def test_bad_invitations_are_refused_and_store_nothing(app, change, message) -> None:
    make_user("ann", email="ann@example.com")
    response = _as(app, make_user(hires=True)).post(
        "/referrals/talent/invite/talent", {**INVITE, **change}
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 0


def test_a_freelancer_cannot_send_talent_invitations(app) -> None:
    freelancer = _as(app, make_user(hires=False, works=True))
    response = freelancer.post("/referrals/talent/invite/talent", INVITE)
    assert response.status_code == 403
    assert "Only clients can invite their own freelancers." in response.get_data(as_text=True)
    assert freelancer.post("/referrals/talent/invite/nobody", INVITE).status_code == 404


def test_invitations_are_rate_limited_per_inviter(app) -> None:
    app.config["REFERRALS_INVITATIONS_LIMIT"] = "2 per hour"
    try:
        browser = _as(app, make_user(hires=True))
        for number in range(2):
            data = {**INVITE, "talent-email": f"p{number}@example.com"}
            assert browser.post("/referrals/talent/invite/talent", data).status_code == 302
        refused = browser.post("/referrals/talent/invite/talent", INVITE)
        assert refused.status_code == 429
        assert "sent many invitations in a short time" in refused.get_data(as_text=True)
        assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 2
        # Another client is not affected.
        other = _as(app, make_user(hires=True))
        assert other.post("/referrals/talent/invite/talent", INVITE).status_code == 302
    finally:
        app.config["REFERRALS_INVITATIONS_LIMIT"] = "20 per hour"


def test_refused_invitations_count_toward_the_limit(app) -> None:
    # Otherwise the refusal "already has an account" would look up any number of emails.
    make_user("ann", email="ann@example.com")
    app.config["REFERRALS_INVITATIONS_LIMIT"] = "2 per hour"
    try:
        browser = _as(app, make_user(hires=True))
        probe = {**INVITE, "talent-email": "ann@example.com"}
        for _ in range(2):
            assert browser.post("/referrals/talent/invite/talent", probe).status_code == 422
        assert browser.post("/referrals/talent/invite/talent", probe).status_code == 429
    finally:
        app.config["REFERRALS_INVITATIONS_LIMIT"] = "20 per hour"


def _invitation(inviter: User) -> tuple[Invitation, str]:
    from forum.database import utcnow

    invitation = invitations.invite(
        db.session, inviter, "talent", "talent_cloud", "Dana", "Scully", "dana@example.com",
        utcnow(), "http://townhall.test/invitations/",
    )  # fmt: skip
    secret = invitations.SECRET_PREFIX + "known"
    invitation.token_hash = invitations.hash_secret(secret)
    db.session.commit()
    return invitation, secret


def test_the_invited_person_signs_up_with_name_and_email_prefilled(app) -> None:
    client_user = make_user(hires=True)
    invitation, secret = _invitation(client_user)
    visitor = Browser(app.test_client())
    page = visitor.get(f"/invitations/{secret}").get_data(as_text=True)
    assert "Dana Scully" in page and "dana@example.com" in page
    assert 'value="dana.scully"' in page  # a suggested username
    response = visitor.client.post(
        f"/invitations/{secret}",
        data={
            "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1],
            "username": "dana.scully",
            "password": TEST_PASSWORD,
            "confirm": TEST_PASSWORD,
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.username == "dana.scully"))
    assert user.email == "dana@example.com" and user.works
    assert (
        db.session.scalar(
            sa.select(TalentRelationship).where(TalentRelationship.freelancer_id == user.id)
        ).client_id
        == client_user.id
    )
    gone = Browser(app.test_client()).get(f"/invitations/{secret}")
    assert gone.status_code == 410 and "already used" in gone.get_data(as_text=True)
    listed = _as(app, client_user).get("/referrals/talent").get_data(as_text=True)
    assert "Accepted" in listed


def test_the_list_shows_each_status_with_the_actions_it_allows(app) -> None:
    from datetime import timedelta

    from forum.database import utcnow

    client_user = make_user(hires=True)
    for email, days_ago in (("open@example.com", 0), ("old@example.com", 15)):
        invitations.invite(
            db.session, client_user, "talent", "offer", "Pat", email.split("@")[0], email,
            utcnow() - timedelta(days=days_ago), "http://townhall.test/invitations/",
        )  # fmt: skip
    db.session.commit()
    html = _as(app, client_user).get("/referrals/talent").get_data(as_text=True)
    rows = {name: html.split(f"Pat {name}", 1)[1].split("</tr>", 1)[0] for name in ("open", "old")}
    assert "Invited" in rows["open"] and "Resend" in rows["open"] and "Revoke" in rows["open"]
    assert "Expired" in rows["old"] and "Resend" in rows["old"] and "Revoke" not in rows["old"]


def test_revoked_and_unknown_links_show_a_clear_page(app) -> None:
    client_user = make_user(hires=True)
    invitation, secret = _invitation(client_user)
    browser = _as(app, client_user)
    assert browser.post(f"/referrals/talent/{invitation.id}/revoke").status_code == 302
    closed = Browser(app.test_client()).get(f"/invitations/{secret}")
    assert closed.status_code == 410 and "withdrawn" in closed.get_data(as_text=True)
    unknown = Browser(app.test_client()).get("/invitations/inv_nothing")
    assert unknown.status_code == 404 and "not valid" in unknown.get_data(as_text=True)


def test_an_invitation_is_resent_and_only_by_its_sender(app) -> None:
    client_user = make_user(hires=True)
    invitation, secret = _invitation(client_user)
    invitation.last_sent_at -= invitations.RESEND_PAUSE
    db.session.commit()
    stranger = _as(app, make_user(hires=True))
    assert stranger.post(f"/referrals/talent/{invitation.id}/resend").status_code == 404
    assert stranger.post(f"/referrals/talent/{invitation.id}/revoke").status_code == 404
    sender = _as(app, client_user)
    assert sender.post(f"/referrals/talent/{invitation.id}/resend").status_code == 302
    db.session.refresh(invitation)
    assert invitation.send_count == 2
    assert Browser(app.test_client()).get(f"/invitations/{secret}").status_code == 404
    # A second press right after: one email, and the page says it is on its way.
    again = sender.post(f"/referrals/talent/{invitation.id}/resend", follow_redirects=True)
    assert "less than a minute ago and is on its way" in again.get_data(as_text=True)
    db.session.refresh(invitation)
    assert invitation.send_count == 2


@pytest.mark.concurrency
def test_two_resends_at_the_same_moment_send_one_email(committed_app) -> None:
    from forum.outbox import OutboxEmail
    from tests.referrals.test_concurrency import _in_parallel

    client_user = make_user(hires=True)
    invitation, _ = _invitation(client_user)
    invitation.last_sent_at -= invitations.RESEND_PAUSE
    db.session.commit()
    tabs = [_as(committed_app, client_user) for _ in range(4)]
    for tab in tabs:
        tab.token()  # fetched now: the threads have no application context
    resend = f"/referrals/talent/{invitation.id}/resend"
    pages = _in_parallel(len(tabs), lambda i: tabs[i].post(resend, follow_redirects=True))
    assert not [page for page in pages if isinstance(page, Exception)]
    said = [page.get_data(as_text=True) for page in pages]
    assert sum("Sent again to dana@example.com" in text for text in said) == 1
    assert sum("less than a minute ago and is on its way" in text for text in said) == 3
    db.session.rollback()  # a snapshot from before the requests
    assert invitation.send_count == 2
    emails = sa.select(sa.func.count()).where(OutboxEmail.kind == "invitation")
    assert db.session.scalar(emails) == 2  # the invitation's and one resend


def test_the_dashboard_page_costs_the_same_queries_however_much_happened(app) -> None:
    from forum.database import utcnow
    from referrals import clicks
    from tests.conftest import count_queries

    first = rewarded_referral()
    program, referrer = first.program, first.referrer
    browser = _as(app, referrer)

    def measure() -> int:
        with count_queries() as statements:
            assert browser.get("/referrals/?days=90").status_code == 200
        return len(statements)

    few = measure()
    for _ in range(8):
        rewarded_referral(program, referrer)
    for number in range(30):
        clicks.record_click(
            db.session, make_link(program, referrer), f"a{number}", "Mozilla/5.0", None,
            utcnow(), 1000,
        )  # fmt: skip
    db.session.commit()
    assert measure() == few


def test_the_timeline_page_costs_the_same_queries_however_many_rewards(app) -> None:
    from forum.database import utcnow
    from referrals import spend
    from referrals.models import RewardKind
    from referrals.programs import TierSpec
    from tests.conftest import count_queries
    from tests.referrals.factories import counterparty, spend_event

    tiers = tuple(TierSpec(1_000 * (n + 1), RewardKind.CASH, 100) for n in range(6))
    referral = make_referral(make_program(tiers=tiers, hold_days=0))
    other = counterparty(referral)
    browser = _as(app, referral.referrer)

    def measure() -> int:
        with count_queries() as statements:
            assert browser.get(f"/referrals/{referral.id}").status_code == 200
        return len(statements)

    spend.record_event(db.session, spend_event(referral, other, 1_000), utcnow())
    db.session.commit()
    few = measure()
    spend.record_event(db.session, spend_event(referral, other, 10_000), utcnow())
    db.session.commit()
    assert measure() == few


def test_a_freelancer_invites_their_own_client(app) -> None:
    freelancer = make_user(hires=False, works=True)
    browser = _as(app, freelancer)
    page = browser.get("/referrals/talent").get_data(as_text=True)
    assert "Invite your own client" in page and "Invite your own freelancer" not in page
    response = browser.post(
        "/referrals/talent/invite/client",
        {
            "client-first_name": "Walter",
            "client-last_name": "Skinner",
            "client-email": "walter@example.com",
            "client-purpose": "proposal",
        },
    )
    assert response.status_code == 302
    invitation = db.session.scalar(
        sa.select(Invitation).where(Invitation.inviter_id == freelancer.id)
    )
    assert (invitation.kind, invitation.purpose) == ("client", "proposal")


def test_emailed_and_shared_links_lead_to_base_url_not_the_host_the_request_named(
    app,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from forum.outbox import OutboxEmail

    monkeypatch.setitem(app.config, "BASE_URL", "https://townhall.example")
    program = make_program()
    client = referrer_for(program)
    make_link(program, client, code="shared")
    browser = _as(app, client)  # its requests name the host "townhall.test"
    response = browser.post("/referrals/talent/invite/talent", INVITE)
    assert response.status_code == 302
    email = db.session.scalars(
        sa.select(OutboxEmail).where(OutboxEmail.to_address == "dana@example.com")
    ).one()
    assert "https://townhall.example/invitations/" in email.text_body
    assert "townhall.test" not in email.text_body
    assert 'value="https://townhall.example/r/shared"' in browser.get("/referrals/").get_data(
        as_text=True
    )


def test_a_link_whose_owner_lost_eligibility_says_why(app) -> None:
    from referrals.models import ReferrerKind

    program = make_program(referrer_kind=ReferrerKind.TOP_RATED_FREELANCER)
    link = make_link(program, code="top-talent")
    browser = _as(app, link.referrer)
    assert "brings no new referrals" not in browser.get("/referrals/").get_data(as_text=True)
    link.referrer.top_rated = False
    db.session.flush()
    html = browser.get("/referrals/").get_data(as_text=True)
    assert re.search(
        r"This link brings no new referrals for now: Only Top Rated freelancers can refer in "
        r"this program, and this account is\s+not Top Rated at the moment\.",
        html,
    )
