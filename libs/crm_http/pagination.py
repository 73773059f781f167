"""Keyset (cursor) pagination over any allowed sort, stable under concurrent inserts.

The cursor carries the sort key values of the last row returned; the next page starts strictly
after them. NULLs sort last in both directions, so a cursor never skips or repeats a row.

A sort key is any SQL expression (a column, or e.g. a custom property read out of JSON) with a
`value_of(row)` that reads the same value from an ORM row or a Core row of the same columns; for a
plain column it defaults to the attribute of the same key.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, false, literal, or_, tuple_
from sqlalchemy.orm import InstrumentedAttribute, QueryableAttribute, Session
from sqlalchemy.sql import ColumnElement

from crm_core.errors import BadRequest
from crm_http.jsontext import decode_json

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class SortKey:
    name: str
    column: QueryableAttribute[Any] | ColumnElement[Any]  # any SQL expression
    descending: bool
    value_of: Callable[[Any], Any] | None = None  # row -> value of `column`; None: getattr(row, column.key)

    def read(self, row: Any) -> Any:
        if self.value_of is not None:
            return self.value_of(row)
        return getattr(row, self.column.key)


def sort_terms(raw: str | None, default: str) -> list[tuple[str, bool]]:
    """`-created_at,name` -> [("created_at", True), ("name", False)], each name once."""
    terms: list[tuple[str, bool]] = []
    for part in (raw or default).split(","):
        part = part.strip()
        name = part.lstrip("+-")
        if name and all(n != name for n, _ in terms):
            terms.append((name, part.startswith("-")))
    return terms


def unknown_sort(name: str, sortable: list[str], why: str = "Unknown field") -> BadRequest:
    return BadRequest(f"Cannot sort by {name!r}; sortable fields: {', '.join(sortable)}.",
                      errors={"sort": [f"{why} {name!r}."]})


def with_tiebreak(keys: list[SortKey], tiebreak: SortKey) -> list[SortKey]:
    """A unique last key (normally id, in the first key's direction) makes the order total."""
    if any(k.name == tiebreak.name for k in keys):
        return keys
    return [*keys, SortKey(tiebreak.name, tiebreak.column, keys[0].descending if keys else False, tiebreak.value_of)]


def parse_sort(raw: str | None, allowed: dict[str, InstrumentedAttribute[Any]], default: str,
               tiebreak: InstrumentedAttribute[Any]) -> list[SortKey]:
    keys: list[SortKey] = []
    for name, descending in sort_terms(raw, default):
        if name not in allowed:
            raise unknown_sort(name, sorted(allowed))
        keys.append(SortKey(name, allowed[name], descending))
    return with_tiebreak(keys, SortKey("id", tiebreak, False))


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"t": "dt", "v": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"t": "uuid", "v": str(value)}
    if isinstance(value, decimal.Decimal):
        return {"t": "dec", "v": str(value)}
    if isinstance(value, dt.date):
        return {"t": "date", "v": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        kind, raw = value.get("t"), value.get("v")
        if kind == "dt":
            return dt.datetime.fromisoformat(raw)
        if kind == "uuid":
            return uuid.UUID(raw)
        if kind == "dec":
            return _cursor_decimal(raw)
        if kind == "date":
            return dt.date.fromisoformat(raw)
        raise ValueError("unknown cursor value")
    return value


MAX_CURSOR_EXPONENT = 100  # far beyond any stored number; 1E+999999 overflows PostgreSQL's numeric


def _cursor_decimal(raw: Any) -> decimal.Decimal:
    if not isinstance(raw, str):
        raise TypeError("cursor decimal is not a string")
    value = decimal.Decimal(raw)
    # sNaN, NaN and Infinity are no stored value, and sNaN raises at the first comparison.
    if not value.is_finite() or abs(value.adjusted()) > MAX_CURSOR_EXPONENT or len(value.as_tuple().digits) > 2 * MAX_CURSOR_EXPONENT:
        raise ValueError("cursor decimal out of range")
    return value


def encode_cursor(keys: list[SortKey], values: list[Any]) -> str:
    payload = {"s": [("-" if k.descending else "") + k.name for k in keys], "v": [_encode_value(v) for v in values]}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, keys: list[SortKey]) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        # The same checks as a JSON body: no NUL or lone surrogate reaches the database, no depth
        # exhausts the stack (a cursor is only ever a flat list of values).
        payload = decode_json(base64.urlsafe_b64decode(padded), max_depth=3)
        expected = [("-" if k.descending else "") + k.name for k in keys]
        if payload["s"] != expected or len(payload["v"]) != len(keys):
            raise ValueError("cursor belongs to another sort")
        return [_conform(_decode_value(v), k) for v, k in zip(payload["v"], keys, strict=True)]
    except (ValueError, KeyError, TypeError, OverflowError, decimal.InvalidOperation) as exc:
        raise BadRequest(
            "The cursor is invalid or was made for another sort; start again without it.",
            errors={"cursor": ["Invalid cursor."]},
        ) from exc


def _expected_type(key: SortKey) -> type | None:
    try:
        return key.column.type.python_type
    except (AttributeError, NotImplementedError):
        return None


def _conform(value: Any, key: SortKey) -> Any:
    """A cursor value of the key's Python type: a tampered cursor is a 400, not a database error."""
    expected = _expected_type(key)
    if value is None or expected is None:
        return value
    if expected is bool:
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool):
        pass  # JSON true is no number, string or date
    elif expected is dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
    elif expected is int and isinstance(value, int) and not -2**63 <= value < 2**63:
        pass  # no database integer holds it
    elif isinstance(value, expected):
        return value
    elif expected is float and isinstance(value, int | decimal.Decimal):
        return float(value)
    elif expected is decimal.Decimal and isinstance(value, int | float):
        return _cursor_decimal(str(value))
    raise ValueError(f"cursor value of type {type(value).__name__} for {key.name}")


def _bound(key: SortKey, value: Any) -> Any:
    # An explicit bind: SQLAlchemy refuses `expr > True`, and the key's type converts the value.
    return literal(value, key.column.type)


def _not_null(key: SortKey) -> bool:
    """A NOT NULL column: no NULLS LAST and no IS NULL branch, so its btree index serves the sort
    in either direction (a DESC NULLS LAST order can't be read from an ascending index)."""
    column = getattr(key.column, "expression", key.column)
    return getattr(column, "nullable", True) is False


def _after(keys: list[SortKey], values: list[Any]) -> Any:
    """Rows strictly after `values` in the sort order (NULLs last)."""
    if all(_not_null(k) for k in keys) and len({k.descending for k in keys}) == 1 and None not in values:
        # One row comparison, (created_at, id) < (x, y): an index range scan starts right there.
        row, bound = tuple_(*(k.column for k in keys)), tuple_(*(_bound(k, v) for k, v in zip(keys, values, strict=True)))
        return row < bound if keys[0].descending else row > bound
    clauses = []
    for i, key in enumerate(keys):
        equal_prefix = [k.column.is_(None) if v is None else k.column == _bound(k, v)
                        for k, v in zip(keys[:i], values[:i], strict=True)]
        value = values[i]
        if value is None:
            strictly = false()  # nothing sorts after NULL except on later keys
        else:
            bound = _bound(key, value)
            beyond = key.column < bound if key.descending else key.column > bound
            strictly = beyond if _not_null(key) else or_(beyond, key.column.is_(None))
        clauses.append(and_(*equal_prefix, strictly))
    return or_(*clauses)


def _order(key: SortKey) -> Any:
    order = key.column.desc() if key.descending else key.column.asc()
    return order if _not_null(key) else order.nulls_last()


def paginate(session: Session, stmt: Select[Any], keys: list[SortKey], limit: int,
             cursor: str | None, *, rows: bool = False,
             run: Callable[[Select[Any]], Any] | None = None) -> tuple[list[Any], str | None]:
    """One page of `stmt` and the cursor of the next. `rows=True`: `stmt` selects columns and the
    page is Core rows (each sort key's column must be among them: keys read values by attribute,
    as from an ORM object); otherwise it selects one entity and the page is ORM objects. `run`:
    executes the finished statement (stmt -> result with .all()) instead of session.execute,
    e.g. crm_http.rows.scoped_rows for Core rows without the ORM's execution layer."""
    if cursor:
        stmt = stmt.where(_after(keys, decode_cursor(cursor, keys)))
    order = [_order(k) for k in keys]
    stmt = stmt.order_by(*order).limit(limit + 1)
    if run is not None:
        page = run(stmt).all()
    else:
        page = session.execute(stmt).all() if rows else list(session.scalars(stmt))
    return _page(page, keys, limit)


def _page(rows: list[Any], keys: list[SortKey], limit: int) -> tuple[list[Any], str | None]:
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(keys, [k.read(last) for k in keys])
    return rows, next_cursor
