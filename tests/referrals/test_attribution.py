"""Attribution: windows, kinds, eligibility at sign-up, self-referral flags, the cookie."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from forum.database import utcnow
from forum.extensions import db
from referrals import attribution, clicks
from referrals.attribution import Attribution
from referrals.models import ReferrerKind
from tests.conftest import make_user
from tests.referrals.factories import make_link, make_program, make_referral, referee_for


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("Ann.Smith+promo@Gmail.com", "annsmith@gmail.com"),
        ("a.n.n@googlemail.com", "ann@gmail.com"),
        ("Ann+x@outlook.com", "ann@outlook.com"),
        ("ann.smith@outlook.com", "ann.smith@outlook.com"),  # Outlook keeps dots
        ("Ann+x@example.com", "ann+x@example.com"),  # unknown providers keep both
        ("  BOB@Example.COM ", "bob@example.com"),
        ("not-an-email", "not-an-email"),
    ],
)
def test_canonical_email(email, canonical) -> None:
    assert attribution.canonical_email(email) == canonical


def test_the_cookie_round_trips_and_refuses_tampering() -> None:
    clicked = utcnow().replace(microsecond=0)
    value = attribution.sign_attribution("key", Attribution(1, 2, 3, clicked))
    assert attribution.read_attribution("key", value, 60) == Attribution(1, 2, 3, clicked)
    # Change the signature's first character. (Not its last: a base64 signature's last
    # character carries padding bits, and changing only those decodes to the same bytes.)
    head, signature = value.rsplit(".", 1)
    tampered = f"{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    assert attribution.read_attribution("key", tampered, 60) is None
    assert attribution.read_attribution("other", value, 60) is None
    assert attribution.read_attribution("key", None, 60) is None
    assert attribution.read_attribution("key", "garbage", 60) is None


def _signed_at(secret_key: str, second: int) -> URLSafeTimedSerializer:
    """itsdangerous's own serializer, signing at a given second."""

    class SignerAt(TimestampSigner):
        def get_timestamp(self) -> int:
            return second

    return URLSafeTimedSerializer(secret_key, salt=attribution.COOKIE_SALT, signer=SignerAt)


@given(
    ids=st.tuples(*[st.integers(1, 2**63 - 1)] * 3),
    second=st.integers(0, 2**34),
    key=st.text(min_size=1, max_size=40),
)
def test_the_cookie_is_what_itsdangerous_signs(ids, second, key) -> None:
    clicked = datetime.fromtimestamp(second, UTC)
    value = attribution.sign_attribution(key, Attribution(*ids, clicked))
    theirs = _signed_at(key, second).dumps([*ids, second])
    if not theirs.startswith("."):  # (it zlib-compresses repetitive payloads; both read back)
        assert value == theirs
    assert _signed_at(key, second).loads(value) == [*ids, second]


def _attribution(program, link=None, age=timedelta(hours=1)):  # noqa: ANN001, ANN202
    link = link or make_link(program)
    clicked = utcnow() - age
    click = clicks.record_click(db.session, link, "visitor", "Mozilla/5.0", None, clicked, 30)
    return Attribution(program.id, link.id, click.id, clicked), link


def test_a_click_outside_the_window_is_not_attributed(app) -> None:
    program = make_program(attribution_days=7)
    found, _ = _attribution(program, age=timedelta(days=7, minutes=1))
    assert (
        attribution.attribute_sign_up(db.session, referee_for(program), found, None, utcnow())
        is None
    )
    inside, _ = _attribution(program, age=timedelta(days=6))
    assert attribution.attribute_sign_up(db.session, referee_for(program), inside, None, utcnow())


def test_a_click_from_the_future_is_not_attributed_beyond_clock_skew(app) -> None:
    program = make_program()
    slightly, _ = _attribution(program, age=-timedelta(minutes=1))
    assert attribution.attribute_sign_up(db.session, referee_for(program), slightly, None, utcnow())
    forged, _ = _attribution(program, age=-timedelta(hours=1))
    assert (
        attribution.attribute_sign_up(db.session, referee_for(program), forged, None, utcnow())
        is None
    )


def test_nothing_is_attributed_once_the_program_ended(app) -> None:
    program = make_program()
    found, _ = _attribution(program)
    program.ends_at = utcnow() - timedelta(minutes=1)
    assert (
        attribution.attribute_sign_up(db.session, referee_for(program), found, None, utcnow())
        is None
    )


def test_a_member_is_referred_once(app) -> None:
    program = make_program()
    referral = make_referral(program)
    again, _ = _attribution(program)
    assert (
        attribution.attribute_sign_up(db.session, referral.referee, again, None, utcnow()) is None
    )


def test_mismatched_cookie_parts_are_ignored(app) -> None:
    program, other = make_program(), make_program()
    found, link = _attribution(program)
    forged = Attribution(other.id, link.id, found.click_id, found.clicked_at)
    assert (
        attribution.attribute_sign_up(db.session, referee_for(program), forged, None, utcnow())
        is None
    )


def test_a_freelancer_who_lost_top_rated_earns_no_new_referrals(app) -> None:
    program = make_program(referrer_kind=ReferrerKind.TOP_RATED_FREELANCER)
    kept = make_referral(program)
    found, link = _attribution(program)
    link.referrer.top_rated = False
    assert (
        attribution.attribute_sign_up(db.session, referee_for(program), found, None, utcnow())
        is None
    )
    assert kept.review_status == "clear"  # existing referrals stay


def test_same_email_after_normalising_is_flagged_with_the_reason(app) -> None:
    program = make_program()
    referrer = make_user(hires=True, email="carla.jones@gmail.com")
    referee = make_user(hires=True, email="CarlaJones+new@gmail.com")
    referral = make_referral(program, referrer=referrer, referee=referee)
    assert referral.review_status == "flagged" and referral.review_reasons == ["same_email"]
    assert attribution.REASONS["same_email"].startswith("The email is the referrer's own")


def test_an_address_the_referrer_used_long_ago_is_not_held_against_anyone(app) -> None:
    from referrals import addresses

    program = make_program()
    referrer = make_user(hires=True)
    addresses.remember_address(
        db.session, referrer.id, "shared-cafe", utcnow() - timedelta(days=90)
    )
    referral = make_referral(program, referrer=referrer, signup_address_hash="shared-cafe")
    assert referral.review_status == "clear"
    addresses.remember_address(db.session, referrer.id, "shared-cafe", utcnow())
    flagged = make_referral(program, referrer=referrer, signup_address_hash="shared-cafe")
    assert flagged.review_reasons == ["same_address"]
