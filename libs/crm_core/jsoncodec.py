"""JSON in and out, fast: orjson where it gives exactly json's values, json where it would not.

Everything here writes compact JSON with keys in insertion order; ids as strings, datetimes in
UTC with a Z, dates ISO, decimals as strings (the API's and the events' conventions).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import uuid
from decimal import Decimal
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


# orjson writes datetimes and dataclasses itself unless told not to: datetimes must go through
# _default (UTC with a Z, like every other JSON here) and a dataclass is no JSON value.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_bytes(value: Any) -> bytes:
    """Compact JSON as UTF-8, keys in insertion order: orjson (5-10x faster than json), falling back
    to json for what orjson refuses (integers beyond 64 bits, non-string keys, lone surrogates),
    which also raises json's TypeError for what neither can write. Non-ASCII text is written as
    UTF-8 rather than \\u escapes: the same JSON values."""
    try:
        return orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        pass
    # Non-ASCII as UTF-8 here too, so a value reads the same whichever serialiser wrote it (bulk
    # event templates splice pieces written by both); \u escapes only for lone surrogates.
    text = json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, default=_default, separators=(",", ":")).encode()


# orjson reads an integer beyond 64 bits as a float (1e+29): any run of 19+ digits goes to json.
_LONG_DIGITS_BYTES, _LONG_DIGITS_TEXT = re.compile(rb"[0-9]{19}"), re.compile(r"[0-9]{19}")


def loads(raw: bytes | str) -> Any:
    """json.loads, through orjson where that gives the same values (what the database hands back
    as JSON columns: no NaN, no lone surrogates there; json reads whatever orjson refuses)."""
    long_digits = _LONG_DIGITS_BYTES if isinstance(raw, bytes | bytearray | memoryview) else _LONG_DIGITS_TEXT
    if len(raw) < 19 or not long_digits.search(raw):  # type: ignore[arg-type]
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


@functools.cache
def psycopg_json_loader() -> type:
    """A psycopg Loader for json and jsonb in text format doing `loads` in its own `load`: one
    Python call per value instead of three (psycopg's loader, then `loads`, then orjson), over
    the buffer psycopg hands over (orjson and re read memoryviews; json gets bytes)."""
    from psycopg.adapt import Loader

    long_digits, fast, slow, error = _LONG_DIGITS_BYTES, orjson.loads, json.loads, orjson.JSONDecodeError

    class OrjsonLoader(Loader):
        def load(self, data: Any) -> Any:
            if len(data) < 19 or not long_digits.search(data):
                try:
                    return fast(data)
                except error:
                    pass
            return slow(bytes(data))

    return OrjsonLoader
