"""Rendered fragments of pages, cached under keys made of everything they show.

A key is a digest of every value the fragment's template reads (post versions, kudos counts,
removals, authors' badges, the viewer's role, suspension and kudos, the session's CSRF
secret), so a change to any of them is a different key: nothing is invalidated, and nothing
stale or meant for another viewer can be served. Storage is a bounded LRU in each process's
memory, or Redis when CACHE_REDIS_URL is set (shared by every process; entries expire).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app

log = logging.getLogger(__name__)

REDIS_TTL_SECONDS = 3600

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc_time(seconds: float, microsecond: int) -> datetime:
    """The UTC time ``_KeyPickler`` wrote as ``seconds`` and ``microsecond`` (never read back:
    keys are only compared, but a pickle names a function that could)."""
    whole = round(seconds - microsecond / 1_000_000)
    return _EPOCH + timedelta(seconds=whole, microseconds=microsecond)


class _KeyPickler(pickle.Pickler):
    """Pickles as ``pickle.dumps`` does, but a UTC time (every time read from the database
    is one) as its instant: seconds since the epoch and its microseconds. Pickling a
    datetime as usual cost about 1 µs, most of a page of rows' key; this is exact as well
    (two UTC times with the same microseconds differ by whole seconds, which a float of
    the seconds holds apart for any date of the calendar)."""

    def reducer_override(self, obj: object) -> object:
        if type(obj) is datetime and obj.tzinfo is UTC:
            return (_utc_time, (obj.timestamp(), obj.microsecond))
        return NotImplemented


class _Digesting:
    """A file for the pickler that feeds what it writes to a digest."""

    __slots__ = ("write",)

    def __init__(self, digest: Any) -> None:
        self.write = digest.update


def key_of(kind: str, *parts: object) -> str:
    """Return the cache key of a fragment from the values it shows (plain data: strings,
    numbers, times, tuples, lists, dicts, dataclasses).

    The values are pickled, not repr'd: about three times quicker for a page of posts, and
    as exact (equal values may pickle differently, which only misses the cache; different
    values never pickle the same)."""
    digest = hashlib.blake2b(digest_size=20)
    _KeyPickler(_Digesting(digest), 5).dump(parts)
    return f"townhall:fragment:{kind}:" + digest.hexdigest()


class MemoryStore:
    """Least recently used fragments, at most ``max_bytes`` of them."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def set(self, key: str, value: str) -> None:
        if len(value) > self.max_bytes // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= len(old)
            self._items[key] = value
            self.size += len(value)
            while self.size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped)


class RedisStore:
    """Fragments in Redis, shared by every process; a Redis outage only costs renders."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)

    def get(self, key: str) -> str | None:
        try:
            value = self.client.get(key)
        except Exception:  # noqa: BLE001 - render instead
            log.warning("fragment cache unavailable", exc_info=True)
            return None
        return value.decode() if value is not None else None

    def set(self, key: str, value: str) -> None:
        try:
            self.client.set(key, value.encode(), ex=REDIS_TTL_SECONDS)
        except Exception:  # noqa: BLE001 - the next request renders again
            log.warning("fragment cache unavailable", exc_info=True)


def cached(key: str, render: Callable[[], str]) -> str:
    """Return the fragment stored under ``key``, rendering and storing it when missing."""
    store = current_app.extensions["fragments"]
    html = store.get(key)
    if html is None:
        html = render()
        store.set(key, html)
    return html


def init_app(app: Flask) -> None:
    url = app.config.get("CACHE_REDIS_URL")
    if url:
        app.extensions["fragments"] = RedisStore(url)
    else:
        app.extensions["fragments"] = MemoryStore(int(app.config.get("CACHE_MAX_BYTES", 32 << 20)))
