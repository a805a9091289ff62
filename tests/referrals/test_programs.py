"""Programs and tiers as data: the defaults of PRODUCT.md, validation, editing."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from forum.database import utcnow
from forum.extensions import db
from referrals import programs
from referrals.models import RefereeKind, ReferrerKind, RewardKind
from referrals.programs import DEFAULT_PROGRAMS, ProgramError, ProgramSpec, TierSpec


def _by_slug() -> dict:
    return {p.slug: p for p in programs.setup_default_programs(db.session, utcnow())}


def test_default_programs_follow_the_product(app) -> None:
    made = _by_slug()
    assert set(made) == {
        "client-refers-client",
        "freelancer-refers-freelancer",
        "affiliate",
        "bring-your-own-talent",
        "bring-your-own-client",
    }

    def tiers(slug):  # noqa: ANN001, ANN202
        return [
            (t.threshold_cents, t.reward_kind, t.reward_amount, t.share_months, t.share_cap_cents)
            for t in made[slug].tiers
        ]

    assert tiers("client-refers-client") == [(50_000, "credit", 10_000, None, None)]
    assert tiers("freelancer-refers-freelancer") == [
        (1, "connects", 10, None, None),
        (100_000, "cash", 5_000, None, None),
    ]
    assert tiers("affiliate") == [
        (10_000, "cash", 2_500, None, None),
        (0, "revenue_share", 1_000, 12, 50_000),
    ]
    assert tiers("bring-your-own-talent") == [(0, "fee_discount", 500, None, None)]
    assert made["freelancer-refers-freelancer"].referrer_kind == ReferrerKind.TOP_RATED_FREELANCER
    assert made["affiliate"].referrer_kind == ReferrerKind.AFFILIATE
    assert made["bring-your-own-client"].referee_kind == RefereeKind.CLIENT


def test_setup_is_idempotent_and_keeps_edits(app) -> None:
    program = _by_slug()["client-refers-client"]
    programs.update_program(db.session, program, {"hold_days": 14}, utcnow())
    programs.update_tier(db.session, program.tiers[0], {"threshold_cents": 40_000}, utcnow())
    assert programs.setup_default_programs(db.session, utcnow()) == []
    again = programs.program_by_slug(db.session, "client-refers-client")
    assert again.hold_days == 14 and again.tiers[0].threshold_cents == 40_000


BASE = DEFAULT_PROGRAMS[0]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"slug": "Not A Slug"}, "slug"),
        ({"name": " "}, "name"),
        ({"attribution_days": 0}, "attribution_days"),
        ({"hold_days": -1}, "hold_days"),
        ({"hold_days": True}, "hold_days"),
        ({"referrer_cap_cents": 0}, "referrer_cap_cents"),
        ({"referee_cap_cents": 1.5}, "referee_cap_cents"),
        ({"currency": "EUR"}, "currency"),
        ({"tiers": ()}, "tiers"),
        ({"tiers": (TierSpec(-1, RewardKind.CASH, 100),)}, "tiers.0.threshold_cents"),
        ({"tiers": (TierSpec(0, RewardKind.CASH, 0),)}, "tiers.0.reward_amount"),
        ({"tiers": (TierSpec(0, "bitcoin", 1),)}, "tiers.0.reward_kind"),
        ({"tiers": (TierSpec(0, RewardKind.FEE_DISCOUNT, 10_001),)}, "tiers.0.reward_amount"),
        ({"tiers": (TierSpec(0, RewardKind.REVENUE_SHARE, 1_000),)}, "tiers.0.share_months"),
        ({"tiers": (TierSpec(0, RewardKind.CASH, 1, share_months=3),)}, "tiers.0.share_months"),
        (
            {
                "tiers": (
                    TierSpec(0, RewardKind.REVENUE_SHARE, 100, 12),
                    TierSpec(5, RewardKind.REVENUE_SHARE, 100, 12),
                )
            },
            "tiers",
        ),
    ],
)
def test_invalid_programs_are_refused_naming_the_field(changes, field) -> None:
    with pytest.raises(ProgramError) as caught:
        programs.validate_program(dataclasses.replace(BASE, **changes))
    assert caught.value.field == field


def test_ends_after_it_starts(app) -> None:
    now = utcnow()
    spec = dataclasses.replace(BASE, slug="short", starts_at=now, ends_at=now - timedelta(days=1))
    with pytest.raises(ProgramError, match="end after"):
        programs.create_program(db.session, spec, now)


def test_running_between_its_dates(app) -> None:
    now = utcnow()
    spec = ProgramSpec(
        slug="spring",
        name="Spring",
        referrer_kind=ReferrerKind.CLIENT,
        referee_kind=RefereeKind.CLIENT,
        attribution_days=30,
        hold_days=30,
        tiers=(TierSpec(100, RewardKind.CASH, 100),),
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=10),
    )
    program = programs.create_program(db.session, spec, now)
    assert not program.is_running(now)
    assert program.is_running(now + timedelta(days=2))
    assert not program.is_running(now + timedelta(days=10))
    with pytest.raises(ProgramError) as caught:
        programs.create_program(db.session, spec, now)
    assert caught.value.field == "slug"


def test_edits_are_validated_and_limited_to_editable_fields(app) -> None:
    program = _by_slug()["affiliate"]
    with pytest.raises(ProgramError) as caught:
        programs.update_program(db.session, program, {"referrer_kind": "client"}, utcnow())
    assert caught.value.field == "referrer_kind"
    with pytest.raises(ProgramError):
        programs.update_program(db.session, program, {"attribution_days": 0}, utcnow())
    share = program.tiers[1]
    with pytest.raises(ProgramError):
        programs.update_tier(db.session, share, {"share_months": 0}, utcnow())
    with pytest.raises(ProgramError):
        programs.update_tier(db.session, share, {"reward_kind": "cash"}, utcnow())
    programs.update_tier(db.session, share, {"share_cap_cents": 25_000}, utcnow())
    assert share.share_cap_cents == 25_000


def test_thresholds_must_increase_and_holds_stay_under_a_year(app) -> None:
    spec = DEFAULT_PROGRAMS[1]  # Connects at $0.01, then $50 at $1,000
    reordered = (spec.tiers[1], spec.tiers[0])
    with pytest.raises(ProgramError) as refused:
        programs.validate_program(dataclasses.replace(spec, tiers=reordered))
    assert refused.value.field == "tiers.1.threshold_cents"
    assert refused.value.message == "Each tier's threshold must be higher than the one before it."
    with pytest.raises(ProgramError) as refused:
        programs.validate_program(dataclasses.replace(spec, hold_days=366))
    assert (refused.value.field, refused.value.message) == (
        "hold_days", "Use a whole number of days from 0 to 365.",
    )  # fmt: skip


def test_editing_a_tier_checks_it_against_its_neighbours(app) -> None:
    program = _by_slug()["freelancer-refers-freelancer"]
    with pytest.raises(ProgramError, match="higher than the one before"):
        programs.update_tier(db.session, program.tiers[1], {"threshold_cents": 1}, utcnow())
    assert program.tiers[1].threshold_cents == 100_000
