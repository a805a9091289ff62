"""The stress harness: a real gunicorn with several worker processes on a free 127.0.0.1 port,
HTTP clients that keep their own cookies, threads released together, and commands run as
subprocesses that a test can kill. Only ever talks to 127.0.0.1, with bounded counts and
time."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
# What every request and thread may take at most: the suite must stop by itself.
REQUEST_TIMEOUT = 60
THREAD_TIMEOUT = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def server_environment(database_url: str) -> dict[str, str]:
    """Return the environment for the server and the commands: the stress schema, a fixed
    secret (every process must share it), cheap password hashing, per-process rate limits."""
    return {
        **os.environ,
        "TOWNHALL_ENV": "development",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "stress-secret-key",
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Http:
    """One visitor: a new connection per request (as a browser behind a balancer might), and
    the cookies the server set."""

    base_url: str
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        parts = urllib.parse.urlsplit(self.base_url)
        assert parts.hostname == HOST, "stress traffic goes to 127.0.0.1 only"
        connection = http.client.HTTPConnection(HOST, parts.port, timeout=REQUEST_TIMEOUT)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower() or "expires=thu, 01 jan 1970" in header.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return Reply(response.status, response.headers, data)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post_json(self, path: str, value: Any, token: str) -> Reply:
        return self.request(
            "POST",
            path,
            json.dumps(value).encode(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )

    def post_form(self, path: str, data: dict[str, str]) -> Reply:
        return self.request(
            "POST",
            path,
            urllib.parse.urlencode(data).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )

    def csrf_token(self, path: str) -> str:
        page = self.get(path)
        match = CSRF.search(page.text)
        assert page.status == 200 and match, (path, page.status, page.text[:300])
        return match.group(1)

    def sign_in(self, username: str, password: str) -> Http:
        token = self.csrf_token("/sign-in")
        reply = self.post_form(
            "/sign-in", {"csrf_token": token, "login": username, "password": password}
        )
        assert reply.status == 302, (username, reply.status, reply.text[:300])
        return self


def in_parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0) … work(count - 1) in threads released together; return the results in
    order, an exception in place of its result."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - the test looks at it
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT)
        assert not thread.is_alive(), "a client thread did not finish in time"
    return results


class Server:
    """gunicorn serving ``forum:create_app()`` on a free port, until ``stop``."""

    def __init__(self, database_url: str, workers: int, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.workers = workers
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--bind",
                f"{HOST}:{self.port}",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                "forum:create_app()",
            ],  # fmt: skip
            cwd=PROJECT_ROOT,
            env=server_environment(database_url),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until_ready()

    def wait_until_ready(self, seconds: float = 60) -> None:
        """Return once every worker answers; raise if the server does not come up in time."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gunicorn exited: {self.log_tail()}"
            if len(self.worker_pids()) == self.workers:
                try:
                    if Http(self.base_url).get("/api/v1/openapi.json").status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn did not start: {self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """Return the pids of the master's live worker processes."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def log_tail(self, lines: int = 40) -> str:
        if not self._log.closed:
            self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def errors_logged(self) -> list[str]:
        """Return the log lines that report an unhandled error (a 500) in the app."""
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if "unhandled error" in line]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log.close()


def start_command(
    database_url: str, *args: str, application_name: str = "townhall-stress"
) -> subprocess.Popen:
    """Start ``flask --app forum ARGS`` against the stress schema and return the process.

    Its database connections carry ``application_name`` (libpq reads PGAPPNAME), so a test
    can find them in pg_stat_activity.
    """
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "flask", "--app", "forum", *args],
        cwd=PROJECT_ROOT,
        env={**server_environment(database_url), "PGAPPNAME": application_name},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds; raise AssertionError naming ``what`` if it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Tally:
    """Requests and rounds each stress test made, for the summary at the end of the run."""

    rows: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, test: str, **counts: int) -> None:
        row = self.rows.setdefault(test, {})
        for key, value in counts.items():
            row[key] = row.get(key, 0) + value

    def lines(self) -> Iterator[str]:
        for test, counts in self.rows.items():
            yield f"{test}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
