"""Record what searches answer, to compare the search before and after a change.

Two parts, on the database `python -m bench.run` seeded (the same DATABASE_URL and
BENCH_SCHEMA as the seeding on PostgreSQL):

- pages: the search page (whole HTML, as a guest) of the bench's distinct searches × order ×
  page 1..20, each through the test client as the wrk script asks for it;
- results: forum.search.service.search's results (cache off) for those searches with filters
  (a board, an author, a date range, solved threads) as a guest and as a moderator, inside
  one transaction, never committed, that first removes some posts and threads and makes a
  board moderators-only, so that the visibility rules have something to hide.

    .venv/bin/python -m bench.compare_searches OUT.json          # record
    .venv/bin/python -m bench.compare_searches OUT.json --against BEFORE.json

Prints how many answers were recorded and, with --against, every one that differs.
Record both sides on the same seeded database (a seed dates its posts from the day it ran),
old code first (e.g. from `git archive` of the old commit, with bench/out linked). The
rolled-back changes leave dead rows and index entries on PostgreSQL: seed anew before timing
anything there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from datetime import date
from types import SimpleNamespace

from bench.cases import _distinct_searches
from bench.run import _fresh_database

_FILTERS = {
    "none": {},
    "board": {"board_slug": "board-3"},
    "private-board": {"board_slug": "board-2"},
    "author": {"author": "member0007"},
    "dates": {"since": date(2000, 1, 1), "until": date(2100, 1, 1)},
    "solved": {"solved_only": True},
}
_RESULT_PAGES = (1, 2, 7, 20)


def _record_pages(client, searches: list[str], pages: int) -> dict[str, str]:  # noqa: ANN001
    recorded = {}
    for query in searches:
        for order in ("relevance", "newest"):
            for page in range(1, pages + 1):
                url = f"/search?q={query}&sort={order}&page={page}"
                response = client.get(url)
                assert response.status_code == 200, url
                recorded[url] = hashlib.sha256(response.data).hexdigest()
    return recorded


def _record_results(app, searches: list[str]) -> dict[str, str]:  # noqa: ANN001
    import sqlalchemy as sa

    from forum.boards.models import Board, Post, Thread
    from forum.extensions import db
    from forum.search import cache, service

    recorded = {}
    with app.app_context():
        session = db.session
        # Never committed: the session's transaction is rolled back at the end.
        session.execute(
            sa.update(Post).where(Post.id % 7 == 3).values(removed_at=sa.func.current_timestamp())
        )
        session.execute(
            sa.update(Thread)
            .where(Thread.id % 11 == 5)
            .values(removed_at=sa.func.current_timestamp())
        )
        session.execute(
            sa.update(Board).where(Board.slug == "board-2").values(moderators_only=True)
        )
        newest_post = (
            sa.select(sa.func.max(Post.id)).where(Post.thread_id == Thread.id).scalar_subquery()
        )
        session.execute(
            sa.update(Thread).where(Thread.id % 10 == 0).values(solution_post_id=newest_post)
        )
        session.flush()
        viewers = {"guest": None, "moderator": SimpleNamespace(is_moderator=True)}
        for query in searches:
            for order in ("relevance", "newest"):
                for name, values in _FILTERS.items():
                    filters = service.SearchFilters(newest_first=order == "newest", **values)
                    for viewer_name, viewer in viewers.items():
                        for page in _RESULT_PAGES:
                            results = service.search(
                                session, viewer, query.replace("+", " "), filters, page, 20
                            )
                            key = f"{query} {order} {name} {viewer_name} {page}"
                            recorded[key] = cache.dumps(results)
        session.rollback()
    return recorded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output")
    parser.add_argument("--against")
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--searches", type=int, default=0, help="only the first N searches")
    args = parser.parse_args()
    kind = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    os.environ.update(
        {
            "DATABASE_URL": _fresh_database(kind, reuse=True),
            "SECRET_KEY": "bench-secret",
            "RATELIMIT_ENABLED": "false",
        }
    )
    from forum import create_app

    searches = _distinct_searches()
    if args.searches:
        searches = searches[: args.searches]
    app = create_app({"SEARCH_CACHE": False})
    recorded = {"pages": _record_pages(app.test_client(use_cookies=False), searches, args.pages)}
    # A third of the searches with filters: six filters, two viewers, four pages each.
    recorded["results"] = _record_results(create_app({"SEARCH_CACHE": False}), searches[::3])
    with open(args.output, "w") as out:
        json.dump(recorded, out)
    print(f"{len(recorded['pages'])} pages, {len(recorded['results'])} results recorded")
    if args.against:
        with open(args.against) as before:
            old = json.load(before)
        differing = 0
        for part in ("pages", "results"):
            for key in sorted(set(old[part]) | set(recorded[part])):
                if old[part].get(key) != recorded[part].get(key):
                    differing += 1
                    print(f"DIFFERS {part}: {key}")
        print(f"{differing} differ")
        return 1 if differing else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
