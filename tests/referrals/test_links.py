"""Referral links: codes, campaigns, targets that stay on this site, who may make them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forum.database import utcnow
from forum.extensions import db
from referrals import links
from referrals.links import LinkError
from referrals.models import ReferrerKind
from tests.conftest import make_user
from tests.referrals.factories import make_link, make_program, referrer_for


def test_codes_are_unique_whatever_the_case(app) -> None:
    program = make_program()
    link = make_link(program, code="Spring-Sale", campaign="  Spring   newsletter ")
    assert (link.code, link.code_key, link.campaign) == (
        "Spring-Sale",
        "spring-sale",
        "Spring newsletter",
    )
    with pytest.raises(LinkError) as caught:
        make_link(program, code="SPRING-sale")
    assert caught.value.field == "code" and "taken" in caught.value.message


def test_a_code_is_generated_when_none_is_given(app) -> None:
    program = make_program()
    first, second = make_link(program), make_link(program)
    assert len(first.code) == links.GENERATED_CODE_LENGTH and first.code != second.code
    assert links.CODE_PATTERN.match(first.code) and first.target == "/"


@pytest.mark.parametrize("code", ["ab", "-leading-dash", "has space", "ünïcode", "x" * 41, "a/b"])
def test_bad_codes_are_refused(app, code) -> None:
    with pytest.raises(LinkError) as caught:
        make_link(make_program(), code=code)
    assert caught.value.field == "code"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/r/other-code",
        "/api/v1/rewards",
        "/ has space",
        "/tab\there",
    ],
)
def test_targets_must_be_pages_of_this_site(app, target) -> None:
    with pytest.raises(LinkError) as caught:
        make_link(make_program(), target=target)
    assert caught.value.field == "target"


def test_targets_may_be_any_local_page(app) -> None:
    link = make_link(make_program(), target="/b/clients?sort=new#top")
    assert link.target == "/b/clients?sort=new#top"


def test_only_eligible_referrers_get_links_and_hear_why(app) -> None:
    program = make_program(referrer_kind=ReferrerKind.TOP_RATED_FREELANCER)
    freelancer = make_user(hires=False, works=True)
    with pytest.raises(LinkError) as caught:
        links.create_link(db.session, freelancer, program, utcnow())
    assert caught.value.field == "program" and "not Top Rated" in caught.value.message
    freelancer.top_rated = True
    assert links.create_link(db.session, freelancer, program, utcnow()).referrer_id == freelancer.id


def test_no_links_for_a_program_that_is_not_running(app) -> None:
    program = make_program(
        ends_at=utcnow() - timedelta(minutes=1), started=utcnow() - timedelta(days=3)
    )
    with pytest.raises(LinkError, match="not running"):
        make_link(program, referrer=referrer_for(program))


def test_followable_links(app) -> None:
    program = make_program()
    link = make_link(program, code="Follow-Me")
    now = utcnow()
    assert links.followable_link(db.session, "follow-ME", now) == link
    assert links.followable_link(db.session, "nobody", now) is None
    assert links.followable_link(db.session, "../../etc", now) is None
    links.disable_link(db.session, link, now)
    assert link.disabled_at == now
    assert links.followable_link(db.session, "follow-me", now) is None


def test_links_of_a_referrer(app) -> None:
    program = make_program()
    referrer = referrer_for(program)
    mine = [make_link(program, referrer), make_link(program, referrer)]
    make_link(program)
    assert links.links_of(db.session, referrer) == mine
