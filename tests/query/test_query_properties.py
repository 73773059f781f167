"""Property tests: any text is an expression or a 400; any valid filter runs and agrees with the evaluator."""

from __future__ import annotations

import decimal
import string
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from query_support import COLORS, PLANS, REFS, STAGES, WORDS, Item, expected_ids, registry
from sqlalchemy import Engine, select, text
from sqlalchemy.dialects import postgresql, sqlite

from crm_core.errors import BadRequest
from crm_query import MAX_DEPTH, And, Comparison, FieldType, Node, Not, Or, Value, compile_filter, parse, to_text

REGISTRY = registry()
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}

# --- (a) arbitrary text -------------------------------------------------------------------------

TOKENS = [
    *REGISTRY, "plna", "x", "_a1", "and", "or", "not", "in", "is", "null", "true", "false", "contains", "starts_with",
    "AND", "Not", "NULL", "=", "!=", "<", "<=", ">", ">=", "<>", "==", "!", "(", ")", ",", "'pro'", "'lead'", "'it''s'",
    '"x"', "'", '"', "''", "0", "-1", "50", "2.5", "-0.001", "1e5", "1.2.3", "--1", "'2024-01-01'",
    "'2024-01-02T10:00:00Z'", f"'{REFS[0]}'", "'vip'", "'red'", "'%'", " ", "\t", "\n", "#", ";", "\\", "é", "\x00",
]


def compiles_or_400(filter_text: str) -> None:
    for name, dialect in DIALECTS.items():
        try:
            where = compile_filter(filter_text, REGISTRY, name)
        except BadRequest as exc:
            assert exc.status == 400 and exc.errors and len(exc.errors["filter"]) == 1
            continue
        if where is not None:
            str(where.compile(dialect=dialect))  # renders, too


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_compiles_or_is_a_400(filter_text: str) -> None:
    compiles_or_400(filter_text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.sampled_from([" ", ""]))
def test_any_token_soup_compiles_or_is_a_400(tokens: list[str], glue: str) -> None:
    compiles_or_400(glue.join(tokens))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["(", ")", "not ", "a = 1", " and ", " or "]), max_size=300))
def test_deep_nesting_is_a_400_never_a_crash(tokens: list[str]) -> None:
    compiles_or_400("".join(tokens).replace("a = 1", "score = 1"))


def test_the_nesting_limit_itself() -> None:
    deep = "(" * MAX_DEPTH + "score = 1" + ")" * MAX_DEPTH
    assert compile_filter(deep, REGISTRY, "postgresql") is not None
    with pytest.raises(BadRequest):
        compile_filter("(" + deep + ")", REGISTRY, "postgresql")


# --- (b) valid filters --------------------------------------------------------------------------

_ORDERED = ["=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null"]
OPS: dict[FieldType, list[str]] = {
    FieldType.TEXT: [*_ORDERED, "contains", "starts_with"],
    FieldType.EMAIL: [*_ORDERED, "contains", "starts_with"],
    FieldType.NUMBER: _ORDERED, FieldType.MONEY: _ORDERED, FieldType.DATE: _ORDERED, FieldType.DATETIME: _ORDERED,
    FieldType.UUID: ["=", "!=", "in", "not in", "is null", "is not null"],
    FieldType.ENUM: ["=", "!=", "in", "not in", "is null", "is not null"],
    FieldType.BOOL: ["=", "!=", "is null", "is not null"],
    FieldType.TAGS: ["contains", "in", "not in", "is null", "is not null"],
    FieldType.MULTI_ENUM: ["contains", "in", "not in", "is null", "is not null"],
}
_ASCII = string.ascii_letters + string.digits + " %_/'\"-.@"  # ASCII: lower() agrees in Python, SQLite and PG
_texts = st.one_of(st.sampled_from([*WORDS, "an", "b", "%", "_", "/", "'", "o'", "ann@x.io", "X.IO"]),
                   st.text(alphabet=_ASCII, max_size=6))


def _number(*choices: str) -> st.SearchStrategy[Value]:
    pool = st.one_of(st.sampled_from(choices), st.integers(-200, 200).map(str),
                     st.decimals(-200, 200, places=2, allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")))
    return pool.flatmap(lambda t: st.sampled_from([Value("number", decimal.Decimal(t)), Value("string", t)]))


def _strings(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[Value]:
    return strategy.map(lambda t: Value("string", t))


VALUES: dict[str, st.SearchStrategy[Value]] = {
    "id": _number("1", "40", "80", "81"),
    "name": _strings(_texts), "note": _strings(_texts),
    "email": _strings(st.sampled_from(["ann@x.io", "ANN@X.IO", "bob@y.io", "c@z.io", "zzz", "@", "X.io"])),
    "mail": _strings(st.sampled_from(["a@x.io", "b@y.io", "ann@x.io", "A@X.IO", "x.io"])),
    "score": _number("0", "10", "49", "50", "51", "100", "50.5", "99999999999999999999"),
    "amount": _number("0", "10.5", "10.50", "99.99", "-5", "-5.00"),
    "ratio": _number("0.1", "0.5", "1", "2.25", "0.3"),
    "n": _number("0", "1", "5", "50", "49", "50.5", "-3", "100", "0.1", "2.25"),
    "price": _number("10", "9.99", "-1.5", "100", "0"),
    "active": st.sampled_from([Value("bool", True), Value("bool", False), Value("string", "true")]),
    "flag": st.sampled_from([Value("bool", True), Value("bool", False), Value("string", "FALSE")]),
    "stage": _strings(st.sampled_from([*STAGES, "Lead", "CUSTOMER"])),
    "plan": _strings(st.sampled_from([*PLANS, "Pro"])),
    "colors": _strings(st.sampled_from([*COLORS, "RED"])),
    "tags": _strings(st.sampled_from(["vip", "new", "50%", "o'k", "zzz", "VIP", ""])),
    "born": _strings(st.dates(min_value=__import__("datetime").date(1989, 12, 1),
                              max_value=__import__("datetime").date(1994, 1, 1)).map(str)),
    "due": _strings(st.sampled_from(["2024-01-10", "2024-02-15", "2024-03-19", "2024-01-01", "2024-04-01"])),
    "seen_at": _strings(st.sampled_from(["2024-01-02T10:00:00Z", "2024-01-02T12:00:30+02:00", "2024-01-02",
                                         "2024-01-01T05:00:30.500000Z", "2024-01-03T23:00:00-01:00", "2024-01-02T10:00:00"])),
    "at": _strings(st.sampled_from(["2024-01-02T11:00:00Z", "2024-01-02T12:00:01+01:00", "2024-01-02",
                                    "2024-01-01T10:00:00.9Z", "2024-01-03T12:00:01Z"])),
    "ref": _strings(st.sampled_from([*map(str, REFS), str(REFS[0]).upper(), str(uuid.UUID(int=3))])),
    "pid": _strings(st.sampled_from([*map(str, REFS), str(REFS[1]).upper()])),
}


@st.composite
def comparisons(draw: st.DrawFn, text_ordering: bool = True) -> Comparison:
    name = draw(st.sampled_from(sorted(VALUES)))
    kind = REGISTRY[name].type
    ops = [op for op in OPS[kind] if text_ordering or kind not in (FieldType.TEXT, FieldType.EMAIL)
           or op not in ("<", "<=", ">", ">=")]
    op = draw(st.sampled_from(ops))
    if op in ("is null", "is not null"):
        return Comparison(name, op)  # type: ignore[arg-type]
    count = draw(st.integers(1, 4)) if op in ("in", "not in") else 1
    return Comparison(name, op, tuple(draw(VALUES[name]) for _ in range(count)))  # type: ignore[arg-type]


def filters(text_ordering: bool = True) -> st.SearchStrategy[Node]:
    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        many = st.lists(children, min_size=2, max_size=3).map(tuple)
        return st.one_of(many.map(And), many.map(Or), children.map(Not))

    return st.recursive(comparisons(text_ordering), extend, max_leaves=8)


def run(engine: Engine, node: Node, rows: list[dict[str, Any]]) -> None:
    filter_text = to_text(node)
    parsed = parse(filter_text)
    assert parsed == node, filter_text
    where = compile_filter(filter_text, REGISTRY, engine.dialect.name)
    with engine.connect() as conn:
        got = set(conn.scalars(select(Item.id).where(where)))  # type: ignore[arg-type]
    assert got == expected_ids(parsed, rows), filter_text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(node=filters())
def test_valid_filters_agree_with_the_evaluator_on_sqlite(sqlite_items: Engine, rows: list[dict[str, Any]], node: Node) -> None:
    run(sqlite_items, node, rows)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(data=st.data())
def test_valid_filters_agree_with_the_evaluator_on_postgresql(pg_items: Engine, rows: list[dict[str, Any]],
                                                              data: st.DataObject) -> None:
    with pg_items.connect() as conn:
        collation = conn.execute(text("select datcollate from pg_database where datname = current_database()")).scalar()
    # Text order is the database collation's: compare it with Python's only under C / C.UTF-8.
    node = data.draw(filters(text_ordering=collation in ("C", "C.UTF-8", "C.utf8", "POSIX")))
    run(pg_items, node, rows)
