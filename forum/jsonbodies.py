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
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise InvalidJSON(f"Duplicate key {json.dumps(key)[:80]} in an object; send each once.")
        value[key] = item
    return value


def _check_shape(value: Any) -> None:
    """Raise InvalidJSON for nesting deeper than MAX_DEPTH or a string with a lone surrogate.

    Iterative, so that no depth of input can exhaust the interpreter's stack here.
    """
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
    _check_shape(value)
    return value
