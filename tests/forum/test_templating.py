"""Relative times: the text of every elapsed time, from a cache by whole minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from forum.templating import time_ago

NOW = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)


def _by_seconds(seconds: int) -> str:
    """time_ago as it read before its cache: the largest unit that fits the seconds."""
    if seconds < 60:
        return "just now"
    for size, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"),
                       (3600, "hour"), (60, "minute")):  # fmt: skip
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    raise AssertionError(seconds)


@given(st.integers(min_value=-(10**6), max_value=10**11))
def test_every_elapsed_time_reads_as_its_largest_unit(microseconds_ago: int) -> None:
    value = NOW - timedelta(microseconds=microseconds_ago * 1000)
    seconds = int((NOW - value).total_seconds())
    assert time_ago(value, NOW) == _by_seconds(seconds)


def test_the_edges_of_the_units() -> None:
    cases = {
        59: "just now", 60: "1 minute ago", 3599: "59 minutes ago", 3600: "1 hour ago",
        86400 * 30 - 1: "29 days ago", 86400 * 30: "1 month ago",
        86400 * 365 - 1: "12 months ago", 86400 * 365: "1 year ago",
    }  # fmt: skip
    for seconds, text in cases.items():
        assert time_ago(NOW - timedelta(seconds=seconds), NOW) == text
    assert time_ago(None, NOW) == ""
    assert time_ago(NOW + timedelta(minutes=5), NOW) == "just now"
