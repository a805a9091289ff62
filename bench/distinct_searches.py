"""Time `make bench`'s "search (distinct, uncached)" case in-process, query by query.

Runs the case's searches (bench.cases._distinct_searches: each seeded word and word pair)
× order (relevance, newest) × page 1..20 through the Flask test client on the database
`python -m bench.run` seeded, each once, as the wrk script does (so neither the results
cache nor the page fragment answers), and prints p50/p95/p99 wall milliseconds per request,
by order and by page, and the slowest requests. Also CPU milliseconds per request: this
process's and, on PostgreSQL, its server backends' (from /proc/PID/schedstat: the server
runs on this machine), which other work on a shared machine barely changes. Run after seeding:

    .venv/bin/python -m bench.distinct_searches [--passes 3] [--slowest 15]
        [--profile FILE --print N]    # a cProfile of the first pass (slower: measure without)

With the same DATABASE_URL and BENCH_SCHEMA as the seeding on PostgreSQL. Each pass gets a
fresh app (so empty in-memory caches); the quickest pass's figures are the steadiest on a
shared machine.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import time
from collections import defaultdict

from bench.cases import _distinct_searches
from bench.run import OUT, _fresh_database


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _summary(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):6.2f}  p95 {_percentile(values, 0.95):6.2f}  "
        f"p99 {_percentile(values, 0.99):6.2f}  max {max(values):6.2f}  (n={len(values)})"
    )


_APPLICATION = "townhall-distinct-searches"


def _backend_pids(app) -> list[int]:  # noqa: ANN001
    from forum.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name != "postgresql":
            return []
        return list(
            connection.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (_APPLICATION,)
            ).scalars()
        )


def _cpu_ms(pids: list[int]) -> float:
    """This process's CPU time and its server backends', in milliseconds."""
    total = time.process_time_ns()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat") as stat:
                total += int(stat.read().split()[0])
        except FileNotFoundError:
            pass
    return total / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passes", type=int, default=1)
    parser.add_argument("--slowest", type=int, default=15)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--profile", help="write a cProfile of the (first) pass here")
    parser.add_argument("--print", type=int, default=0, help="print this many profile lines")
    args = parser.parse_args()
    kind = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    json.loads((OUT / f"seeded-{kind}.json").read_text())  # seeded?
    url = _fresh_database(kind, reuse=True)
    if kind == "postgresql":
        url += f"&application_name={_APPLICATION}"
    os.environ.update(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-secret",
            "RATELIMIT_ENABLED": "false",
        }
    )
    from forum import create_app

    searches = _distinct_searches()
    requests = [
        (query, order, page)
        for page in range(1, args.pages + 1)
        for order in ("relevance", "newest")
        for query in searches
    ]
    passes = []
    for number in range(args.passes):
        app = create_app()
        client = app.test_client(use_cookies=False)
        for warm in ("warmup", "warmup+words", '"warm+up"'):  # templates, connections
            assert client.get(f"/search?q={warm}").status_code == 200
        pids = _backend_pids(app)
        timings: list[tuple[float, str, str, int]] = []
        cpus: list[tuple[float, str, str, int]] = []
        profiler = cProfile.Profile() if args.profile and number == 0 else None
        if profiler:
            profiler.enable()
        for query, order, page in requests:
            started, cpu = time.perf_counter(), _cpu_ms(pids)
            response = client.get(f"/search?q={query}&sort={order}&page={page}")
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (query, order, page, response.status_code)
            timings.append((elapsed, query, order, page))
            cpus.append((_cpu_ms(pids) - cpu, query, order, page))
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
            if args.print:
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.print)
        passes.append((timings, cpus))
        print(f"pass: wall {_summary([t[0] for t in timings])}", flush=True)
        print(f"      cpu  {_summary([t[0] for t in cpus])}", flush=True)
    for label, which in (("wall", 0), ("cpu", 1)):
        best = min((p[which] for p in passes), key=lambda t: _percentile([x[0] for x in t], 0.99))
        _breakdown(f"{kind}, {label} ms, best pass by p99", best, args.slowest)
    return 0


def _breakdown(title: str, best: list[tuple[float, str, str, int]], slowest: int) -> None:
    print(f"\n{title}: {_summary([t[0] for t in best])}")
    by_order: dict[str, list[float]] = defaultdict(list)
    by_page: dict[int, list[float]] = defaultdict(list)
    for elapsed, _query, order, page in best:
        by_order[order].append(elapsed)
        by_page[page].append(elapsed)
    for order, values in by_order.items():
        print(f"  {order:9} {_summary(values)}")
    for page, values in sorted(by_page.items()):
        print(f"  page {page:2}   {_summary(values)}")
    print("slowest:")
    for elapsed, query, order, page in sorted(best, reverse=True)[:slowest]:
        print(f"  {elapsed:7.2f} ms  {query:28} {order:9} page {page}")


if __name__ == "__main__":
    raise SystemExit(main())
