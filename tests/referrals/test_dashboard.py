"""The referrer's dashboard: totals and per-day series in SQL, at a fixed cost in queries."""

from __future__ import annotations

from datetime import timedelta

from forum.database import utcnow
from forum.extensions import db
from referrals import charts, clicks, dashboard
from tests.conftest import count_queries
from tests.referrals.factories import (
    CASH_AT_100,
    make_link,
    make_program,
    referrer_for,
    rewarded_referral,
)


def _click(link, address: str, when=None, agent: str = "Mozilla/5.0") -> None:  # noqa: ANN001
    clicks.record_click(db.session, link, address, agent, None, when or utcnow(), 1000)


def test_totals_count_people_not_bots_and_money_by_status(app) -> None:
    program = make_program(hold_days=0, tiers=CASH_AT_100)
    referrer = referrer_for(program)
    link = make_link(program, referrer)
    for address in ("a", "a", "b"):
        _click(link, address)
    _click(link, "c", agent="Googlebot/2.1")
    rewarded_referral(program, referrer, 25_000)  # adds a click of its own, address unique
    totals = dashboard.totals(db.session, referrer.id)
    assert (totals.clicks, totals.unique_visitors, totals.sign_ups) == (4, 3, 1)
    assert totals.conversion_percent == 33.3
    assert totals.referee_spend_cents == 25_000
    assert totals.reward_cents["approved"] == 5_000 and totals.reward_counts["approved"] == 1
    assert totals.reward_cents["pending"] == 0


def test_nothing_yet_gives_zeros_and_no_conversion_rate(app) -> None:
    totals = dashboard.totals(db.session, referrer_for(make_program()).id)
    assert (totals.clicks, totals.sign_ups, totals.conversion_percent) == (0, 0, None)


def test_the_daily_series_has_every_day_oldest_first(app) -> None:
    program = make_program()
    referrer = referrer_for(program)
    link = make_link(program, referrer)
    now = utcnow()
    _click(link, "a", now - timedelta(days=3))
    _click(link, "b", now - timedelta(days=3))
    _click(link, "c", now - timedelta(days=40))
    days = dashboard.daily(db.session, referrer.id, 30, now)
    assert len(days) == 30 and days[-1].day == now.date()
    assert days[-4].clicks == 2 and sum(d.clicks for d in days) == 2
    assert sum(d.clicks for d in dashboard.daily(db.session, referrer.id, 90, now)) == 3


def test_the_dashboard_costs_the_same_queries_however_much_happened(app) -> None:
    program = make_program()
    referrer = referrer_for(program)

    def measure() -> int:
        with count_queries() as statements:
            dashboard.totals(db.session, referrer.id)
            dashboard.daily(db.session, referrer.id, 90, utcnow())
            rows = dashboard.link_rows(db.session, referrer.id)
            page = dashboard.referral_page(db.session, referrer, 1)
            for row in rows:
                assert row.link.program.name
            for referral in page.referrals:
                assert referral.referee.username and referral.program.name
        return len(statements)

    rewarded_referral(program, referrer)
    few = measure()
    for _ in range(6):
        rewarded_referral(program, referrer)
    for address in range(20):
        _click(make_link(program, referrer), f"x{address}")
    assert measure() == few


def test_the_chart_is_accessible_svg_with_escaped_text(app) -> None:
    days = dashboard.daily(db.session, referrer_for(make_program()).id, 30, utcnow())
    svg = str(charts.daily_chart(days, "c30", "Clicks <30 days>", "Per day & more"))
    assert svg.startswith('<svg class="chart" id="c30"') and 'role="img"' in svg
    assert 'aria-labelledby="c30-title c30-desc"' in svg
    assert '<title id="c30-title">Clicks &lt;30 days&gt;</title>' in svg
    assert "style=" not in svg  # the CSP allows no inline style


def test_the_scale_is_labelled_at_both_ends_of_the_chart() -> None:
    # A phone shows the chart scrolled to its newest days, away from the left-hand scale.
    start = utcnow().date()
    days = [dashboard.Day(start + timedelta(days=i), 0, 0, 0, 0) for i in range(29)]
    days.append(dashboard.Day(start + timedelta(days=29), 5, 1, 1, 500))
    svg = str(charts.daily_chart(days, "c30", "Clicks", "Per day"))
    right = charts.WIDTH - charts.RIGHT
    assert svg.count(">5</text>") == 2 and f'x="{right}"' in svg
    assert svg.count(">0</text>") == 1


def test_nice_ceilings() -> None:
    assert [charts.nice_ceiling(v) for v in (0, 1, 2, 3, 7, 11, 49, 51, 140)] == [
        1, 1, 2, 5, 10, 20, 50, 100, 200,
    ]  # fmt: skip
