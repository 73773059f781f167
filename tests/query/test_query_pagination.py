"""Keyset pagination over any sort expression: custom properties, NULLs last, stable cursors."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest
from query_support import Item, insert_rows, make_rows, registry, sqlite_engine
from sqlalchemy import Boolean, Date, DateTime, Engine, Float, Integer, Numeric, String, Uuid, column, select
from sqlalchemy.orm import Session

from crm_core.errors import BadRequest
from crm_http import pagination
from crm_http.pagination import SortKey, decode_cursor, encode_cursor, paginate
from crm_query import FieldRegistry, column_field, parse_sort

SORTS = ["n", "-n", "price", "-price", "note", "-note", "flag", "-flag", "at", "-at", "plan", "due",
         "score,-name", "-score,name", "amount", "-ratio", "seen_at", "-seen_at", "born", "ref", "-stage,n", "active",
         "mail", "pid", "-id", "email"]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("sqlite_items" if request.param == "sqlite" else "pg_items")


def keys_for(sort: str) -> list[SortKey]:
    return parse_sort(sort, registry(), "-id", registry()["id"])


def walk(session: Session, keys: list[SortKey], limit: int) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        page, cursor = paginate(session, select(Item), keys, limit, cursor)
        seen.extend(r.id for r in page)
        if cursor is None:
            return seen


def full_order(session: Session, keys: list[SortKey]) -> list[int]:
    order = [(k.column.desc() if k.descending else k.column.asc()).nulls_last() for k in keys]
    return list(session.scalars(select(Item.id).order_by(*order)))


@pytest.mark.parametrize("sort", SORTS)
def test_pages_visit_every_row_once_in_order(engine: Engine, sort: str) -> None:
    keys = keys_for(sort)
    with Session(engine) as session:
        expected = full_order(session, keys)
        for limit in (1, 7, 200):
            assert walk(session, keys, limit) == expected


@pytest.mark.parametrize("sort", ["n", "-n", "price", "-price", "at", "note"])
def test_property_sort_matches_python_nulls_last(engine: Engine, sort: str, rows: list[dict[str, Any]]) -> None:
    key = keys_for(sort)[0]
    with Session(engine) as session:
        got = walk(session, keys_for(sort), 9)
        by_id = {r.id: r for r in session.scalars(select(Item))}
    values = [key.read(by_id[i]) for i in got]
    present = [v for v in values if v is not None]
    assert values == present + [None] * (len(values) - len(present))  # NULLs (and mistyped values) last
    assert present == sorted(present, reverse=key.descending)


@pytest.mark.parametrize("sort", ["n", "-n", "note", "-price", "score,-name"])
def test_cursor_is_stable_under_concurrent_inserts(engine: Engine, sort: str) -> None:
    keys = keys_for(sort)
    with Session(engine) as session, session.begin():
        original = full_order(session, keys)
        page, cursor = paginate(session, select(Item), keys, 20, None)
        seen = [r.id for r in page]
        # Rows arriving mid-walk, some sorting before the cursor and some after; ids beyond the data.
        extra = make_rows(30, seed=99)
        for i, row in enumerate(extra):
            row["id"] = 10_000 + i
        insert_rows(session.connection(), extra)
        while cursor is not None:
            page, cursor = paginate(session, select(Item), keys, 20, cursor)
            seen.extend(r.id for r in page)
        session.rollback()
    assert len(seen) == len(set(seen))  # nothing twice
    assert [i for i in seen if i < 10_000] == original  # every original row, in order


def test_cursor_of_another_sort_or_tampered_is_a_400() -> None:
    keys = keys_for("n")
    cursor = encode_cursor(keys, [decimal.Decimal("5"), 3])
    assert decode_cursor(cursor, keys) == [decimal.Decimal("5"), 3]
    with pytest.raises(BadRequest):
        decode_cursor(cursor, keys_for("-n"))
    with pytest.raises(BadRequest):
        decode_cursor("not-a-cursor", keys)
    with pytest.raises(BadRequest):  # a string where the sort expression is numeric
        decode_cursor(encode_cursor(keys, ["five", 3]), keys)
    with pytest.raises(BadRequest):
        decode_cursor(encode_cursor(keys_for("flag"), [1, 3]), keys_for("flag"))


@pytest.mark.parametrize(("sql_type", "value"), [
    (Float(), 0.1), (Float(), -1e300), (Float(), 5e-324), (String(), "it's \u00e9 \U0001f600"), (String(), ""),
    (Boolean(), True), (Boolean(), False), (Numeric(), decimal.Decimal("12.50")),
    (Numeric(), decimal.Decimal("-1E+30")), (Integer(), 2**62), (DateTime(timezone=True), dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)),
    (DateTime(), dt.datetime(2024, 1, 2, 3, 4, 5)), (Date(), dt.date(2024, 2, 29)), (Uuid(), uuid.uuid4()),
    (String(), None), (Numeric(), None),
])
def test_cursor_values_round_trip(sql_type: Any, value: Any) -> None:
    keys = [SortKey("x", column("x", sql_type), True), SortKey("id", column("id", Integer()), True)]
    decoded = decode_cursor(encode_cursor(keys, [value, 7]), keys)
    assert decoded == [value, 7] and type(decoded[0]) is type(value)


def test_float_key_accepts_integral_cursor_values() -> None:
    keys = [SortKey("x", column("x", Float()), False)]
    assert decode_cursor(encode_cursor(keys, [1.0]), keys) == [1.0]


def test_the_column_api_still_works(tmp_path: Any, rows: list[dict[str, Any]]) -> None:
    """crm_http.pagination.parse_sort(raw, {name: column}, default, tiebreak), as the services use it."""
    engine = sqlite_engine(str(tmp_path / "legacy.db"))
    insert_rows(engine, rows)
    keys = pagination.parse_sort("-score,name", {"score": Item.score, "name": Item.name}, "-id", Item.id)
    assert [k.name for k in keys] == ["score", "name", "id"] and all(k.value_of is None for k in keys)
    with Session(engine) as session:
        assert walk(session, keys, 6) == full_order(session, keys)
    with pytest.raises(BadRequest):
        pagination.parse_sort("nope", {"score": Item.score}, "-id", Item.id)
    engine.dispose()


def test_sort_errors_name_the_field() -> None:
    with pytest.raises(BadRequest) as info:
        keys_for("plna")
    assert info.value.errors == {"sort": ["Unknown field 'plna'."]}
    assert "sortable fields: active, amount" in info.value.detail
    with pytest.raises(BadRequest) as info:
        keys_for("-tags")
    assert info.value.errors == {"sort": ["Field of type tags cannot be sorted: 'tags'."]}


def test_sort_keys_dedupe_and_end_with_the_tiebreak() -> None:
    assert [(k.name, k.descending) for k in keys_for("-n, n,,+note")] == [("n", True), ("note", False), ("id", True)]
    assert [(k.name, k.descending) for k in keys_for("")] == [("id", True)]
    assert [(k.name, k.descending) for k in keys_for("-id,n")] == [("id", True), ("n", False)]
    reg = FieldRegistry([column_field("id", "number", Item.id)])
    assert [k.name for k in parse_sort(None, reg, "id", reg["id"])] == ["id"]
