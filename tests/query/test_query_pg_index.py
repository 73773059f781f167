"""On PostgreSQL, `=` / `in` on a custom property and array membership are served by GIN jsonb_path_ops indexes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, event, insert, select, text
from sqlalchemy.dialects.postgresql import JSONB

from crm_query import FieldRegistry, FieldType, column_field, compile_filter, property_field

META = MetaData()
GIN = Table("query_gin", META, Column("id", Integer, primary_key=True),
            Column("properties", JSONB, nullable=False), Column("tags", JSONB, nullable=False))
REGISTRY = FieldRegistry([
    property_field("plan", FieldType.ENUM, GIN.c.properties, ["free", "pro", "team"]),
    property_field("score", FieldType.NUMBER, GIN.c.properties),
    property_field("vip", FieldType.BOOL, GIN.c.properties),
    property_field("colors", FieldType.MULTI_ENUM, GIN.c.properties, ["red", "green", "blue"]),
    column_field("tags", FieldType.TAGS, GIN.c.tags),
])


@pytest.fixture(scope="module")
def gin_engine(pg_database: str) -> Iterator[Engine]:
    engine = create_engine(pg_database)
    META.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX query_gin_properties_idx ON query_gin USING gin (properties jsonb_path_ops)"))
        conn.execute(text("CREATE INDEX query_gin_tags_idx ON query_gin USING gin (tags jsonb_path_ops)"))
        plans, colors = ["free", "pro", "team"], ["red", "green", "blue"]
        conn.execute(insert(GIN), [{
            "id": i, "tags": ["vip"] if i % 10 == 0 else [],
            "properties": {"plan": plans[i % 3], "score": i % 100, "vip": i % 7 == 0, "colors": colors[: i % 4]},
        } for i in range(2000)])
        conn.execute(text("ANALYZE query_gin"))
    yield engine
    META.drop_all(engine)
    engine.dispose()


def _explain(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> tuple[str, Any]:
    return "EXPLAIN " + statement, parameters


def plan_of(engine: Engine, filter_text: str) -> tuple[str, int]:
    stmt = select(GIN.c.id).where(compile_filter(filter_text, REGISTRY, "postgresql"))  # type: ignore[arg-type]
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        count = len(conn.execute(stmt).all())
        # EXPLAIN of the statement exactly as executed: same SQL, same bound parameters.
        event.listen(conn, "before_cursor_execute", _explain, retval=True)
        try:
            plan = "\n".join(str(row[0]) for row in conn.execute(stmt))
        finally:
            event.remove(conn, "before_cursor_execute", _explain)
    return plan, count


@pytest.mark.parametrize(("filter_text", "index", "expected"), [
    ("plan = 'pro'", "query_gin_properties_idx", 667),
    ("score = 42", "query_gin_properties_idx", 20),
    ("vip = true", "query_gin_properties_idx", 286),
    ("plan in ('pro', 'team')", "query_gin_properties_idx", 1333),
    ("colors contains 'green'", "query_gin_properties_idx", 1000),
    ("tags contains 'vip'", "query_gin_tags_idx", 200),
    ("plan = 'pro' and tags contains 'vip'", "query_gin_tags_idx", 67),
])
def test_equality_uses_the_gin_index(gin_engine: Engine, filter_text: str, index: str, expected: int) -> None:
    plan, count = plan_of(gin_engine, filter_text)
    assert f"Bitmap Index Scan on {index}" in plan, plan
    assert count == expected
