"""Charts drawn on the server as inline SVG: readable without JavaScript, nothing loaded from
elsewhere, styled by classes in townhall.css (the CSP allows no inline style)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from referrals.dashboard import Day

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 16, 52


def nice_ceiling(value: int) -> int:
    """Return a round axis maximum at or above ``value``: 1, 2, 5, 10, 20, 50, …"""
    if value <= 1:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def daily_chart(days: Sequence[Day], chart_id: str, title: str, description: str) -> Markup:
    """Return an SVG of clicks (bars), sign-ups and rewards (lines) per day, with a title and
    description for screen readers (``role="img"``, ``aria-labelledby``)."""
    count = max(1, len(days))
    top = nice_ceiling(max([1, *(max(d.clicks, d.sign_ups, d.rewards) for d in days)]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / count

    def x(index: int) -> float:
        return LEFT + slot * index + slot / 2

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMidYMid meet" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    ticks = (0, top // 2, top) if top % 2 == 0 else (0, top)
    for tick in ticks:
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text class="chart-label" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
        if tick:
            # Again at the right end: on a phone the chart opens scrolled to its newest days.
            parts.append(
                f'<text class="chart-label" x="{WIDTH - RIGHT}" y="{y(tick) - 4:.1f}" '
                f'text-anchor="end">{tick}</text>'
            )
    bar_w = max(1.0, slot * 0.6)
    for index, day in enumerate(days):
        if day.clicks:
            parts.append(
                f'<rect class="chart-clicks" x="{x(index) - bar_w / 2:.1f}" '
                f'y="{y(day.clicks):.1f}" width="{bar_w:.1f}" '
                f'height="{y(0) - y(day.clicks):.1f}"><title>{day.day.isoformat()}: '
                f"{day.clicks} clicks</title></rect>"
            )
    for name, values in (
        ("signups", [d.sign_ups for d in days]),
        ("rewards", [d.rewards for d in days]),
    ):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline class="chart-{name}" points="{points}"/>')
        for i, value in enumerate(values):
            if value:
                parts.append(
                    f'<circle class="chart-{name}-dot" cx="{x(i):.1f}" cy="{y(value):.1f}" r="3"/>'
                )
    label_every = max(1, round(count / 6))
    for index, day in enumerate(days):
        if index % label_every == 0 or index == count - 1:
            anchor = "end" if index == count - 1 else "start" if index == 0 else "middle"
            parts.append(
                f'<text class="chart-label" x="{x(index):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="{anchor}">{day.day.strftime("%-d %b")}</text>'
            )
    legend_y = HEIGHT - 12
    parts.append(
        f'<rect class="chart-clicks" x="{LEFT}" y="{legend_y - 9}" width="12" height="10"/>'
        f'<text class="chart-label" x="{LEFT + 16}" y="{legend_y}">Clicks</text>'
        f'<line class="chart-signups" x1="{LEFT + 80}" x2="{LEFT + 100}" '
        f'y1="{legend_y - 4}" y2="{legend_y - 4}"/>'
        f'<text class="chart-label" x="{LEFT + 104}" y="{legend_y}">Sign-ups</text>'
        f'<line class="chart-rewards" x1="{LEFT + 180}" x2="{LEFT + 200}" '
        f'y1="{legend_y - 4}" y2="{legend_y - 4}"/>'
        f'<text class="chart-label" x="{LEFT + 204}" y="{legend_y}">Rewards</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part above is escaped or a number
