"""Many rows in one executemany (bulk imports and their outbox events), with the least client work.

On PostgreSQL the rows go straight to the driver as tuples (JSON already serialised, cast in SQL):
psycopg pipelines them, and SQLAlchemy's per-row parameter processing, which costs more CPU than
the database spends on the insert, is skipped. (COPY would be faster still, but PostgreSQL refuses
COPY FROM on tables under row-level security; `INSERT ... SELECT FROM unnest(arrays)` costs more
client CPU than this in psycopg, whose array dumper escapes element by element.) Elsewhere it is
SQLAlchemy's executemany.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.sql import sqltypes


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) into `table` on `conn`, in the caller's transaction."""
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name != "postgresql" or len(rows) == 1:
        conn.execute(insert(table), rows)
        return
    quote = dialect.identifier_preparer.quote
    columns = [c for c in table.columns if c.key in rows[0]]
    json_keys = {c.key for c in columns if isinstance(c.type.dialect_impl(dialect), sqltypes.JSON)}
    placeholders = [f"%s::{c.type.compile(dialect=dialect)}" if c.key in json_keys else "%s" for c in columns]
    statement = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
                 f"VALUES ({', '.join(placeholders)})")
    keys = [(c.key, c.key in json_keys) for c in columns]
    params = [tuple(_json(row[k]) if is_json else row[k] for k, is_json in keys) for row in rows]
    conn.exec_driver_sql(statement, params)


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if not value and isinstance(value, list | dict):
        return "[]" if isinstance(value, list) else "{}"  # most JSON columns of a new row are empty
    return json.dumps(value)
