"""Search latency on a forum of 100,000 posts, on SQLite and PostgreSQL.

Seeds a fresh database through the migrations (bulk inserts, then the index filled with
what the write path would write: these bodies are plain text), then runs a fixed set of
searches through forum.search.service, the same call the search page makes, and prints
p50/p95/p99 latency per kind of query with the results cache off (every search a real
one), and the p50 of a cached repeat.

    .venv/bin/python bench/search.py                      # SQLite file in bench/out/
    DATABASE_URL=postgresql://postgres@127.0.0.1/test .venv/bin/python bench/search.py

On PostgreSQL it works in its own schema (BENCH_SCHEMA, default townhall_bench_search),
dropped and made anew each run.
Not part of the test suite; `make bench-search` runs it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade

from forum import create_app
from forum.accounts.models import User
from forum.boards.models import Board, Post, Thread
from forum.config import normalise_database_url
from forum.extensions import db
from forum.search.service import MAX_COUNTED, SearchFilters, search

OUT = Path(__file__).resolve().parent / "out"
SCHEMA = os.environ.get("BENCH_SCHEMA", "townhall_bench_search")

# Words people write in a freelance marketplace forum, plus filler; drawn with a Zipf-like
# skew so that some words are everywhere and others rare, as in real text.
_TOPIC_TEXT = """
payment invoice milestone contract client freelancer proposal budget escrow refund fee
service hourly fixed price rate review feedback profile portfolio skill design developer
project deadline scope revision dispute payout withdrawal bank transfer paypal tax form
currency connects rating badge talent agency interview offer hire job post search message
account verification identity security password timezone schedule weekly report tracker
screenshot approve reject release deposit balance pending hold bonus tip communication
"""
TOPIC_WORDS = _TOPIC_TEXT.split()
_FILLER_TEXT = """
the a to of and in is it for on that this with my i you we they be have not are was but
can how what when do does if or any there so just about from get would will one all some
"""
FILLER = _FILLER_TEXT.split()


def _vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    made = {"".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(4000)}
    return TOPIC_WORDS + sorted(made)


def _sentence(rng: random.Random, words: list[str], weights: list[float], length: int) -> str:
    chosen = rng.choices(words, weights=weights, k=length)
    mixed = [w if rng.random() > 0.35 else rng.choice(FILLER) for w in chosen]
    return " ".join(mixed).capitalize() + "."


def seed(posts: int, rng: random.Random) -> list[str]:
    """Fill the empty database with ``posts`` posts in threads of about ten; return the words."""
    words = _vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    now = datetime.now(UTC)
    users = [
        {
            "id": n,
            "username": f"user{n}",
            "username_key": f"user{n}",
            "email": f"user{n}@bench.test",
            "email_key": f"user{n}@bench.test",
            "password_hash": "x",
            "role": "member",
            "hires": True,
            "works": bool(n % 2),
            "created_at": now - timedelta(days=400),
        }
        for n in range(1, 1001)
    ]
    db.session.execute(sa.insert(User), users)
    boards = [
        {"id": n, "slug": f"board-{n}", "name": f"Board {n}", "moderators_only": n == 10}
        for n in range(1, 11)
    ]
    db.session.execute(sa.insert(Board), boards)
    thread_count = max(1, posts // 10)
    threads, post_rows = [], []
    post_id = 0
    for thread_id in range(1, thread_count + 1):
        size = 10 if thread_id < thread_count else posts - post_id
        started = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        title = _sentence(rng, words, weights, rng.randint(4, 9))[:-1]
        for number in range(1, size + 1):
            post_id += 1
            body = " ".join(
                _sentence(rng, words, weights, rng.randint(6, 18)) for _ in range(rng.randint(1, 6))
            )
            post_rows.append(
                {
                    "id": post_id,
                    "thread_id": thread_id,
                    "author_id": rng.randint(1, 1000),
                    "number": number,
                    "body_source": body,
                    "body_html": f"<p>{body}</p>",
                    "created_at": started + timedelta(minutes=number),
                    "removed_at": now if rng.random() < 0.01 else None,
                }
            )
        threads.append(
            {
                "id": thread_id,
                "board_id": rng.randint(1, 10),
                "author_id": post_rows[-size]["author_id"],
                "title": title,
                "created_at": started,
                "last_post_at": started + timedelta(minutes=size),
                "post_number_seq": size,
                "reply_count": size - 1,
                "removed_at": now if rng.random() < 0.005 else None,
            }
        )
    db.session.execute(sa.insert(Thread), threads)
    for start in range(0, len(post_rows), 10_000):
        db.session.execute(sa.insert(Post), post_rows[start : start + 10_000])
    # A solution for every fifth thread (its second post).
    db.session.execute(
        sa.text(
            "UPDATE threads SET solution_post_id = "
            "(SELECT id FROM posts WHERE posts.thread_id = threads.id AND posts.number = 2) "
            "WHERE threads.id % 5 = 0"
        )
    )
    _index(post_rows, {t["id"]: t["title"] for t in threads})
    db.session.commit()
    return words


def _index(post_rows: list[dict], titles: dict[int, str]) -> None:
    """Index every post as the write path would (the bodies are plain text already)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            sa.text(
                # search_text as the write path keeps it: these bodies are plain text.
                "UPDATE posts SET search_text = posts.body_source, "
                "search_vector = setweight(to_tsvector('english', "
                "CASE WHEN posts.number = 1 THEN threads.title ELSE '' END), 'A') || "
                "setweight(to_tsvector('english', posts.body_source), 'B') "
                "FROM threads WHERE threads.id = posts.thread_id"
            )
        )
        db.session.execute(sa.text("ANALYZE"))
        return
    insert = sa.text("INSERT INTO post_search (rowid, title, body) VALUES (:id, :title, :body)")
    rows = [
        {
            "id": row["id"],
            "title": titles[row["thread_id"]] if row["number"] == 1 else "",
            "body": row["body_source"],
        }
        for row in post_rows
    ]
    for start in range(0, len(rows), 10_000):
        db.session.execute(insert, rows[start : start + 10_000])
    db.session.execute(sa.text("ANALYZE"))


def queries(words: list[str]) -> list[tuple[str, str, SearchFilters]]:
    """Return (kind, text, filters) for every search the benchmark runs."""
    # The least frequent made-up words: a handful of posts each.
    rare = [("rare word", word, SearchFilters()) for word in words[-2:]]
    return COMMON_QUERIES + rare


COMMON_QUERIES: list[tuple[str, str, SearchFilters]] = [
    ("one common word", "payment", SearchFilters()),
    ("one common word", "client", SearchFilters()),
    ("one common word", "invoice", SearchFilters()),
    ("two words", "milestone refund", SearchFilters()),
    ("two words", "escrow dispute", SearchFilters()),
    ("three words", "hourly rate review", SearchFilters()),
    ("less common word", "timezone", SearchFilters()),
    ("phrase", '"service fee"', SearchFilters()),
    ("phrase", '"bank transfer"', SearchFilters()),
    ("exclusion", "payment -paypal", SearchFilters()),
    ("board filter", "contract", SearchFilters(board_slug="board-3")),
    ("author filter", "proposal", SearchFilters(author="user42")),
    ("solved only", "payout", SearchFilters(solved_only=True)),
    ("date range", "budget", SearchFilters(since=(datetime.now(UTC) - timedelta(days=30)).date())),
    ("newest first", "deadline", SearchFilters(newest_first=True)),
    ("page 5", "freelancer", SearchFilters()),
]


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(
    searches: list[tuple[str, str, SearchFilters]], repeats: int
) -> list[tuple[str, int, float, float, float, int]]:
    """Return (kind, samples, p50, p95, p99, typical result count) per kind of query."""
    by_kind: dict[str, list[float]] = {}
    totals: dict[str, list[int]] = {}
    for _, text, filters in searches:  # warm the caches once
        search(db.session, None, text, filters)
    for _ in range(repeats):
        for kind, text, filters in searches:
            page = 5 if kind == "page 5" else 1
            started = time.perf_counter()
            results = search(db.session, None, text, filters, page=page)
            by_kind.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
            totals.setdefault(kind, []).append(results.total)
            db.session.rollback()
    everything = [sample for samples in by_kind.values() for sample in samples]
    rows = [
        (
            kind,
            len(samples),
            _percentile(samples, 0.5),
            _percentile(samples, 0.95),
            _percentile(samples, 0.99),
            int(statistics.median(totals[kind])),
        )
        for kind, samples in by_kind.items()
    ]
    rows.append(
        (
            "all queries",
            len(everything),
            _percentile(everything, 0.5),
            _percentile(everything, 0.95),
            _percentile(everything, 0.99),
            0,
        )
    )
    return rows


def cached_p50(searches: list[tuple[str, str, SearchFilters]], repeats: int) -> dict[str, float]:
    """Return the p50 per kind of query when the results cache answers (after a first miss)."""
    samples: dict[str, list[float]] = {}
    for _ in range(repeats + 1):
        for kind, text, filters in searches:
            page = 5 if kind == "page 5" else 1
            started = time.perf_counter()
            search(db.session, None, text, filters, page=page)
            samples.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
            db.session.rollback()
    return {
        kind: _percentile(times[len(times) // (repeats + 1) :], 0.5)
        for kind, times in samples.items()
    }


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        OUT.mkdir(exist_ok=True)
        path = OUT / "search.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    url = normalise_database_url(url)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{SCHEMA}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    url = _database_url()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        dialect = db.engine.dialect.name
        started = time.perf_counter()
        upgrade()
        searches = queries(seed(args.posts, random.Random(args.seed)))
        seeded = time.perf_counter() - started
        if dialect == "postgresql":
            version = db.session.scalar(sa.text("SHOW server_version"))
        else:
            version = db.session.scalar(sa.text("SELECT sqlite_version()"))
        print(f"{dialect} {version}: {args.posts:,} posts seeded and indexed in {seeded:.1f} s")
        print(f"{len(searches)} searches x {args.repeats}, one page of 20 hits with snippets each")
        print()
        # Every search is timed without the results cache (each a real search), then the
        # cache's own cost is shown alongside (a repeat of the same search, same page).
        app.config["SEARCH_CACHE"] = False
        rows = run(searches, args.repeats)
        app.config["SEARCH_CACHE"] = True
        cached = cached_p50(searches, args.repeats)
        header = ("query", "runs", "p50 ms", "p95 ms", "p99 ms", "hits", "cached p50")
        print("| {:<18} | {:>4} | {:>7} | {:>7} | {:>7} | {:>6} | {:>10} |".format(*header))
        print(f"|{'-' * 20}|{'-' * 5}:|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|{'-' * 7}:|{'-' * 11}:|")
        for kind, count, p50, p95, p99, hits in rows:
            shown = f"{hits:,}" if hits <= MAX_COUNTED else f">{MAX_COUNTED:,}"
            shown = "" if kind == "all queries" else shown
            hit = f"{cached[kind]:.2f}" if kind in cached else ""
            cells = (kind, count, p50, p95, p99, shown, hit)
            print(
                "| {:<18} | {:>4} | {:>7.1f} | {:>7.1f} | {:>7.1f} | {:>6} | {:>10} |".format(
                    *cells
                )
            )
        db.session.remove()
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
