"""Shared by the crm_query tests: a table with every field type, rows, a registry, a reference evaluator.

The evaluator is a plain-Python reading of the filter semantics (two-valued: a missing value or a
value of the wrong JSON type matches only negative comparisons) used as the oracle for the
property tests; it deliberately does not reuse crm_query's coercion code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import functools
import random
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Uuid,
    create_engine,
    insert,
    null,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_db.base import JsonType
from crm_query import And, Comparison, FieldRegistry, FieldType, Node, Not, Or, Value, column_field, property_field

UTC = dt.UTC
STAGES = ("lead", "customer", "churned")
PLANS = ("free", "pro", "team")
COLORS = ("red", "green", "blue")
WORDS = ("ann", "Bob", "carla", "dan o'neil", "50%", "a_b", "x/y", 'say "hi"', "", "zed", "bobby", "Ann Lee")


class Base(DeclarativeBase):
    metadata = MetaData()


class Item(Base):
    __tablename__ = "query_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    score: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[decimal.Decimal | None] = mapped_column(Numeric(12, 2))
    ratio: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool | None] = mapped_column(Boolean)
    stage: Mapped[str | None] = mapped_column(String(20))
    born: Mapped[dt.date | None] = mapped_column(Date)
    seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ref: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    tags: Mapped[list[str] | None] = mapped_column(JsonType)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)


@functools.cache
def registry() -> FieldRegistry:
    """Built once: tests read it, never change it."""
    p = Item.properties
    return FieldRegistry([
        column_field("id", FieldType.NUMBER, Item.id),
        column_field("name", FieldType.TEXT, Item.name),
        column_field("email", FieldType.EMAIL, Item.email, normalise=str.lower),
        column_field("score", FieldType.NUMBER, Item.score),
        column_field("amount", FieldType.MONEY, Item.amount),
        column_field("ratio", FieldType.NUMBER, Item.ratio),
        column_field("active", FieldType.BOOL, Item.active),
        column_field("stage", FieldType.ENUM, Item.stage, STAGES),
        column_field("born", FieldType.DATE, Item.born),
        column_field("seen_at", FieldType.DATETIME, Item.seen_at),
        column_field("ref", FieldType.UUID, Item.ref),
        column_field("tags", FieldType.TAGS, Item.tags),
        property_field("plan", FieldType.ENUM, p, PLANS),
        property_field("note", FieldType.TEXT, p),
        property_field("n", FieldType.NUMBER, p),
        property_field("flag", FieldType.BOOL, p),
        property_field("due", FieldType.DATE, p),
        property_field("at", FieldType.DATETIME, p),
        property_field("price", FieldType.MONEY, p),
        property_field("colors", FieldType.MULTI_ENUM, p, COLORS),
        property_field("mail", FieldType.EMAIL, p),
        property_field("pid", FieldType.UUID, p),
    ])


REFS = [uuid.UUID(int=i * 7919 + 1) for i in range(5)]
_NUMBERS: list[Any] = [0, 1, 5, 50, 49, 50.5, -3, 100, 0.1, 2.25]
_WRONG = ["5", True, [1], {"a": 1}, None]  # stored where another JSON type is expected


def _maybe(rnd: random.Random, value: Any, p_missing: float = 0.25) -> Any:
    return None if rnd.random() < p_missing else value


def make_rows(count: int = 80, seed: int = 7) -> list[dict[str, Any]]:
    """Rows as inserted (Python values); `tags` may be SQL NULL (the NULL marker), JSON null or a list."""
    rnd = random.Random(seed)
    rows = []
    for i in range(1, count + 1):
        props: dict[str, Any] = {}

        def put(key: str, good: Any, props: dict[str, Any] = props) -> None:
            roll = rnd.random()
            if roll < 0.2:
                return  # absent
            props[key] = rnd.choice(_WRONG) if roll < 0.3 else good

        put("plan", rnd.choice(PLANS))
        put("note", rnd.choice(WORDS))
        put("n", rnd.choice(_NUMBERS))
        put("flag", rnd.choice([True, False]))
        put("due", f"2024-0{rnd.randint(1, 3)}-1{rnd.randint(0, 9)}")
        put("at", f"2024-01-0{rnd.randint(1, 3)}T1{rnd.randint(0, 2)}:00:0{rnd.randint(0, 1)}Z")
        put("price", {"amount": rnd.choice(["10.00", "9.99", "-1.50", "100.00", "abc"]), "currency": "EUR"})
        put("colors", rnd.sample(COLORS, rnd.randint(0, 3)))
        put("mail", rnd.choice(["a@x.io", "b@y.io", "ann@x.io"]))
        put("pid", str(rnd.choice(REFS)))
        tags_roll = rnd.random()
        tags: Any = ("NULL" if tags_roll < 0.1 else None if tags_roll < 0.2
                     else rnd.sample(["vip", "new", "50%", "o'k"], rnd.randint(0, 3)))
        rows.append({
            "id": i,
            "name": _maybe(rnd, rnd.choice(WORDS)),
            "email": _maybe(rnd, rnd.choice(["ann@x.io", "bob@y.io", "c@z.io"])),
            "score": _maybe(rnd, rnd.choice([0, 10, 49, 50, 51, 100])),
            "amount": _maybe(rnd, decimal.Decimal(rnd.choice(["0.00", "10.50", "99.99", "-5.00"]))),
            "ratio": _maybe(rnd, rnd.choice([0.1, 0.5, 1.0, 2.25])),
            "active": _maybe(rnd, rnd.choice([True, False])),
            "stage": _maybe(rnd, rnd.choice(STAGES)),
            "born": _maybe(rnd, dt.date(1990 + rnd.randint(0, 3), rnd.randint(1, 12), 1)),
            "seen_at": _maybe(rnd, dt.datetime(2024, 1, rnd.randint(1, 3), rnd.randint(0, 23), 0, rnd.choice([0, 30]),
                                               rnd.choice([0, 500_000]), tzinfo=UTC)),
            "ref": _maybe(rnd, rnd.choice(REFS)),
            "tags": tags,
            "properties": props,
        })
    return rows


def insert_rows(bind: Engine | Connection, rows: list[dict[str, Any]]) -> None:
    values = [{**r, "tags": null() if r["tags"] == "NULL" else r["tags"]} for r in rows]
    with bind.begin() if isinstance(bind, Engine) else contextlib.nullcontext(bind) as conn:
        for value in values:  # one by one: null() differs per row, which executemany cannot mix
            conn.execute(insert(Item.__table__).values(**value))


def sqlite_engine(path: str) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    return engine


# --- reference evaluator ------------------------------------------------------------------------

def _read(row: dict[str, Any], name: str) -> Any:
    """A field's value as the filter sees it; None when missing or of the wrong JSON type."""
    if name in row:
        value = row[name]
        if name == "tags":
            return value if isinstance(value, list) else None
        return value
    raw = row["properties"].get(name)
    kind = registry()[name].type
    if kind in (FieldType.NUMBER,):
        return decimal.Decimal(str(raw)) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
    if kind is FieldType.MONEY:
        amount = raw.get("amount") if isinstance(raw, dict) else None
        try:
            return decimal.Decimal(amount) if isinstance(amount, str) and amount.replace(".", "").lstrip("-").isdigit() else None
        except decimal.InvalidOperation:
            return None
    if kind is FieldType.BOOL:
        return raw if isinstance(raw, bool) else None
    if kind is FieldType.MULTI_ENUM:
        return raw if isinstance(raw, list) else None
    return raw if isinstance(raw, str) else None


def _value(name: str, v: Value) -> Any:
    """The filter literal in the field's terms (what the generator produces is always valid)."""
    kind = registry()[name].type
    is_property = name not in Item.__table__.c
    raw = v.value
    if kind in (FieldType.NUMBER, FieldType.MONEY):
        number = decimal.Decimal(str(raw))
        return float(number) if name == "ratio" else number
    if kind is FieldType.BOOL:
        return raw if isinstance(raw, bool) else str(raw).lower() == "true"
    if kind is FieldType.DATE:
        return str(raw) if is_property else dt.date.fromisoformat(str(raw))
    if kind is FieldType.DATETIME:
        moment = dt.datetime.fromisoformat(str(raw))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if is_property else moment
    if kind is FieldType.UUID:
        return str(uuid.UUID(str(raw))) if is_property else uuid.UUID(str(raw))
    text = str(raw) if v.kind == "string" else v.raw
    if name == "email":
        text = text.lower()
    if kind in (FieldType.ENUM, FieldType.MULTI_ENUM):
        options = registry()[name].options or ()
        text = text if text in options else next(o for o in options if o.lower() == text.lower())
    return text


def evaluate(node: Node, row: dict[str, Any]) -> bool:
    if isinstance(node, And):
        return all(evaluate(i, row) for i in node.items)
    if isinstance(node, Or):
        return any(evaluate(i, row) for i in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, row)
    return _compare(node, row)


def _compare(node: Comparison, row: dict[str, Any]) -> bool:
    negative = {"!=": "=", "not in": "in", "is not null": "is null"}
    if node.op in negative:
        return not _compare(Comparison(node.field, negative[node.op], node.values), row)  # type: ignore[arg-type]
    current = _read(row, node.field)
    array = registry()[node.field].type in (FieldType.TAGS, FieldType.MULTI_ENUM)
    if node.op == "is null":
        return current is None or (array and len(current) == 0)
    if current is None:
        return False
    values = [_value(node.field, v) for v in node.values]
    if array:
        return any(v in current for v in values)
    if node.op == "in":
        return current in values
    value = values[0]
    if node.op == "contains":
        return value.lower() in current.lower()
    if node.op == "starts_with":
        return current.lower().startswith(value.lower())
    return {"=": current == value, "<": current < value, "<=": current <= value, ">": current > value,
            ">=": current >= value}[node.op]


def expected_ids(node: Node, rows: list[dict[str, Any]]) -> set[int]:
    return {r["id"] for r in rows if evaluate(node, r)}


def walk(node: Node) -> Iterator[Comparison]:
    if isinstance(node, Comparison):
        yield node
    elif isinstance(node, Not):
        yield from walk(node.item)
    else:
        for item in node.items:
            yield from walk(item)
