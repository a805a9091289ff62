"""Following a link (/r/<code>) and signing up afterwards, through real requests."""

from __future__ import annotations

import sqlalchemy as sa

from forum.accounts.models import User
from forum.extensions import db
from referrals import addresses, attribution, links
from referrals.models import Click, MemberAddress, Referral
from tests.conftest import Browser
from tests.referrals.factories import make_link, make_program, referrer_for, sign_up

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _visitor(app, address: str = "198.51.100.20"):  # noqa: ANN001, ANN202
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": address, "HTTP_USER_AGENT": FIREFOX})
    return client


def _cookie(client):  # noqa: ANN001, ANN202
    return client.get_cookie(attribution.COOKIE_NAME, domain="townhall.test")


def _referral_of(username: str) -> Referral | None:
    return db.session.scalar(
        sa.select(Referral)
        .join(User, User.id == Referral.referee_id)
        .where(User.username == username)
    )


def test_a_click_is_counted_and_remembered_in_a_signed_cookie(app) -> None:
    link = make_link(make_program(), code="Spring", target="/b/clients")
    client = _visitor(app)
    response = client.get("/r/spring")
    assert response.status_code == 302 and response.location == "/b/clients"
    assert response.headers["Cache-Control"] == "no-store"
    click = db.session.scalar(sa.select(Click).where(Click.link_id == link.id))
    assert click.agent_class == "desktop" and not click.is_bot
    assert click.address_hash == addresses.address_hash("test-secret-key", "198.51.100.20")
    assert "198.51.100.20" not in click.address_hash
    cookie = _cookie(client)
    assert cookie.http_only and cookie.same_site == "Lax"
    found = attribution.read_attribution("test-secret-key", cookie.value, 3600)
    assert (found.program_id, found.link_id, found.click_id) == (link.program_id, link.id, click.id)
    assert attribution.read_attribution("another-key", cookie.value, 3600) is None


def test_unknown_and_disabled_codes_go_home_without_error(app) -> None:
    link = make_link(make_program(), code="gone-soon")
    links.disable_link(db.session, link, link.created_at)
    client = _visitor(app)
    for code in ("gone-soon", "never-existed", "x"):
        response = client.get(f"/r/{code}")
        assert (response.status_code, response.location) == (302, "/")
    assert _cookie(client) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Click)) == 0


def test_a_target_that_leaves_the_site_is_never_followed(app) -> None:
    link = make_link(make_program(), code="tampered")
    link.target = "//evil.example/"  # as if the row were altered behind the app's back
    db.session.flush()
    assert _visitor(app).get("/r/tampered").location == "/"


def test_bots_are_recorded_but_get_no_attribution(app) -> None:
    make_link(make_program(), code="crawled")
    client = _visitor(app)
    client.environ_base["HTTP_USER_AGENT"] = "Googlebot/2.1 (+http://www.google.com/bot.html)"
    assert client.get("/r/crawled").status_code == 302
    assert _cookie(client) is None
    assert db.session.scalar(sa.select(Click.bot_reason)) == "crawler"


def test_a_flood_stops_counting_and_attributing(app, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "REFERRALS_CLICK_FLOOD_LIMIT", 2)
    make_link(make_program(), code="flooded")
    for _ in range(2):
        _visitor(app).get("/r/flooded")
    late = _visitor(app)
    late.get("/r/flooded")
    assert _cookie(late) is None
    reasons = db.session.scalars(sa.select(Click.bot_reason).order_by(Click.id)).all()
    assert reasons == [None, None, "flood"]


def test_signing_up_after_a_click_makes_a_referral(app) -> None:
    program = make_program()
    link = make_link(program, code="ann-invites")
    client = _visitor(app)
    client.get("/r/ann-invites")
    assert sign_up(client, "newclient").status_code == 302
    referral = _referral_of("newclient")
    assert (referral.program_id, referral.link_id, referral.referrer_id) == (
        program.id,
        link.id,
        link.referrer_id,
    )
    assert referral.review_status == "clear" and referral.review_reasons == []
    assert referral.click_id is not None
    assert _cookie(client) is None  # used up


def test_no_cookie_or_a_forged_one_makes_no_referral(app) -> None:
    make_link(make_program(), code="real")
    plain = _visitor(app)
    sign_up(plain, "plainjoe")
    forger = _visitor(app, "198.51.100.21")
    forger.set_cookie(
        attribution.COOKIE_NAME, "WzEsMSwxLDE3OTUzMDE4MTld.awIhuw.forged", domain="townhall.test"
    )
    sign_up(forger, "forger")
    assert _referral_of("plainjoe") is None and _referral_of("forger") is None
    assert db.session.scalar(sa.select(User.id).where(User.username == "forger")) is not None


def test_the_last_click_wins(app) -> None:
    program = make_program()
    make_link(program, code="first-link")
    second = make_link(program, code="second-link")
    client = _visitor(app)
    client.get("/r/first-link")
    client.get("/r/second-link")
    sign_up(client, "clicker")
    assert _referral_of("clicker").link_id == second.id


def test_a_referee_must_be_of_the_programs_kind(app) -> None:
    make_link(make_program(), code="clients-only")
    client = _visitor(app)
    client.get("/r/clients-only")
    sign_up(client, "justworks", kind="work")
    assert _referral_of("justworks") is None


def test_existing_members_cannot_be_referred(app, member) -> None:
    make_link(make_program(), code="too-late")
    browser = Browser(_visitor(app)).sign_in(member)
    browser.get("/r/too-late")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 0
    assert browser.get("/sign-up").status_code == 302  # signed-in members cannot sign up


def test_signing_up_from_the_referrers_address_is_flagged_not_dropped(app) -> None:
    program = make_program()
    referrer = referrer_for(program)
    make_link(program, referrer, code="my-own")
    Browser(_visitor(app, "203.0.113.9")).sign_in(referrer)
    assert db.session.scalar(sa.select(MemberAddress.user_id)) == referrer.id
    client = _visitor(app, "203.0.113.9")
    client.get("/r/my-own")
    sign_up(client, "sockpuppet")
    referral = _referral_of("sockpuppet")
    assert referral.review_status == "flagged" and referral.review_reasons == ["same_address"]


def test_a_referrer_clicking_their_own_link_is_flagged(app) -> None:
    program = make_program()
    referrer = referrer_for(program)
    make_link(program, referrer, code="click-myself")
    browser = Browser(_visitor(app, "203.0.113.10")).sign_in(referrer)
    browser.get("/r/click-myself")
    browser.post("/sign-out")
    browser.client.environ_base["REMOTE_ADDR"] = "192.0.2.44"  # a different network, even
    sign_up(browser.client, "secondme")
    referral = _referral_of("secondme")
    assert referral.review_status == "flagged"
    assert "same_person" in referral.review_reasons and "same_address" in referral.review_reasons
