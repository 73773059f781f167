"""Many rows in one statement (bulk imports and their outbox events), with the least work per row.

On PostgreSQL a batch goes as ONE statement, `INSERT ... SELECT ... FROM
json_populate_recordset(NULL::table, $1)`, whose parameter is a JSON array of the rows (orjson
serialises a row in about a microsecond; a checker process can do it and hand over bytes). An
executemany, even pipelined, costs the client tens of microseconds per row in psycopg's Python
code and the server a statement execution per row; COPY is refused on tables under row-level
security, and this statement keeps RLS (its WITH CHECK applies) and every index. A row whose
values JSON cannot carry (bytes, integers past 64 bits) sends its batch the executemany way.
Elsewhere it is SQLAlchemy's executemany.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Iterable
from typing import Any

import orjson
from psycopg.types.json import Json
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
    try:
        pieces = json_rows(table, rows)
    except TypeError:  # a value JSON does not carry
        _executemany(conn, table, rows)
        return
    insert_json_rows(conn, table, list(rows[0]), pieces)


def json_rows(table: Table, rows: Iterable[dict[str, Any]]) -> list[bytes]:
    """Each row as the JSON object json_populate_recordset reads (column names as keys); raises
    TypeError for a value JSON cannot carry exactly."""
    names = {c.key: c.name for c in table.columns if c.key != c.name}
    if names:
        rows = ({names.get(k, k): v for k, v in row.items()} for row in rows)
    return [orjson.dumps(row, default=_orjson_default) for row in rows]


def insert_json_rows(conn: Connection, table: Table, keys: list[str], pieces: list[bytes]) -> None:
    """INSERT the rows `pieces` (from json_rows, all with the column keys `keys`) in one statement."""
    if not pieces:
        return
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in table.columns if c.key in keys)
    target = quote(table.name) if table.schema is None else f"{quote(table.schema)}.{quote(table.name)}"
    statement = f"INSERT INTO {target} ({names}) SELECT {names} FROM json_populate_recordset(NULL::{target}, %s::json)"
    conn.exec_driver_sql(statement, (json_array(pieces),))


def json_array(pieces: list[bytes]) -> Json:
    """The JSON array of `pieces` as a psycopg parameter: sent as the bytes it is, never decoded."""
    return Json(b"[" + b",".join(pieces) + b"]", dumps=_as_is)


def _as_is(value: bytes) -> bytes:
    return value


def _orjson_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)  # numeric columns read the text exactly
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _executemany(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    dialect = conn.dialect
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
