"""compile_filter executed on real SQLite and PostgreSQL databases, checked against the reference evaluator."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest
from query_support import REFS, Item, evaluate, registry
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from crm_core.errors import BadRequest
from crm_query import FieldRegistry, FieldType, column_field, compile_filter, parse, property_field


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("sqlite_items" if request.param == "sqlite" else "pg_items")


def ids(engine: Engine, filter_text: str) -> set[int]:
    where = compile_filter(filter_text, registry(), engine.dialect.name)
    with engine.connect() as conn:
        return set(conn.scalars(select(Item.id).where(where)))  # type: ignore[arg-type]


def check(engine: Engine, rows: list[dict[str, Any]], filter_text: str) -> set[int]:
    """Run the filter and compare with the evaluator; returns the matching ids."""
    got = ids(engine, filter_text)
    assert got == {r["id"] for r in rows if evaluate(parse(filter_text), r)}, filter_text
    return got


def error(filter_text: str, dialect: str = "sqlite") -> str:
    with pytest.raises(BadRequest) as info:
        compile_filter(filter_text, registry(), dialect)
    return info.value.errors["filter"][0]


def test_blank_filter_is_no_filter() -> None:
    assert compile_filter(None, registry(), "sqlite") is None
    assert compile_filter("  ", registry(), "postgresql") is None


def test_documented_example_shape(engine: Engine, rows: list[dict[str, Any]]) -> None:
    got = check(engine, rows, "stage = 'lead' and (plan in ('pro', 'team') or score >= 50)")
    assert got  # the data has matches, so this is not vacuous


@pytest.mark.parametrize("filter_text", [
    "name = 'ann'", "name != 'ann'", "name < 'b'", "name >= 'Bob'", "name in ('ann', 'zed', '')",
    "name not in ('ann', 'zed')", "name is null", "name is not null", "not name = 'ann'",
    "name contains 'AN'", "name contains '%'", "name contains '_'", "name contains '/'", "name contains ''''",
    "name contains '\"'", "name starts_with 'b'", "name starts_with 'a_'", "name = 50",
    "email = 'ANN@X.IO'", "email in ('Bob@Y.io')", "email contains 'X.IO'",
    "score = 50", "score > 49.5", "score <= 50.0", "score < 10000000000000000000000000000", "score in (50, 50.5, 10)",
    "score = '51'", "score != 50.5", "amount = 10.5", "amount < 0", "ratio = 0.1", "ratio >= 1",
    "active = true", "active != true", "active = 'false'", "active is null",
    "stage = 'Lead'", "stage in ('customer', 'churned')", "stage != 'lead'",
    "born < '1991-01-01'", "born = '1990-06-01'", "born >= '1992-03-01'",
    "seen_at > '2024-01-02T10:00:00Z'", "seen_at <= '2024-01-02T12:00:30+02:00'", "seen_at < '2024-01-02'",
    "seen_at = '2024-01-01T05:00:30.500000Z'",
    f"ref = '{REFS[1]}'", f"ref in ('{REFS[0]}', '{str(REFS[2]).upper()}')", f"ref != '{REFS[1]}'",
    "tags contains 'vip'", "tags contains '50%'", "tags contains 'o''k'", "tags in ('vip', 'new')",
    "tags not in ('vip')", "tags is null", "tags is not null", "not tags contains 'vip'",
    "plan = 'pro'", "plan != 'pro'", "plan in ('pro', 'TEAM')", "plan not in ('free')", "plan is null",
    "note = 'ann'", "note contains 'n'", "note > 'b'", "note starts_with 'dan o'''",
    "n = 50", "n = 50.0", "n > 49", "n < 1", "n = 0.1", "n in (5, 50.5)", "n != 5", "n is null",
    "flag = true", "flag = false", "flag != true", "flag is null",
    "due < '2024-02-15'", "due = '2024-01-10'", "due in ('2024-01-10', '2024-03-19')",
    "at > '2024-01-02T11:00:00Z'", "at = '2024-01-02T12:00:01+01:00'", "at <= '2024-01-02'",
    "price > 9.99", "price = 10", "price < 0", "price is null", "price in (10, 100)",
    "colors contains 'red'", "colors contains 'Red'", "colors in ('red', 'blue')", "colors is null",
    "not colors contains 'green'", "mail = 'a@x.io'", "mail contains 'x.io'",
    f"pid = '{REFS[3]}'", f"pid in ('{str(REFS[3]).upper()}')",
    "not (plan = 'pro' or n > 10) and (tags is null or not flag = true)",
])
def test_filters_match_the_evaluator(engine: Engine, rows: list[dict[str, Any]], filter_text: str) -> None:
    check(engine, rows, filter_text)


def test_wrong_json_types_read_as_missing(engine: Engine, rows: list[dict[str, Any]]) -> None:
    wrong = {r["id"] for r in rows if isinstance(r["properties"].get("n"), str | bool | list | dict)}
    assert wrong, "the data should contain mistyped values"
    matched = check(engine, rows, "n is null")
    assert wrong <= matched
    assert not wrong & check(engine, rows, "n >= -1000")


def test_missing_values_match_only_negative_comparisons(engine: Engine, rows: list[dict[str, Any]]) -> None:
    missing = {r["id"] for r in rows if r["score"] is None}
    assert missing <= check(engine, rows, "score != 50")
    assert missing <= check(engine, rows, "not score < 50")
    assert missing <= check(engine, rows, "score not in (50)")
    assert not missing & check(engine, rows, "score = 50 or score < 50 or score > 50")


def test_values_are_bound_never_inlined() -> None:
    evil = "x'); drop table query_items; --"
    where = compile_filter(f"name = '{evil.replace(chr(39), chr(39) * 2)}' or note in ('{evil.replace(chr(39), chr(39) * 2)}')",
                           registry(), "postgresql")
    assert where is not None
    sql = str(where.compile(dialect=postgresql.dialect()))
    assert "drop table" not in sql


def test_postgresql_property_equality_compiles_to_containment() -> None:
    sql = str(compile_filter("plan = 'pro' and n in (1, 2.50) and colors contains 'red' and tags contains 'vip'",
                             registry(), "postgresql").compile(dialect=postgresql.dialect()))  # type: ignore[union-attr]
    assert sql.count("query_items.properties @>") == 4
    assert "query_items.tags @>" in sql


@pytest.mark.parametrize(("filter_text", "message"), [
    ("plna = 'pro'", "Unknown field 'plna'; did you mean 'plan'?"),
    ("zzz = 1", "Unknown field 'zzz'"),
    ("plan = 'gold'", "Field 'plan' must be one of: free, pro, team; got 'gold' at position 8"),
    ("stage in ('lead', 'x')", "Field 'stage' must be one of: lead, customer, churned; got 'x'"),
    ("colors contains 'pink'", "Field 'colors' must be one of: red, green, blue; got 'pink'"),
    ("active < true", "Operator '<' is not supported for bool field 'active' (at position 1); use = and !=, is null and is not null"),
    ("stage > 'lead'", "Operator '>' is not supported for enum field 'stage'"),
    ("score contains '5'", "Operator 'contains' is not supported for number field 'score'"),
    ("plan starts_with 'p'", "Operator 'starts_with' is not supported for enum field 'plan'"),
    ("tags = 'vip'", "Operator '=' is not supported for tags field 'tags' (at position 1); use in and not in, contains, "
                     "is null and is not null (`tags contains 'x'` tests for an element)"),
    ("ref < 'x'", "Operator '<' is not supported for uuid field 'ref'"),
    ("score = 'many'", "Field 'score' (number) expects a number, got 'many' at position 9"),
    ("score = true", "Field 'score' (number) expects a number, got true"),
    ("name = true", "Field 'name' (text) expects a quoted string, got true"),
    ("active = 1", "Field 'active' (bool) expects true or false, got 1"),
    ("born = '2024-13-01'", "Field 'born' (date) expects a date 'YYYY-MM-DD', got '2024-13-01'"),
    ("born = '2024-01-01T00:00:00Z'", "Field 'born' (date) expects a date 'YYYY-MM-DD'"),
    ("seen_at > 'yesterday'", "Field 'seen_at' (datetime) expects an ISO 8601 date-time, got 'yesterday'"),
    ("seen_at > 5", "Field 'seen_at' (datetime) expects an ISO 8601 date-time string, got 5"),
    ("ref = 'abc'", "Field 'ref' (uuid) expects a UUID, got 'abc'"),
    ("due = '2024-1-1'", "Field 'due' (date) expects a date 'YYYY-MM-DD'"),
])
def test_field_errors(filter_text: str, message: str) -> None:
    for dialect in ("sqlite", "postgresql"):
        assert error(filter_text, dialect).startswith(message), error(filter_text, dialect)


def test_error_is_a_400_problem() -> None:
    with pytest.raises(BadRequest) as info:
        compile_filter("plan = 'gold'", registry(), "sqlite")
    body = info.value.to_dict()
    assert body["status"] == 400 and body["detail"].startswith("Invalid filter: Field 'plan'")
    assert list(body["errors"]) == ["filter"]


def test_integer_column_keeps_its_index_type() -> None:
    sql = str(compile_filter("score = 50 and score > 2.5", registry(), "postgresql")
              .compile(dialect=postgresql.dialect()))  # type: ignore[union-attr]
    assert "query_items.score = %(param_1)s::BIGINT" in sql  # int vs bigint: the btree index applies
    assert "query_items.score > %(param_2)s" in sql and "BIGINT" not in sql.split("AND")[1]  # 2.5 stays 2.5


def test_decimal_precision_survives_containment(pg_database: str) -> None:
    engine = create_engine(pg_database)
    meta = MetaData()
    table = Table("query_precise", meta, Column("id", Integer, primary_key=True), Column("properties", JSONB))
    meta.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(insert(table), [{"id": 1, "properties": {"big": 12345678901234567890.5}},
                                         {"id": 2, "properties": {"big": 1}}])
            conn.execute(text("update query_precise set properties = '{\"big\": 12345678901234567890123.25}' where id = 1"))
        reg = FieldRegistry([property_field("big", FieldType.NUMBER, table.c.properties)])

        def run(f: str) -> list[int]:
            with engine.connect() as conn:
                return list(conn.scalars(select(table.c.id).where(compile_filter(f, reg, "postgresql"))))  # type: ignore[arg-type]

        assert run("big = 12345678901234567890123.25") == [1]
        assert run("big = 12345678901234567890123.2") == []
        assert run("big > 12345678901234567890123.2") == [1]
    finally:
        meta.drop_all(engine)
        engine.dispose()


def test_datetime_values_compare_in_utc(engine: Engine, rows: list[dict[str, Any]]) -> None:
    moment = next(r["seen_at"] for r in rows if r["seen_at"] is not None)
    shifted = moment.astimezone(dt.timezone(dt.timedelta(hours=5))).isoformat()
    got = ids(engine, f"seen_at = '{shifted}'")
    assert got == {r["id"] for r in rows if r["seen_at"] == moment}


def test_money_column_and_property_compare_numerically(engine: Engine, rows: list[dict[str, Any]]) -> None:
    assert check(engine, rows, "amount = '10.50'") == {r["id"] for r in rows if r["amount"] == decimal.Decimal("10.5")}
    assert check(engine, rows, "price >= 10") == {
        r["id"] for r in rows if isinstance(r["properties"].get("price"), dict)
        and r["properties"]["price"].get("amount") in ("10.00", "100.00")}


def test_a_failing_normaliser_is_a_400() -> None:
    def phone(value: str) -> str:
        if not value.startswith("+"):
            raise ValueError("Not an E.164 phone number")
        return value.replace(" ", "")

    reg = FieldRegistry([column_field("phone", FieldType.PHONE, Item.name, normalise=phone)])
    assert compile_filter("phone = '+49 1'", reg, "sqlite") is not None
    with pytest.raises(BadRequest) as info:
        compile_filter("phone in ('+49 1', '0301')", reg, "sqlite")
    assert info.value.errors == {"filter": ["Field 'phone': Not an E.164 phone number (got '0301' at position 20)"]}


def test_compiled_filters_are_reused_per_registry_and_dropped_when_it_changes() -> None:
    """compile_filter caches per registry: the same text gives the same clause (one compile),
    a new field empties the cache, and a bad filter is never cached."""
    from sqlalchemy import Column, Integer, MetaData, String, Table

    from crm_core.errors import BadRequest
    from crm_query import FieldRegistry, FieldType, column_field, compile_filter

    table = Table("t_cache", MetaData(), Column("id", Integer, primary_key=True), Column("name", String))
    registry = FieldRegistry([column_field("name", FieldType.TEXT, table.c.name)])
    first = compile_filter("name = 'a'", registry, "postgresql")
    assert compile_filter("name = 'a'", registry, "postgresql") is first
    assert compile_filter("name = 'a'", registry, "sqlite") is not first
    assert str(compile_filter("name = 'b'", registry, "postgresql")) == str(first)  # bound values differ
    registry.add(column_field("id", FieldType.NUMBER, table.c.id))
    assert compile_filter("name = 'a'", registry, "postgresql") is not first
    for _ in range(2):
        try:
            compile_filter("nope = 1", registry, "postgresql")
        except BadRequest:
            pass
        else:
            raise AssertionError("unknown field accepted")
    assert ("nope = 1", "postgresql") not in registry.compiled_filters
