"""`make bench`: seed a large community, serve it and a bare Flask app, compare them.

Both apps run under gunicorn with the same settings; wrk drives each case and then the
hello-world app right after it, so every number is a ratio measured in the same minute.
Each case first runs for a second unmeasured (``WARM_UP_SECONDS``), as does hello-world: the
numbers are a running server's, not its first requests' (a worker's first search page fills
its caches and compiles its template, which put 50–100 ms into the p99 of a cached search).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path

import sqlalchemy as sa

from bench.seed import Seeded

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
# Several checkouts can bench on one PostgreSQL server, each in its own schema.
WARM_UP_SECONDS = 1
BENCH_SCHEMA = os.environ.get("BENCH_SCHEMA", "townhall_bench")
if not BENCH_SCHEMA.isidentifier():
    raise SystemExit(f"BENCH_SCHEMA must be a plain identifier, not {BENCH_SCHEMA!r}")
GUNICORN_ARGS = [
    "--workers",
    "2",
    "--worker-class",
    "sync",
    "--backlog",
    "256",
    "--keep-alive",
    "5",
    "--log-level",
    "warning",
]

# The README's production profile (per machine of 2 cores): see "Running in production".
PRODUCTION_GUNICORN_ARGS = [
    "--workers",
    "2",
    "--worker-class",
    "gthread",
    "--threads",
    "4",
    "--timeout",
    "30",
    "--graceful-timeout",
    "30",
    "--keep-alive",
    "5",
    "--max-requests",
    "5000",
    "--max-requests-jitter",
    "500",
    "--log-level",
    "warning",
]


@dataclass
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    hello_rps: float
    target: str = ""
    verdict: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.requests_per_second / self.hello_rps if self.hello_rps else 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()  # noqa: S310 - our own server
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


class Server:
    """A gunicorn process tree for one app."""

    def __init__(self, app: str, env: dict[str, str], extra: list[str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            *GUNICORN_ARGS,
            *(extra or []),
            "--bind",
            f"127.0.0.1:{self.port}",
            app,
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603

    def worker_rss_mb(self) -> list[float]:
        children = subprocess.run(  # noqa: S603
            ["pgrep", "-P", str(self.process.pid)],
            capture_output=True,
            text=True,
            check=False,  # noqa: S607
        ).stdout.split()
        sizes = []
        for pid in children:
            status = Path(f"/proc/{pid}/status")
            if status.exists():
                match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
                if match:
                    sizes.append(int(match.group(1)) / 1024)
        return sizes

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def wrk(url: str, seconds: int, connections: int, headers: list[str], script: Path | None):  # noqa: ANN201
    """Run wrk; return (requests/s, p50 ms, p99 ms, non-2xx/3xx count)."""
    command = ["wrk", "--latency", "--timeout", "30s", "-t", "2", "-c", str(connections)]
    command += ["-d", f"{seconds}s"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))

    def percentile(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(errors_match.group(1)) if errors_match else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return rps, percentile("50"), percentile("99"), errors


class Session:
    """A signed-in member: cookies for wrk and a CSRF token read from a real form."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        # Sign in as wrk will then browse: with no User-Agent (urllib's own would differ from
        # wrk's none, and Flask-Login's session protection would then mark the session not
        # fresh and re-sign its cookie on every response, which a browser pays once).
        self.opener.addheaders = []
        token = self.csrf(f"{base}/sign-in")
        data = urllib.parse.urlencode(
            {"csrf_token": token, "login": username, "password": password}
        )
        self.opener.open(f"{base}/sign-in", data.encode()).read()
        if not any(c.name == "session" for c in self.jar):
            raise RuntimeError("bench member could not sign in")

    def csrf(self, url: str) -> str:
        html = self.opener.open(url).read().decode()
        return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)

    def cookie_header(self) -> str:
        return "Cookie: " + "; ".join(f"{c.name}={c.value}" for c in self.jar)


def _post_script(path: str, fields: dict[str, str], unique_field: str) -> Path:
    body = urllib.parse.urlencode(fields)
    script = OUT / f"post-{abs(hash(path))}.lua"
    script.write_text(
        f"""
local counter = 0
local thread_id = 0
setup = function(thread) thread_id = thread_id + 1; thread:set("tid", thread_id) end
init = function(args) math.randomseed(os.time() + (tid or 0)) end
request = function()
  counter = counter + 1
  local key = string.format("%d-%d-%d", math.random(1, 2000000000), tid or 0, counter)
  local body = "{body}&{unique_field}=" .. key
  -- nil headers: wrk.format then sends wrk.headers, which hold the -H cookie
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  return wrk.format("POST", "{path}", nil, body)
end
"""
    )
    return script


def _seeded_record(kind: str) -> Path:
    return OUT / f"seeded-{kind}.json"


def _fresh_database(kind: str, *, reuse: bool) -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        path = OUT / "bench.sqlite3"
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    base = os.environ["DATABASE_URL"]
    if not reuse:
        engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {BENCH_SCHEMA} CASCADE")
            connection.exec_driver_sql(f"CREATE SCHEMA {BENCH_SCHEMA}")
        engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{BENCH_SCHEMA}"


def prepare(database_url: str, env: dict[str, str]) -> object:
    """Migrate and seed the database; return what the cases need."""
    from flask_migrate import upgrade

    from bench import seed
    from forum import create_app
    from forum.extensions import db

    os.environ.update(env)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade()
        started = time.monotonic()
        with db.engine.begin() as connection:
            seeded = seed.seed_forum(connection, db.metadata)
            for extra in seed.EXTRA_SEEDERS:
                extra(connection, db.metadata, seeded)
        print(f"seeded in {time.monotonic() - started:.0f}s", flush=True)
        if db.engine.dialect.name == "postgresql":
            # Fresh statistics and no dead rows from the seed's updates, as autovacuum would
            # leave them on a live server (a server may run without it).
            # Then a checkpoint: the seed's gigabyte of dirty pages is written now rather than
            # by the background checkpointer during the first cases (in one run board pages
            # measured 0.11 right after the seed and 0.18 in a rerun).
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
                conn.exec_driver_sql("CHECKPOINT")
        else:
            # The seed's pages are copied from the WAL into the database file now, not by the
            # first cases' commits.
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    return seeded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per case")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument("--only", help="run only cases whose name contains this")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database an earlier run seeded (quicker while tuning; the numbers in "
        "RESULTS.md come from fresh runs)",
    )
    parser.add_argument(
        "--profile",
        choices=["bench", "production"],
        default="bench",
        help="gunicorn settings for both apps: the issue's 2 sync workers, or the README's "
        "production profile (gthread workers with threads, timeouts)",
    )
    args = parser.parse_args()
    if args.profile == "production":
        GUNICORN_ARGS[:] = PRODUCTION_GUNICORN_ARGS
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    kind = args.database or ("postgresql" if os.environ.get("DATABASE_URL") else "sqlite")
    record = _seeded_record(kind)
    reuse = args.reuse and record.exists()
    database_url = _fresh_database(kind, reuse=reuse)
    # One trusted proxy in front, as in production: the click case sends X-Forwarded-For.
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-secret",
        "TRUSTED_PROXIES": "1",
        # One member posts hundreds of replies a second: time the posting, not the 429 page.
        "RATELIMIT_ENABLED": "false",
    }
    if reuse:
        os.environ.update(env)
        seeded = Seeded(**json.loads(record.read_text()))
    else:
        record.unlink(missing_ok=True)
        seeded = prepare(database_url, env)
        record.write_text(json.dumps(dataclasses.asdict(seeded)))

    from bench.cases import build_cases, report

    app_server = Server("forum:create_app()", env)
    hello_server = Server("bench.hello:app", env)
    try:
        _wait_for(app_server.url + "/")
        _wait_for(hello_server.url + "/")
        results = []
        for case in build_cases(app_server.url, seeded):
            if args.only and args.only not in case.name:
                continue
            script = None
            headers = list(case.headers)
            if case.post_fields is not None:
                script = _post_script(case.path, case.post_fields, case.unique_field)
            elif case.lua is not None:
                script = OUT / f"case-{len(results)}.lua"
                script.write_text(case.lua)
            wrk(app_server.url + case.path, WARM_UP_SECONDS, args.connections, headers, script)
            rps, p50, p99, errors = wrk(
                app_server.url + case.path, args.seconds, args.connections, headers, script
            )
            wrk(hello_server.url + "/", WARM_UP_SECONDS, args.connections, [], None)
            hello_rps, _, _, _ = wrk(
                hello_server.url + "/", args.seconds, args.connections, [], None
            )
            result = Result(case.name, rps, p50, p99, errors, hello_rps, case.target_text)
            case.judge(result)
            results.append(result)
            print(f"  {case.name}: {rps:.0f} req/s (hello {hello_rps:.0f})", flush=True)
        rss = app_server.worker_rss_mb()
        settings = (
            "gunicorn 2 sync workers"
            if args.profile == "bench"
            else "production profile (gunicorn 2 gthread workers × 4 threads)"
        )
        print(report(results, kind, rss, datetime.now(UTC), settings))
    finally:
        app_server.stop()
        hello_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
