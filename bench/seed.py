"""Seeding a large, realistic community quickly, with bulk inserts on one connection.

The rows are what the application's write path would have produced (rendered HTML, counters,
revisions), written in bulk because going through the write path would take an hour.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from werkzeug.security import generate_password_hash

from forum.markup import render_markdown

BENCH_PASSWORD = "bench-password"

BODIES = [
    "Has anyone managed to get **milestone payments** released early? My client approved the "
    "work two days ago but the funds are still pending.\n\nI checked the "
    "[payment schedule](https://example.com/help/payments) and it says 5 days.",
    "Here's the script I use to export my invoices:\n\n```python\nimport csv\n\n"
    "def export(invoices, path):\n    with open(path, 'w', newline='') as f:\n"
    "        writer = csv.writer(f)\n        for inv in invoices:\n"
    "            writer.writerow([inv.id, inv.amount_cents / 100])\n```\n\n"
    "It handles refunds too, as negative rows.",
    "> The fee goes down after $500 with the same client.\n\nCorrect, and it drops again "
    "after $10,000. See the table:\n\n| billed | fee |\n|---|---|\n| $0–500 | 20% |\n"
    "| $500–10k | 10% |\n| >10k | 5% |",
    "Thanks, that solved it! For anyone else: clear the cache, sign out, and sign in again. "
    "Then the *Connects* balance updates.",
    "I'd add one thing: always agree on the scope in writing *before* the contract starts. "
    "Use the `milestone description` field; it is what support reads if there is a dispute.\n\n"
    "- define deliverables\n- define revisions\n- define the deadline",
]

TITLES = [
    "Milestone payment stuck in pending",
    "Exporting invoices to CSV",
    "How the service fee works",
    "Connects balance not updating",
    "Scope creep: how do you handle it?",
    "Best way to price a logo",
    "Client asked me to work outside the platform",
    "Top Rated requirements changed?",
    "Refund after contract end",
    "Writing proposals that get replies",
]


@dataclass
class Seeded:
    long_thread_id: int = 0
    long_thread_posts: int = 0
    board_slug: str = ""
    board_pages: int = 0
    member_username: str = ""
    usernames: list[str] = field(default_factory=list)
    link_codes: list[str] = field(default_factory=list)
    referee_ids: list[int] = field(default_factory=list)
    api_token: str = ""


def _chunks(rows: list[dict], size: int = 2000):  # noqa: ANN202
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert(connection: Connection, table: sa.Table, rows: list[dict]) -> None:
    for chunk in _chunks(rows):
        connection.execute(table.insert(), chunk)


def seed_forum(
    connection: Connection,
    metadata: sa.MetaData,
    threads: int = 10_000,
    long_thread_posts: int = 2_000,
    members: int = 500,
    boards: int = 8,
    threads_per_page: int = 30,
) -> Seeded:
    """Fill an empty, migrated database with a forum; return what the cases need."""
    rng = random.Random(42)
    users_t, boards_t = metadata.tables["users"], metadata.tables["boards"]
    threads_t, posts_t = metadata.tables["threads"], metadata.tables["posts"]
    revisions_t = metadata.tables["post_revisions"]
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=400)
    html = [render_markdown(body) for body in BODIES]
    password_hash = generate_password_hash(BENCH_PASSWORD, method="scrypt:4096:8:1")

    usernames = [f"member{n:04d}" for n in range(1, members + 1)]
    _insert(
        connection,
        users_t,
        [
            {
                "id": n,
                "username": name,
                "username_key": name,
                "email": f"{name}@example.com",
                "email_key": f"{name}@example.com",
                "password_hash": password_hash,
                "role": "member",
                "hires": n % 2 == 0,
                "works": n % 2 == 1,
                "created_at": start,
                "session_generation": 0,
                "top_rated": n % 10 == 1,
                "post_count": 0,
                "kudos_received": 0,
            }
            for n, name in enumerate(usernames, start=1)
        ],
    )
    _insert(
        connection,
        boards_t,
        [
            {
                "id": n,
                "slug": f"board-{n}",
                "name": f"Board {n}",
                "description": f"Board {n} topics",
                "position": n,
                "moderators_only": False,
                "thread_count": 0,
                "post_count": 0,
            }
            for n in range(1, boards + 1)
        ],
    )

    thread_rows, post_rows, revision_rows = [], [], []
    post_id = 0
    per_board: dict[int, int] = {}
    for thread_id in range(1, threads + 1):
        board_id = 1 if thread_id <= threads // 2 else rng.randint(2, boards)
        per_board[board_id] = per_board.get(board_id, 0) + 1
        author = rng.randint(1, members)
        created = start + timedelta(minutes=thread_id * 50)
        posts = long_thread_posts if thread_id == 1 else 1 + rng.randint(0, 3)
        for number in range(1, posts + 1):
            post_id += 1
            poster = author if number == 1 else rng.randint(1, members)
            body = rng.randrange(len(BODIES))
            post_rows.append(
                {
                    "id": post_id,
                    "thread_id": thread_id,
                    "author_id": poster,
                    "number": number,
                    "body_source": BODIES[body],
                    "body_html": html[body],
                    "created_at": created + timedelta(seconds=number),
                    "edited_by_moderator": False,
                    "revision_count": 1,
                    "kudos_count": rng.randint(0, 3),
                }
            )
            revision_rows.append(
                {
                    "post_id": post_id,
                    "number": 1,
                    "body_source": BODIES[body],
                    "body_html": html[body],
                    "editor_id": poster,
                    "by_moderator": False,
                    "reason": "",
                    "created_at": created + timedelta(seconds=number),
                }
            )
        thread_rows.append(
            {
                "id": thread_id,
                "board_id": board_id,
                "author_id": author,
                "title": f"{TITLES[thread_id % len(TITLES)]} #{thread_id}",
                "created_at": created,
                "last_post_at": created + timedelta(seconds=posts),
                "last_post_author_id": author,
                "post_number_seq": posts,
                "reply_count": posts - 1,
                "view_count": rng.randint(0, 500),
                "pinned": thread_id % 997 == 0,
                "locked": False,
            }
        )
    _insert(connection, threads_t, thread_rows)
    _insert(connection, posts_t, post_rows)
    _insert(connection, revisions_t, revision_rows)

    counts = connection.execute(
        sa.select(
            threads_t.c.board_id,
            sa.func.count(),
            sa.func.sum(threads_t.c.post_number_seq),
            sa.func.max(threads_t.c.last_post_at),
            sa.func.max(threads_t.c.id),
        ).group_by(threads_t.c.board_id)
    ).all()
    for board_id, thread_count, post_count, last_at, last_thread in counts:
        connection.execute(
            boards_t.update()
            .where(boards_t.c.id == board_id)
            .values(
                thread_count=thread_count,
                post_count=post_count,
                last_post_at=last_at,
                last_thread_id=last_thread,
            )
        )
    connection.execute(
        users_t.update().values(
            post_count=sa.select(sa.func.count())
            .where(posts_t.c.author_id == users_t.c.id)
            .scalar_subquery()
        )
    )
    if connection.dialect.name == "postgresql":
        for table in ("users", "boards", "threads", "posts", "post_revisions"):
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    return Seeded(
        long_thread_id=1,
        long_thread_posts=long_thread_posts,
        board_slug="board-1",
        board_pages=max(1, per_board[1] // threads_per_page),
        member_username=usernames[0],
        usernames=usernames,
    )


# Seeders that other parts add (referral clicks and spend events, the search index): each is
# called as seeder(connection, metadata, seeded) after the forum is in place.
EXTRA_SEEDERS: list = []


def seed_search_index(connection: Connection, metadata: sa.MetaData, seeded: Seeded) -> None:
    """Index every seeded post for search, as the write path would have (migration 0004's SQL)."""
    from forum.markup import plain_text
    from forum.search.index import clean_text

    posts_t, threads_t = metadata.tables["posts"], metadata.tables["threads"]
    if connection.dialect.name == "postgresql":
        # As forum.search.index does for each post: the plain text (one UPDATE per distinct
        # body), then the vector from it. Then ANALYZE, as autovacuum would in time: without
        # statistics the planner joins the whole forum before looking at the index.
        sources = connection.execute(sa.select(posts_t.c.body_source).distinct()).scalars()
        connection.execute(
            sa.text("UPDATE posts SET search_text = :plain WHERE body_source = :source"),
            [{"source": source, "plain": clean_text(plain_text(source))} for source in sources],
        )
        connection.exec_driver_sql(
            "UPDATE posts SET search_vector = "
            "setweight(to_tsvector('english', CASE WHEN posts.number = 1 THEN threads.title "
            "ELSE '' END), 'A') || setweight(to_tsvector('english', posts.search_text), 'B') "
            "FROM threads WHERE threads.id = posts.thread_id"
        )
        connection.exec_driver_sql("ANALYZE")
        return
    plain: dict[str, str] = {}
    rows = connection.execute(
        sa.select(posts_t.c.id, posts_t.c.number, posts_t.c.body_source, threads_t.c.title)
        .join(threads_t, threads_t.c.id == posts_t.c.thread_id)
        .order_by(posts_t.c.id)
    ).all()
    insert = sa.text("INSERT INTO post_search (rowid, title, body) VALUES (:id, :title, :body)")
    batch = []
    for post_id, number, source, title in rows:
        if source not in plain:
            plain[source] = clean_text(plain_text(source))
        batch.append(
            {
                "id": post_id,
                "title": clean_text(title) if number == 1 else "",
                "body": plain[source],
            }
        )
        if len(batch) == 5000:
            connection.execute(insert, batch)
            batch = []
    if batch:
        connection.execute(insert, batch)


def seed_referrals(
    connection: Connection,
    metadata: sa.MetaData,
    seeded: Seeded,
    referrers: int = 50,
    clicks: int = 100_000,
    events: int = 200_000,
) -> None:
    """Add the default programs, a link for each of ``referrers`` members, ``clicks`` clicks,
    a referral for every other member, ``events`` payments between members and an API token.

    The running totals (spend balances, each referral's net, event count and last event) are
    computed from the events as the engine would have; no rewards are granted (the bench
    measures recording, not tier payouts).
    """
    from sqlalchemy.orm import Session as OrmSession

    from referrals.programs import setup_default_programs
    from referrals.tokens import create_token

    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=300)
    session = OrmSession(bind=connection)
    programs = setup_default_programs(session, start)
    _, secret = create_token(session, "bench", ["events:write"], start)
    session.flush()
    program_kind = {p.id: p.referee_kind for p in programs}
    program_ids = sorted(program_kind)
    session.close()

    links_t, clicks_t = metadata.tables["referral_links"], metadata.tables["referral_clicks"]
    referrals_t, events_t = metadata.tables["referrals"], metadata.tables["spend_events"]
    balances_t = metadata.tables["spend_balances"]
    members = len(seeded.usernames)
    links = []
    for n in range(1, referrers + 1):
        code = f"ref{n:03d}"
        links.append(
            {
                "id": n,
                "program_id": program_ids[n % len(program_ids)],
                "referrer_id": n,
                "code": code,
                "code_key": code,
                "campaign": None,
                "target": "/",
                "enabled": True,
                "created_at": start,
            }
        )
    _insert(connection, links_t, links)
    seeded.link_codes = [link["code"] for link in links]

    click_rows = []
    for n in range(1, clicks + 1):
        bot = rng.random() < 0.05
        click_rows.append(
            {
                "id": n,
                "link_id": rng.randint(1, referrers),
                "clicked_at": start + timedelta(seconds=n * 200),
                "address_hash": f"{rng.getrandbits(128):032x}",
                "agent_class": "bot" if bot else "desktop",
                "is_bot": bot,
                "bot_reason": "crawler" if bot else None,
                "visitor_id": None,
            }
        )
    _insert(connection, clicks_t, click_rows)

    # Every member who is not a referrer was referred, by a click on a human click's link.
    human = [c for c in click_rows if not c["is_bot"]]
    referrals = {}
    for referee in range(referrers + 1, members + 1):
        click = human[(referee * 97) % len(human)]
        link = links[click["link_id"] - 1]
        referrals[referee] = {
            "id": referee - referrers,
            "program_id": link["program_id"],
            "referrer_id": link["referrer_id"],
            "referee_id": referee,
            "link_id": link["id"],
            "click_id": click["id"],
            "clicked_at": click["clicked_at"],
            "created_at": click["clicked_at"] + timedelta(minutes=5),
            "review_status": "clear",
            "review_reasons": [],
            "net_cents": 0,
            "share_base_cents": 0,
            "share_accrued_cents": 0,
            "rewarded_cents": 0,
            "event_count": 0,
            "last_event_at": None,
            "blocked_tier_ids": [],
        }
    seeded.referee_ids = sorted(referrals)

    balances: dict[tuple[str, str], int] = {}
    event_rows = []
    for n in range(1, events + 1):
        payer = rng.randint(1, members)
        payee = rng.randint(1, members - 1)
        payee += payee >= payer
        occurred = start + timedelta(seconds=n * 120)
        amount = rng.randint(500, 200_000)
        attributed = False
        for member, side in ((payer, "client"), (payee, "freelancer")):
            referral = referrals.get(member)
            if (
                referral is not None
                and program_kind[referral["program_id"]] == side
                and occurred >= referral["clicked_at"]
            ):
                referral["net_cents"] += amount
                referral["event_count"] += 1
                referral["last_event_at"] = occurred
                attributed = True
        key = (f"user:{payer}", f"user:{payee}")
        balances[key] = balances.get(key, 0) + amount
        event_id = f"seed-{n}"
        event_rows.append(
            {
                "id": n,
                "event_id": event_id,
                "body_hash": f"{n:064x}",
                "kind": "payment",
                "occurred_at": occurred,
                "amount_cents": amount,
                "currency": "USD",
                "payer_ref": f"id:{payer}",
                "payee_ref": f"id:{payee}",
                "payer_id": payer,
                "payee_id": payee,
                "attributed": attributed,
                "source": "import",
                "received_at": occurred,
            }
        )
    _insert(connection, referrals_t, list(referrals.values()))
    _insert(connection, events_t, event_rows)
    _insert(
        connection,
        balances_t,
        [
            {"payer_key": a, "payee_key": b, "paid_cents": paid, "refunded_cents": 0}
            for (a, b), paid in balances.items()
        ],
    )
    if connection.dialect.name == "postgresql":
        for table in ("referral_links", "referral_clicks", "referrals", "spend_events"):
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    seeded.api_token = secret


EXTRA_SEEDERS += [seed_search_index, seed_referrals]
