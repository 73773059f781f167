"""crm_core.jsoncodec gives json's values (the path it replaces) on every kind of input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import uuid
from typing import Any

import pytest

from crm_core.jsoncodec import _default, dumps_bytes, loads
from crm_events.envelope import dumps


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


VALUES: list[Any] = [
    {"id": uuid.UUID(int=7), "at": dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
     "naive": dt.datetime(2026, 1, 2, 3, 4, 5), "utc": dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "day": dt.date(2026, 2, 28),
     "money": decimal.Decimal("12.50"), "nested": [{"z": 1, "a": [None, True, False]}], "text": "Zoë «»\u2028 \x00 \"q\"",
     "float": 0.1, "neg": -0.0, "big": 2**63 - 1, "huge": 10**30, "e": 1e300, "enum": Colour.RED, "level": Level.HIGH},
    {"surrogate": "\ud800"},  # orjson refuses, json escapes
    {1: "non-string key", None: "x"},
    [],
    "plain",
    12345678901234567890123,
    {"t": (1, 2)},
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_gives_the_same_json_values_and_key_order(value: Any) -> None:
    expected = json.dumps(value, default=_default, separators=(",", ":"))
    got = dumps_bytes(value)
    assert json.loads(got) == json.loads(expected)
    assert dumps(value) == got.decode()
    if isinstance(value, dict):
        assert list(json.loads(got)) == list(json.loads(expected))


@pytest.mark.parametrize("bad", [object(), {"x": {1, 2}}, {"d": dataclasses.make_dataclass("D", ["a"])(1)}])
def test_dumps_refuses_what_json_refuses(bad: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(bad, default=_default)
    with pytest.raises(TypeError):
        dumps_bytes(bad)


@pytest.mark.parametrize("raw", [
    '{"a": 1, "b": [1.5, -0.0, 1e300, true, null], "c": "Zo\\u00eb \\ud800", "d": {"e": "x"}}',
    '{"int": 100000000000000000000000000000, "neg": -9223372036854775809, "ok": 9223372036854775807}',
    '{"phone": "1234567890123456789012"}', '1e400', '[NaN, Infinity]', '{"a": 1, "a": 2}', '"\\u0000"', "[]",
])
def test_loads_gives_json_values(raw: str) -> None:
    expected = json.loads(raw)
    for given in (raw, raw.encode()):
        got = loads(given)
        assert repr(got) == repr(expected)  # types too: an int stays an int


@pytest.mark.parametrize("raw", [
    '{"a": 1, "b": [1.5, -0.0, 1e300, true, null], "c": "Zo\\u00eb \\ud800", "d": {"e": "x"}}',
    '{"int": 100000000000000000000000000000, "neg": -9223372036854775809, "ok": 9223372036854775807}',
    '{"phone": "1234567890123456789012"}', '1e400', '[NaN, Infinity]', '{"a": 1, "a": 2}', '"\\u0000"', "[]",
])
def test_psycopg_loader_gives_loads_values(raw: str) -> None:
    """The JSON columns' loader (registered on PostgreSQL connections) reads what loads reads, from
    the bytes or the memoryview psycopg hands it."""
    from psycopg.postgres import types

    from crm_core.jsoncodec import psycopg_json_loader

    loader = psycopg_json_loader()(types["jsonb"].oid)
    for given in (raw.encode(), memoryview(raw.encode()), bytearray(raw.encode())):
        assert repr(loader.load(given)) == repr(loads(raw))
