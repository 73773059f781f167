"""JSON and text that every store can hold: the checks the shared parsing layer applies to input.

PostgreSQL text and jsonb cannot hold U+0000, and no driver can encode a lone surrogate
("\\ud800", which Python's json accepts) as UTF-8; both once reached the database and answered
500. Input is checked once here, as it is parsed, so the answer is a 4xx naming the field.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 64  # objects and arrays inside each other; no request of ours needs more
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class JsonSyntaxError(ValueError):
    """Not JSON we accept: malformed, NaN or Infinity, or nested too deeply."""


class BadText(ValueError):
    """A string (or object key) that no store can hold, at `path` ("field.sub", "items.0.name")."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored, or None when it can."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "Contains a NUL character (\\u0000), which text cannot hold."
    return f"Contains a lone surrogate (\\u{ord(found.group()):04x}); send valid UTF-8 text."


def printable(name: str) -> str:
    """A field name fit to appear in an answer, bad characters escaped (`a\\u0000b`)."""
    return _BAD_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", name)


def check_json(data: Any, *, path: str = "", max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise BadText for the first unstorable string or key, JsonSyntaxError past `max_depth`.

    Iterative, so a deep document costs no recursion (json.loads itself stops at Python's limit).
    """
    stack: list[tuple[Any, str, int]] = [(data, path, 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if (problem := text_problem(value)) is not None:
                raise BadText(where or "_body", problem)
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                raise JsonSyntaxError(f"nested more than {max_depth} levels deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and (problem := text_problem(key)) is not None:
                    raise BadText(f"{where}.{printable(key)}" if where else printable(key), f"The field name: {problem}")
                stack.append((item, f"{where}.{key}" if where else str(key), depth + 1))


def _no_constant(name: str) -> Any:
    raise JsonSyntaxError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonSyntaxError(f"the number {text[:40]} is too large")
    return value


def decode_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads that refuses what JSON forbids or no store can hold (see check_json).

    JsonSyntaxError for malformed input, BadText (naming the field) for unstorable text.
    """
    try:
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise JsonSyntaxError(f"nested more than {max_depth} levels deep") from exc
    except JsonSyntaxError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, bad UTF-8, an int of 5,000 digits
        raise JsonSyntaxError(str(exc)) from exc
    check_json(data, max_depth=max_depth)
    return data
