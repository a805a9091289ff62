"""Reading JSON request bodies strictly: RFC 8259 JSON in UTF-8, without what Python's json
module adds to it (NaN and Infinity, duplicate keys where the last silently wins, lone
surrogates that no database or page can encode), nested no deeper than a real body is."""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Our bodies are three levels deep (batch → event → party); anything near this is an attack.
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
# How a surrogate is written in JSON text (any case): the only way one gets into a value.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class InvalidJSON(ValueError):
    """The body is not strict JSON. The message says what is wrong, in words for the client."""


def _refuse_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not a JSON number; send a finite number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJSON(f"The number {text[:30]} is too large: it is not finite.")
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):  # no key twice: the usual case, decided without a loop
        return value
    seen: set[str] = set()
    for key, _item in pairs:
        if key in seen:
            raise InvalidJSON(f"Duplicate key {json.dumps(key)[:80]} in an object; send each once.")
        seen.add(key)
    raise AssertionError("unreachable")  # pragma: no cover


def _check_shape(value: Any, text: str) -> None:
    """Raise InvalidJSON for nesting deeper than MAX_DEPTH or a string with a lone surrogate.

    Iterative, so that no depth of input can exhaust the interpreter's stack here. UTF-8 text
    cannot hold a surrogate itself, so one can only come from a ``\\uD800``–``\\uDFFF``
    escape: without one in the text, only the containers are walked (a batch of events is
    thousands of strings and numbers, and a few hundred objects).
    """
    if _SURROGATE_ESCAPE.search(text) is None:
        level = [value] if isinstance(value, dict | list) else []
        depth = 1
        while level:
            if depth > MAX_DEPTH:
                raise InvalidJSON(f"The JSON is nested too deeply (more than {MAX_DEPTH} levels).")
            children = []
            for item in level:
                children.extend(
                    c
                    for c in (item.values() if isinstance(item, dict) else item)
                    if isinstance(c, dict | list)
                )
            level = children
            depth += 1
        return
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise InvalidJSON(f"The JSON is nested too deeply (more than {MAX_DEPTH} levels).")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str) and _SURROGATE.search(item):
            raise InvalidJSON(
                "A string holds a lone surrogate (\\ud800–\\udfff): not Unicode text."
            )


def loads(data: bytes) -> Any:
    """Return the value of a JSON body; raise InvalidJSON saying what is wrong with it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJSON(f"The body is not valid UTF-8 (at byte {error.start}).") from None
    if not text.strip():
        raise InvalidJSON("The body is empty; send JSON.")
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_object_without_duplicates,
        )
    except InvalidJSON:
        raise
    except RecursionError:
        raise InvalidJSON(
            f"The JSON is nested too deeply (more than {MAX_DEPTH} levels)."
        ) from None
    except json.JSONDecodeError as error:
        raise InvalidJSON(
            f"This is not JSON: {error.msg} (line {error.lineno}, column {error.colno})."
        ) from None
    except ValueError as error:  # an integer beyond Python's limit on digits
        raise InvalidJSON(f"A number has too many digits: {error}.") from None
    _check_shape(value, text)
    return value
