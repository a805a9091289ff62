"""Pure tier calculations, by property: thresholds, the reward plan, revenue share, caps."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from referrals import tiers
from referrals.models import RewardStatus
from referrals.tiers import Action, TierState

cents = st.integers(min_value=-(10**9), max_value=10**9)
thresholds = st.integers(min_value=0, max_value=10**9)
statuses = st.sampled_from([None, RewardStatus.PENDING, RewardStatus.APPROVED, RewardStatus.PAID])


@given(thresholds, cents)
def test_reaching_is_at_or_above(threshold, net) -> None:
    assert tiers.reached(threshold, net) == (net >= threshold)


@given(st.lists(thresholds, max_size=10), cents, cents)
def test_crossed_are_the_thresholds_between_the_two_totals(levels, before, after) -> None:
    crossed = tiers.crossed(levels, before, after)
    assert crossed == sorted(set(crossed))
    for level in set(levels):
        assert (level in crossed) == (tiers.reached(level, before) != tiers.reached(level, after))
    assert crossed == tiers.crossed(levels, after, before)


tier_states = st.lists(
    st.builds(
        TierState,
        tier_id=st.integers(1, 10**6),
        threshold_cents=thresholds,
        live_status=statuses,
        blocked=st.booleans(),
    ),
    max_size=8,
    unique_by=lambda s: s.tier_id,
)


def _apply(states: list[TierState], actions: list[tuple[int, Action]]) -> dict[int, str | None]:
    result = {s.tier_id: s.live_status for s in states}
    for tier_id, action in actions:
        result[tier_id] = RewardStatus.PENDING if action == Action.GRANT else None
    return result


@given(tier_states, cents, st.booleans())
def test_plan_leaves_a_live_reward_exactly_when_reached_or_kept(states, net, may_grant) -> None:
    actions = tiers.plan(states, net, may_grant)
    assert len({tier_id for tier_id, _ in actions}) == len(actions)  # one action per tier at most
    after = _apply(states, actions)
    for state in states:
        kept = state.live_status in (RewardStatus.APPROVED, RewardStatus.PAID)
        reached = tiers.reached(state.threshold_cents, net)
        if kept:
            assert after[state.tier_id] == state.live_status  # approved and paid are never undone
        elif reached and may_grant and not state.blocked:
            assert after[state.tier_id] is not None
        elif not reached:
            assert after[state.tier_id] is None
        else:  # reached, but granting is not allowed: nothing new appears
            assert after[state.tier_id] == state.live_status


@given(tier_states, cents, st.booleans())
def test_plan_is_idempotent(states, net, may_grant) -> None:
    after = _apply(states, tiers.plan(states, net, may_grant))
    again = [TierState(s.tier_id, s.threshold_cents, after[s.tier_id], s.blocked) for s in states]
    assert tiers.plan(again, net, may_grant) == []


@given(
    st.integers(0, 10**10),
    st.integers(0, 10**10),
    st.integers(1, 10_000),
    st.none() | st.integers(1, 10**9),
)
def test_revenue_share_is_a_capped_floor_of_the_part_above_the_threshold(
    base, threshold, bps, cap
) -> None:
    share = tiers.revenue_share_cents(base, threshold, bps, cap)
    assert share >= 0
    assert cap is None or share <= cap
    exact = max(0, base - threshold) * bps / 10_000
    assert share <= exact and (cap is not None and share == cap or exact - share < 1)
    assert tiers.revenue_share_cents(base + 1, threshold, bps, cap) >= share


@given(st.integers(-(10**9), 10**9), st.lists(st.none() | st.integers(-(10**6), 10**9), max_size=4))
def test_capped_never_exceeds_any_allowance(amount, allowances) -> None:
    result = tiers.capped(amount, *allowances)
    assert 0 <= result <= max(amount, 0)
    for allowance in allowances:
        if allowance is not None:
            assert result <= max(allowance, 0)
    limits = [a for a in allowances if a is not None]
    assert result == max(0, min([amount, *limits]))


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(0, 240),
)
def test_add_months_moves_by_calendar_months(moment, months) -> None:
    later = tiers.add_months(moment, months)
    assert (later.year * 12 + later.month) - (moment.year * 12 + moment.month) == months
    assert later.day <= moment.day and later.time() == moment.time()
    assert later >= moment


def test_add_months_clamps_the_day() -> None:
    assert tiers.add_months(datetime(2025, 1, 31, tzinfo=UTC), 1) == datetime(
        2025, 2, 28, tzinfo=UTC
    )
    assert tiers.add_months(datetime(2024, 1, 31, tzinfo=UTC), 1) == datetime(
        2024, 2, 29, tzinfo=UTC
    )
    assert tiers.add_months(datetime(2025, 3, 15, tzinfo=UTC), 12) == datetime(
        2026, 3, 15, tzinfo=UTC
    )
