"""Time the pages and the write paths in-process (Flask test client) on the bench database.

Quieter than wrk on a shared machine: it reports CPU and wall milliseconds per request, and
with --profile writes a cProfile of one case. Run after `python -m bench.run` has seeded:

    .venv/bin/python -m bench.profile_pages                    # every page case, 200 requests
    .venv/bin/python -m bench.profile_pages -n 500 --only member --profile thread.prof
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import re
import time
import uuid
from datetime import UTC, datetime

from bench.run import OUT, _fresh_database
from bench.seed import BENCH_PASSWORD, Seeded


class _StatementCounter:
    """Counts what the driver sends the server, round trip by round trip: every statement a
    cursor runs (the pool's ping, statements SQLAlchemy's events never see) and psycopg's own
    BEGIN, COMMIT and ROLLBACK. On SQLite (no round trips), the statements SQLAlchemy runs."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.on = False
        try:
            import psycopg
        except ImportError:  # pragma: no cover - SQLite only
            return
        counter = self

        def counting(cls, name):  # noqa: ANN001, ANN202
            original = getattr(cls, name)

            def wrapper(self, query, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                # After the call: a statement's execute sends psycopg's BEGIN first.
                result = original(self, query, *args, **kwargs)
                if counter.on:
                    text = query.decode() if isinstance(query, bytes) else str(query)
                    counter.sent.append(" ".join(text.split())[:90])
                return result

            setattr(cls, name, wrapper)

        counting(psycopg.Cursor, "execute")
        counting(psycopg.Cursor, "executemany")
        counting(psycopg.Connection, "_exec_command")

    def report(self, call) -> str:  # noqa: ANN001
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        def on_sqlite(conn, cursor, statement, *rest):  # noqa: ANN001, ANN002, ANN202
            if conn.dialect.name == "sqlite" and self.on:
                self.sent.append(" ".join(statement.split())[:90])

        event.listen(Engine, "before_cursor_execute", on_sqlite)
        requests = 20
        self.sent, self.on = [], True
        try:
            for _ in range(requests):
                call()
            last = len(self.sent)
            call()
        finally:
            self.on = False
            event.remove(Engine, "before_cursor_execute", on_sqlite)
        one = self.sent[last:]
        lines = [f"    {(last) / requests:.2f} statements per request; one request's:"]
        lines += [f"      {sql}" for sql in one]
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="requests per case")
    parser.add_argument("--only", help="cases whose name contains this")
    parser.add_argument("--profile", help="write a cProfile of the (first) case here")
    parser.add_argument("--print", type=int, default=0, help="print the top N functions")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="also count what each case sends the database per request (and list one's)",
    )
    args = parser.parse_args()
    kind = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    seeded = Seeded(**json.loads((OUT / f"seeded-{kind}.json").read_text()))
    os.environ.update(
        {
            "DATABASE_URL": _fresh_database(kind, reuse=True),
            "SECRET_KEY": "bench-secret",
            "RATELIMIT_ENABLED": "false",
            # One trusted proxy, as `make bench` runs it: each click names its own address.
            "TRUSTED_PROXIES": "1",
        }
    )
    from forum import create_app

    app = create_app()
    guest = app.test_client()
    member = app.test_client()
    html = member.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)
    response = member.post(
        "/sign-in",
        data={"csrf_token": token, "login": seeded.member_username, "password": BENCH_PASSWORD},
    )
    assert response.status_code == 302, response.status_code
    html = member.get("/t/2").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)

    thread = f"/t/{seeded.long_thread_id}"

    def reply():  # noqa: ANN202
        return member.post(
            "/t/2/reply",
            data={
                "csrf_token": token,
                "body": "Benchmark reply with **Markdown**.",
                "submission_key": uuid.uuid4().hex,
            },
        )

    counter = iter(range(1, 10**9))
    browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

    def click():  # noqa: ANN202
        # As the bench's clicks: a browser, each click from its own address (so recorded and
        # counted, not flagged as a flood), over every seeded link in turn.
        n = next(counter)
        code = seeded.link_codes[n % len(seeded.link_codes)]
        address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        return visitor.get(
            f"/r/{code}", headers={"User-Agent": browser, "X-Forwarded-For": address}
        )

    visitor = app.test_client(use_cookies=False)  # wrk sends no cookies either
    run = uuid.uuid4().hex[:8]
    members = len(seeded.usernames)
    api = app.test_client()
    auth = {"Authorization": f"Bearer {seeded.api_token}"}

    def event() -> dict:
        # As the bench's: a unique payment between two seeded members, dated now (counted).
        n = next(counter)
        payer = random.randint(1, members)
        payee = random.randint(1, members - 1)
        payee += payee >= payer
        return {
            "event_id": f"profile-{run}-{n}",
            "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "kind": "payment",
            "payer": {"id": payer},
            "payee": {"id": payee},
            "amount_cents": random.randint(100, 100_000),
            "currency": "USD",
        }

    def spend_single():  # noqa: ANN202
        return api.post("/api/v1/spend-events", json=event(), headers=auth)

    def spend_batch():  # noqa: ANN202
        return api.post("/api/v1/spend-events", json=[event() for _ in range(500)], headers=auth)

    cases = {
        "board list (home)": lambda: guest.get("/"),
        "board page 1": lambda: guest.get(f"/b/{seeded.board_slug}"),
        "board page deep": lambda: guest.get(f"/b/{seeded.board_slug}?page={seeded.board_pages}"),
        "board member page 1": lambda: member.get(f"/b/{seeded.board_slug}"),
        "thread guest, page 1": lambda: guest.get(thread),
        "thread guest, page 100": lambda: guest.get(f"{thread}?page=100"),
        "thread member, page 1": lambda: member.get(thread),
        "thread member, page 100": lambda: member.get(f"{thread}?page=100"),
        "post a reply (signed in)": reply,
        "click /r/<code>": click,
        "spend event, single": spend_single,
        "spend events, batch of 500": spend_batch,
    }
    profiled = False
    counter_of_statements = _StatementCounter() if args.statements else None
    for name, call in cases.items():
        if args.only and args.only not in name:
            continue
        expected = 302 if ("reply" in name or "click" in name) else 200
        for _ in range(10):  # warm caches and connections
            status = call().status_code
            assert status == expected, (name, status)
        profiler = cProfile.Profile() if args.profile and not profiled else None
        # Five batches; the quickest batch is reported: on a shared machine, other work only
        # ever adds time (cache misses, preemption), so the minimum is the steadiest figure.
        batch = max(1, (args.n // 50 if "500" in name else args.n) // 5)
        cpus, walls = [], []
        if profiler:
            profiler.enable()
        for _ in range(5):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(batch):
                call()
            walls.append((time.perf_counter() - wall) / batch * 1000)
            cpus.append((time.process_time() - cpu) / batch * 1000)
        if profiler:
            profiler.disable()
        print(
            f"{name:28} cpu {min(cpus):6.2f} ms (median {sorted(cpus)[2]:6.2f})"
            f"  wall {min(walls):6.2f} ms (median {sorted(walls)[2]:6.2f})"
        )
        if counter_of_statements is not None:
            print(counter_of_statements.report(call))
        if profiler:
            profiled = True
            profiler.dump_stats(args.profile)
            if args.print:
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.print)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
