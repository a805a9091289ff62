"""The service fee: bands by lifetime billings, flat bring-your-own rates, stored bands."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forum.database import utcnow
from forum.extensions import db
from referrals import fees
from referrals.fees import DEFAULT_BANDS, FeeBand, FeeError
from referrals.tables import TalentRelationship
from tests.conftest import make_user

bands_strategy = st.lists(
    st.tuples(st.integers(1, 5_000_000), st.integers(0, 10_000)), min_size=0, max_size=5
).map(
    lambda extra: (
        (FeeBand(0, 2_000),)
        + tuple(FeeBand(f, r) for f, r in sorted({f: r for f, r in extra}.items()))
    )
)


def test_the_default_bands_follow_the_product() -> None:
    assert fees.fee_for(DEFAULT_BANDS, 0, 50_000) == 10_000  # 20% of the first $500
    assert fees.fee_for(DEFAULT_BANDS, 50_000, 950_000) == 95_000  # 10% up to $10,000
    assert fees.fee_for(DEFAULT_BANDS, 1_000_000, 100_000) == 5_000  # 5% beyond
    assert fees.fee_for(DEFAULT_BANDS, 0, 2_000_000) == 10_000 + 95_000 + 50_000


def test_a_payment_across_two_bands_shows_each_part() -> None:
    quote = fees.quote(DEFAULT_BANDS, 40_000, 20_000)
    assert [(line.amount_cents, line.rate_bp) for line in quote.lines] == [
        (10_000, 2_000),
        (10_000, 1_000),
    ]
    assert quote.fee_cents == 3_000 and quote.freelancer_receives_cents == 17_000
    assert quote.arithmetic == [
        "$100.00 at 20% (billings $400.00 to $500.00) = $20.00",
        "$100.00 at 10% (billings $500.00 to $600.00) = $10.00",
        "Total $30.00, rounded down to whole cents: $30.00",
    ]


def test_fractions_of_a_cent_are_shown_and_rounded_down_once() -> None:
    quote = fees.quote(DEFAULT_BANDS, 0, 333)
    assert quote.fee_cents == 66
    assert quote.arithmetic[-1] == "Total $0.666, rounded down to whole cents: $0.66"


def test_bring_your_own_pays_the_flat_rate_whatever_the_billings() -> None:
    quote = fees.quote(DEFAULT_BANDS, 0, 100_000, flat_rate_bp=500)
    assert quote.fee_cents == 5_000 and quote.flat_rate_bp == 500
    assert quote.arithmetic[0] == "$1,000.00 at 5% (billings $0.00 to $1,000.00) = $50.00"


@given(
    bands=bands_strategy,
    lifetime=st.integers(0, 3_000_000),
    first=st.integers(1, 2_000_000),
    second=st.integers(1, 2_000_000),
)
def test_a_payment_split_in_two_never_pays_more_fee(bands, lifetime, first, second) -> None:
    whole = fees.fee_for(bands, lifetime, first + second)
    split = fees.fee_for(bands, lifetime, first) + fees.fee_for(bands, lifetime + first, second)
    assert whole - 1 <= split <= whole


@given(rate=st.integers(0, 10_000), first=st.integers(1, 10**9), second=st.integers(1, 10**9))
def test_a_split_flat_rate_payment_never_pays_more_fee(rate, first, second) -> None:
    def fee(amount: int) -> int:
        return fees.quote(DEFAULT_BANDS, 0, amount, flat_rate_bp=rate).fee_cents

    assert fee(first) + fee(second) <= fee(first + second)


@given(bands=bands_strategy, lifetime=st.integers(0, 3_000_000), amount=st.integers(1, 10**8))
def test_the_fee_is_never_negative_nor_more_than_the_payment(bands, lifetime, amount) -> None:
    quote = fees.quote(bands, lifetime, amount)
    assert 0 <= quote.fee_cents <= amount
    assert sum(line.amount_cents for line in quote.lines) == amount


@pytest.mark.parametrize(
    ("bands", "field", "message"),
    [
        ((), "bands", "Give 1 to 10 fee bands."),
        ((FeeBand(100, 2_000),), "bands.0.from_cents", "The first band starts at $0."),
        (
            (FeeBand(0, 2_000), FeeBand(50_000, 1_000), FeeBand(50_000, 500)),
            "bands.2.from_cents",
            "Each threshold must be higher than the one before.",
        ),
        (
            (FeeBand(0, 2_000), FeeBand(-5, 1_000)),
            "bands.1.from_cents",
            "Use a whole number, not negative.",
        ),
        ((FeeBand(0, 10_001),), "bands.0.rate_bp", "A rate goes up to 10000 (100%)."),
        ((FeeBand(0, True),), "bands.0.rate_bp", "Use a whole number, not negative."),
    ],
)
def test_bands_that_cannot_be_used_are_refused(bands, field, message) -> None:
    with pytest.raises(FeeError) as refused:
        fees.validate_bands(bands)
    assert (refused.value.field, refused.value.message) == (field, message)


@pytest.mark.parametrize("amount", [0, -1, 10**14, True])
def test_amounts_out_of_range_are_refused(amount) -> None:
    with pytest.raises(FeeError) as refused:
        fees.quote(DEFAULT_BANDS, 0, amount)
    assert refused.value.field == "amount_cents"


def test_stored_bands_replace_the_defaults_and_bad_ones_store_nothing(app) -> None:
    assert fees.current_bands(db.session) == DEFAULT_BANDS
    mine = (FeeBand(0, 1_500), FeeBand(100_000, 800))
    fees.save_bands(db.session, mine, utcnow())
    assert fees.current_bands(db.session) == mine
    with pytest.raises(FeeError):
        fees.save_bands(db.session, (FeeBand(0, 1_000), FeeBand(0, 500)), utcnow())
    assert fees.current_bands(db.session) == mine


def test_a_quote_uses_lifetime_billings_and_bring_your_own(app) -> None:
    from referrals import spend
    from tests.referrals.factories import event

    client, freelancer = make_user(hires=True), make_user(hires=False, works=True)
    spend.record_event(db.session, event(client, freelancer, 60_000), utcnow())
    quote = fees.quote_for(db.session, client, freelancer, 10_000)
    assert quote.lifetime_before_cents == 60_000 and quote.fee_cents == 1_000
    db.session.add(
        TalentRelationship(client_id=client.id, freelancer_id=freelancer.id, flat_fee_bp=500)
    )
    db.session.flush()
    assert fees.quote_for(db.session, client, freelancer, 10_000).fee_cents == 500
    unknown = fees.quote_for(db.session, None, None, 10_000, "C-1", "F-1")
    assert unknown.lifetime_before_cents == 0 and unknown.fee_cents == 2_000
