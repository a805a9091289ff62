"""The cases `make bench` measures, their targets, and the table it prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bench.seed import BENCH_PASSWORD, Seeded

MEMORY_LIMIT_MB = 200


@dataclass
class Case:
    name: str
    path: str
    min_ratio: float | None = None
    max_p99_ms: float | None = None
    headers: list[str] = field(default_factory=list)
    post_fields: dict[str, str] | None = None
    unique_field: str = ""
    extra_check: Callable[[object], list[str]] | None = None
    # A wrk Lua script (its `request` function builds each request) instead of a plain GET.
    lua: str | None = None
    # Spend events sent per request: the table then shows events/s (requests/s × this).
    events_per_request: int = 0
    min_events_per_second: float | None = None

    @property
    def target_text(self) -> str:
        parts = []
        if self.min_ratio is not None:
            parts.append(f"ratio ≥ {self.min_ratio:.2f}")
        if self.max_p99_ms is not None:
            parts.append(f"p99 ≤ {self.max_p99_ms:.0f} ms")
        if self.min_events_per_second is not None:
            parts.append(f"≥ {self.min_events_per_second:,.0f} events/s")
        return ", ".join(parts) or "—"

    def judge(self, result) -> None:  # noqa: ANN001
        misses = []
        if result.errors:
            misses.append(f"{result.errors} failed responses")
        if self.min_ratio is not None and result.ratio < self.min_ratio:
            misses.append(f"ratio {result.ratio:.3f} is below {self.min_ratio:.2f}")
        if self.max_p99_ms is not None and result.p99_ms > self.max_p99_ms:
            misses.append(f"p99 {result.p99_ms:.1f} ms is above {self.max_p99_ms:.0f} ms")
        if self.min_events_per_second is not None:
            events = result.requests_per_second * self.events_per_request
            result.notes.append(f"{events:,.0f} events/s")
            if events < self.min_events_per_second:
                misses.append(f"{events:,.0f} events/s is below {self.min_events_per_second:,.0f}")
        if self.extra_check:
            misses += self.extra_check(result)
        result.verdict = "met" if not misses else "MISSED: " + "; ".join(misses)


# Other parts add their cases here: each is called as builder(base_url, seeded) -> [Case].
EXTRA_CASES: list[Callable[[str, Seeded], list[Case]]] = []


def _signed_in(base: str, username: str) -> tuple[str, str]:
    from bench.run import Session

    session = Session(base, username, BENCH_PASSWORD)
    token = session.csrf(f"{base}/t/2")  # stores the CSRF secret in the session cookie
    return session.cookie_header(), token


SPEND_BATCH = 500


def _click_script(codes: list[str]) -> str:
    """Clicks from a browser on every seeded link, each from its own address.

    The app runs behind one trusted proxy in the bench (TRUSTED_PROXIES=1), as in production,
    so X-Forwarded-For names the visitor: every click is a person's, recorded and counted, and
    the flood check (clicks from one address in a minute) runs as it would for real visitors.
    """
    names = ", ".join(f'"{c}"' for c in codes)
    return f"""
local codes = {{{names}}}
local counter = 0
local tid = 0
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
init = function(args) math.randomseed(os.time() + (tid or 0)) end
request = function()
  counter = counter + 1
  local high = math.floor(counter / 256) % 256
  local address = string.format("10.%d.%d.%d", tid or 0, high, counter % 256)
  local headers = {{}}
  headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
  headers["X-Forwarded-For"] = address
  return wrk.format("GET", "/r/" .. codes[(counter % #codes) + 1], headers, nil)
end
"""


def _distinct_searches() -> list[str]:
    """Searches for words the seeded posts hold: each word, and pairs from one body."""
    import re

    from bench.seed import BODIES, TITLES

    searches: list[str] = []
    for text in [*BODIES, *TITLES]:
        words = sorted({w.lower() for w in re.findall(r"[A-Za-z]{4,}", text)})
        searches += [w for w in words if w not in searches]
        searches += [f"{a}+{b}" for a, b in zip(words, words[1:], strict=False)]
    return searches


def _distinct_searches_script() -> str:
    """Each request a search not made before in the run: query × order × page (1 to 20)."""
    searches = ", ".join(f'"{q}"' for q in _distinct_searches())
    return f"""
local searches = {{{searches}}}
local orders = {{"relevance", "newest"}}
local counter = 0
local tid = 0
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
request = function()
  counter = counter + 1
  local n = counter * 4 + (tid or 0)
  local q = searches[(n % #searches) + 1]
  local order = orders[(math.floor(n / #searches) % 2) + 1]
  local page = math.floor(n / (#searches * 2)) % 20 + 1
  return wrk.format("GET", "/search?q=" .. q .. "&sort=" .. order .. "&page=" .. page)
end
"""


def _spend_script(seeded: Seeded, batch: int) -> str:
    """Unique payments between seeded members (referees among them), one object or a batch."""
    members = len(seeded.usernames)
    many = "true" if batch else "false"
    return f"""
local counter = 0
local tid = 0
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
init = function(args) math.randomseed(os.time() * 1000 + (tid or 0)) end
local run = tostring(os.time()) .. tostring(math.random(1, 1000000))
-- Now: after the seeded referrals' clicks, so the events count into their running totals
-- (a fixed date in January came before every seeded click, and nothing was counted).
local occurred = os.date("!%Y-%m-%dT%H:%M:%S+00:00")
local function event()
  counter = counter + 1
  local payer = math.random(1, {members})
  local payee = math.random(1, {members} - 1)
  if payee >= payer then payee = payee + 1 end
  return string.format('{{"event_id":"bench-%s-%d-%d",'
    .. '"occurred_at":"%s","kind":"payment",'
    .. '"payer":{{"id":%d}},"payee":{{"id":%d}},"amount_cents":%d,"currency":"USD"}}',
    run, tid or 0, counter, occurred, payer, payee, math.random(100, 100000))
end
request = function()
  local body
  if {many} then
    local parts = {{}}
    for i = 1, {batch} do parts[i] = event() end
    body = "[" .. table.concat(parts, ",") .. "]"
  else
    body = event()
  end
  local headers = {{}}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer {seeded.api_token}"
  return wrk.format("POST", "/api/v1/spend-events", headers, body)
end
"""


def build_cases(base: str, seeded: Seeded) -> list[Case]:
    """Return the cases of the issue, in the order they are run."""
    cookie, token = _signed_in(base, seeded.member_username)
    thread = f"/t/{seeded.long_thread_id}"
    deep = f"{thread}?page=100"
    page_one: dict[str, float] = {}

    def remember_page_one(result) -> list[str]:  # noqa: ANN001
        page_one[result.name.split(",")[0]] = result.requests_per_second
        return []

    def no_slower_than_page_one(result) -> list[str]:  # noqa: ANN001
        first = page_one.get(result.name.split(",")[0])
        if first and result.requests_per_second * 1.2 < first:
            return [f"page 100 is {first / result.requests_per_second:.2f}× slower than page 1"]
        return []

    cases = [
        Case("board list (home)", "/", min_ratio=0.25),
        Case("board page 1", f"/b/{seeded.board_slug}", min_ratio=0.20),
        Case(
            f"board page {seeded.board_pages} (deep)",
            f"/b/{seeded.board_slug}?page={seeded.board_pages}",
            min_ratio=0.20,
        ),
        Case("thread guest, page 1", thread, 0.20, 30, extra_check=remember_page_one),
        Case("thread guest, page 100", deep, 0.20, 30, extra_check=no_slower_than_page_one),
        Case(
            "thread member, page 1",
            thread,
            0.20,
            30,
            headers=[cookie],
            extra_check=remember_page_one,
        ),
        Case(
            "thread member, page 100",
            deep,
            0.20,
            30,
            headers=[cookie],
            extra_check=no_slower_than_page_one,
        ),
        Case(
            "post a reply (signed in)",
            "/t/2/reply",
            min_ratio=0.10,
            headers=[cookie],
            post_fields={"csrf_token": token, "body": "Benchmark reply with **Markdown**."},
            unique_field="submission_key",
        ),
        Case(
            "/r/<code> click (recorded)",
            "/r/" + seeded.link_codes[0],
            min_ratio=0.50,
            lua=_click_script(seeded.link_codes),
        ),
        Case(
            "spend event, single",
            "/api/v1/spend-events",
            min_ratio=0.15,
            lua=_spend_script(seeded, 0),
        ),
        Case(
            f"spend events, batches of {SPEND_BATCH}",
            "/api/v1/spend-events",
            lua=_spend_script(seeded, SPEND_BATCH),
            events_per_request=SPEND_BATCH,
            min_events_per_second=10_000,
        ),
        Case("search (two words)", "/search?q=milestone+payments", max_p99_ms=50),
        Case("search (phrase, newest first)", '/search?q="service+fee"&sort=newest', max_p99_ms=50),
        # The two above repeat one search, which the results cache answers after the first
        # time; this one never repeats within a run, so every request is a real search.
        Case(
            "search (distinct, uncached)",
            "/search",
            max_p99_ms=50,
            lua=_distinct_searches_script(),
        ),
    ]
    for builder in EXTRA_CASES:
        cases += builder(base, seeded)
    return cases


def report(  # noqa: ANN001
    results: list,
    database: str,
    rss_mb: list[float],
    when: datetime,
    settings: str = "gunicorn 2 sync workers",
) -> str:
    """Return the results as a Markdown table with a verdict per case."""
    lines = [
        f"## {when:%Y-%m-%d %H:%M} UTC — {database}, {settings}, wrk 2 threads",
        "",
        "| case | req/s | hello req/s | ratio | p50 ms | p99 ms | target | verdict |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.requests_per_second:,.0f} | {r.hello_rps:,.0f} | {r.ratio:.2f} | "
            f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.target} | {r.verdict} |"
        )
    worst = max(rss_mb, default=0.0)
    verdict = "met" if worst < MEMORY_LIMIT_MB else f"MISSED: above {MEMORY_LIMIT_MB} MB"
    lines += [
        "",
        f"Worker resident memory after the run: "
        f"{', '.join(f'{m:.0f} MB' for m in rss_mb)} ({verdict}).",
    ]
    return "\n".join(lines)
