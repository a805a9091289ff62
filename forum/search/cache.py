"""Search results kept for the next identical search, until searchable content changes.

A key is made of everything a page of results depends on: the search generation
(forum.search.generation, incremented by every committed change to searchable content), the
viewer's visibility class (members and guests see the same results; moderators also see
removed posts and moderators' boards), the parsed query, the filters, the page and its size.
So a change is never served stale (the generation moved on), and a moderator's results
never reach a member (another class, another key). Nothing is invalidated.

Storage is the fragments' (forum.fragments): a bounded LRU in each process's memory, or
Redis when CACHE_REDIS_URL is set (shared by every process; entries expire). SEARCH_CACHE
false turns it off (bench/search.py measures searches without it).
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING

from flask import current_app, has_app_context
from markupsafe import Markup

from forum.fragments import MemoryStore, RedisStore, key_of

if TYPE_CHECKING:
    from forum.search.service import SearchResults

_EXTENSION = "search_cache"


def _store() -> MemoryStore | RedisStore | None:
    if not has_app_context() or not current_app.config.get("SEARCH_CACHE", True):
        return None
    store = current_app.extensions.get(_EXTENSION)
    if store is None:
        url = current_app.config.get("CACHE_REDIS_URL")
        if url:
            store = RedisStore(url)
        else:
            # A quarter of the fragments' budget: a page of results is a few kilobytes.
            store = MemoryStore(int(current_app.config.get("CACHE_MAX_BYTES", 32 << 20)) // 4)
        current_app.extensions[_EXTENSION] = store
    return store


def enabled() -> bool:
    return _store() is not None


def key(generation: int, staff: bool, *parts: object) -> str:
    """Return the cache key of one page of results."""
    return key_of("search", generation, "staff" if staff else "public", *parts)


def get(cache_key: str) -> SearchResults | None:
    store = _store()
    stored = store.get(cache_key) if store is not None else None
    return _load(stored) if stored is not None else None


def put(cache_key: str, results: SearchResults) -> None:
    store = _store()
    if store is not None:
        store.set(cache_key, dumps(results))


def dumps(results: SearchResults) -> str:
    # Field by field, not dataclasses.asdict: asdict deep-copies every value first, which
    # took a millisecond for a page of twenty hits (and every search that is not a hit
    # stores its results).
    data = {field.name: getattr(results, field.name) for field in fields(results)}
    data["hits"] = [
        {
            **{field.name: getattr(hit, field.name) for field in fields(hit)},
            "title_html": str(hit.title_html),
            "snippet_html": str(hit.snippet_html),
            "created_at": hit.created_at.isoformat(),
        }
        for hit in results.hits
    ]
    return json.dumps(data)


def _load(stored: str) -> SearchResults:
    from forum.search.service import SearchHit, SearchResults

    data = json.loads(stored)
    hits = [
        SearchHit(
            **{
                **hit,
                # Stored as made by service.highlight: escaped, with <mark> only.
                "title_html": Markup(hit["title_html"]),  # noqa: S704
                "snippet_html": Markup(hit["snippet_html"]),  # noqa: S704
                "created_at": datetime.fromisoformat(hit["created_at"]),
            }
        )
        for hit in data.pop("hits")
    ]
    return SearchResults(hits=hits, **data)
