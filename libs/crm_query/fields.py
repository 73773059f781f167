"""What a filter or sort may address: built-in columns and custom properties, with their types.

A custom property lives in a JSON column (`properties`, a dict). Its value is read through
`JsonValue`, which renders per dialect and reads a value of the wrong JSON type as NULL, so that a
stray string in a number field can neither break a query (PostgreSQL casts) nor sort oddly; the
`value_of` readers apply the same rule in Python, which keeps cursors consistent with SQL.

Stored property values follow one normal form (contacts writes them so): numbers are JSON
numbers, dates "YYYY-MM-DD", datetimes "YYYY-MM-DDTHH:MM:SSZ" (UTC, fixed width so text order is
time order), money {"amount": "12.50", "currency": "EUR"}, multi_enum a JSON array of strings.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import enum
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Numeric, String, and_, case, cast, false, func, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import ColumnElement, coercions, roles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal

from crm_core.errors import BadRequest

Expression = ColumnElement[Any] | QueryableAttribute[Any]
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"
    MULTI_ENUM = "multi_enum"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    MONEY = "money"
    UUID = "uuid"
    TAGS = "tags"  # a JSON array of strings, like multi_enum without options


TEXT_LIKE = frozenset({FieldType.TEXT, FieldType.EMAIL, FieldType.PHONE, FieldType.URL})
ARRAYS = frozenset({FieldType.MULTI_ENUM, FieldType.TAGS})


@dataclass(frozen=True, eq=False)
class Field:
    """One addressable field.

    `expression` is what WHERE and ORDER BY use; `value_of(row)` reads the same value from an
    ORM row (for cursors). `normalise` is applied to coerced filter values (e.g. str.lower for
    emails stored lower case). `json_column`/`json_key` are set for custom properties: on
    PostgreSQL, `=` and `in` then compile to JSONB containment, which a GIN index serves.
    """

    name: str
    type: FieldType
    expression: Expression
    options: tuple[str, ...] | None = None
    sortable: bool = True
    value_of: Callable[[Any], Any] | None = None
    normalise: Callable[[Any], Any] | None = None
    json_column: Expression | None = None
    json_key: str | None = None

    def __post_init__(self) -> None:
        if self.options is not None and not isinstance(self.options, tuple):
            object.__setattr__(self, "options", tuple(self.options))
        if self.value_of is None and self.sortable:
            key = getattr(self.expression, "key", None)
            if not key:
                raise ValueError(f"field {self.name!r}: give value_of for a sortable expression without a column key")
            object.__setattr__(self, "value_of", _attribute(key))

    @property
    def is_property(self) -> bool:
        return self.json_column is not None


def _attribute(key: str) -> Callable[[Any], Any]:
    def read(row: Any) -> Any:
        return getattr(row, key)

    return read


def column_field(name: str, type: FieldType | str, column: Expression, options: Sequence[str] | None = None, *,
                 sortable: bool | None = None, normalise: Callable[[Any], Any] | None = None,
                 value_of: Callable[[Any], Any] | None = None) -> Field:
    """A real column. tags/multi_enum columns are JSON arrays and are not sortable."""
    kind = FieldType(type)
    return Field(name, kind, column, tuple(options) if options is not None else None,
                 kind not in ARRAYS if sortable is None else sortable, value_of, normalise)


def property_field(key: str, type: FieldType | str, json_column: Expression, options: Sequence[str] | None = None, *,
                   name: str | None = None, normalise: Callable[[Any], Any] | None = None) -> Field:
    """A custom property `key` stored in the JSON dict column `json_column` (e.g. Contact.properties).

    Keys must be identifiers (the filter grammar could not address others anyway).
    """
    if not IDENTIFIER.match(key):
        raise ValueError(f"property key {key!r} is not an identifier")
    kind = FieldType(type)
    reader = _READ_KIND[_KIND[kind]]
    attr = getattr(json_column, "key", None)
    if not attr:
        raise ValueError("json_column must be a mapped column (its key names the row attribute)")

    def value_of(row: Any) -> Any:
        values = getattr(row, attr) or {}
        return reader(values.get(key)) if isinstance(values, dict) else None

    return Field(name or key, kind, JsonValue(json_column, key, _KIND[kind]), tuple(options) if options is not None else None,
                 kind not in ARRAYS, value_of, normalise, json_column, key)


class FieldRegistry(Mapping[str, Field]):
    """Field name -> Field. `get(name)` without a default raises a 400 naming the unknown field."""

    def __init__(self, fields: Iterable[Field] = ()) -> None:
        self._fields: dict[str, Field] = {}
        # (filter text, dialect) -> compiled WHERE clause, for registries that live across requests
        # (crm_query.compile.compile_filter); emptied whenever a field is added.
        self.compiled_filters: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.compiled_lock = threading.Lock()
        for f in fields:
            self.add(f)

    def add(self, field: Field, *, replace: bool = False) -> None:
        if field.name in self._fields and not replace:
            raise ValueError(f"field {field.name!r} is registered twice")
        self._fields[field.name] = field
        with self.compiled_lock:
            self.compiled_filters.clear()

    def __getitem__(self, name: str) -> Field:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def get(self, name: str, default: Any = ...) -> Any:  # type: ignore[override]
        found = self._fields.get(name)
        if found is not None:
            return found
        if default is not ...:
            return default
        message = f"Unknown field {name!r}"
        close = difflib.get_close_matches(name, self._fields, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        raise BadRequest(f"Invalid filter: {message}", errors={"filter": [message]})

    def sortable(self) -> list[str]:
        return sorted(n for n, f in self._fields.items() if f.sortable)


# --- stored-value normal forms ------------------------------------------------------------------

def normalise_date(value: str | dt.date) -> str:
    """'YYYY-MM-DD' (raises ValueError on anything else)."""
    if isinstance(value, dt.datetime):
        raise ValueError("expected a date, not a date-time")
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(value).isoformat() if len(value) == 10 else _raise("expected YYYY-MM-DD")


def parse_datetime(value: str | dt.datetime) -> dt.datetime:
    """An aware UTC datetime from ISO 8601; a bare date is midnight UTC, a naive time is UTC."""
    if isinstance(value, str):
        text = value.strip()
        parsed = dt.datetime.fromisoformat(text) if len(text) != 10 else dt.datetime.combine(
            dt.date.fromisoformat(text), dt.time())
    else:
        parsed = value
    try:
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    except OverflowError as exc:  # year 1 at +01:00 has no UTC form
        raise ValueError("date-time out of range") from exc


def normalise_datetime(value: str | dt.datetime) -> str:
    """'YYYY-MM-DDTHH:MM:SSZ' in UTC: the stored form of datetime properties (whole seconds)."""
    return parse_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _raise(message: str) -> Any:
    raise ValueError(message)


# --- typed reads of a JSON property -------------------------------------------------------------

# JsonValue kinds: what JSON type counts as a value, and the SQL type it reads as.
_KIND: dict[FieldType, str] = {
    FieldType.NUMBER: "number", FieldType.MONEY: "amount", FieldType.BOOL: "boolean",
    FieldType.MULTI_ENUM: "array", FieldType.TAGS: "array",
    **{t: "string" for t in (FieldType.TEXT, FieldType.EMAIL, FieldType.PHONE, FieldType.URL, FieldType.ENUM,
                             FieldType.DATE, FieldType.DATETIME, FieldType.UUID)},
}
_SQL_TYPE: dict[str, TypeEngine[Any]] = {
    "string": String(), "number": Numeric(), "amount": Numeric(), "boolean": Boolean(),
    "array": JSONB(),  # only ever rendered on PostgreSQL as jsonb; on SQLite it is JSON text
}
_AMOUNT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def _read_string(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _read_number(v: Any) -> decimal.Decimal | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return decimal.Decimal(str(v))  # str(): the shortest repr, i.e. the JSON text's value


def _read_amount(v: Any) -> decimal.Decimal | None:
    amount = v.get("amount") if isinstance(v, dict) else None
    if isinstance(amount, str):
        return decimal.Decimal(amount) if _AMOUNT.match(amount) else None
    return _read_number(amount)


def _read_bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def _read_array(v: Any) -> list[Any] | None:
    return v if isinstance(v, list) else None


_READ_KIND: dict[str, Callable[[Any], Any]] = {
    "string": _read_string, "number": _read_number, "amount": _read_amount, "boolean": _read_bool, "array": _read_array,
}


class JsonValue(ColumnElement[Any]):
    """`json_column[key]` read as `kind`, NULL when the stored JSON has another type.

    Renders per dialect (PostgreSQL jsonb operators, SQLite JSON1); parameters stay bound.
    """

    __visit_name__ = "crm_json_value"
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("json_key", InternalTraversal.dp_string),
        ("kind", InternalTraversal.dp_string),
    ]

    def __init__(self, column: Expression, key: str, kind: str) -> None:
        self.column = coercions.expect(roles.ExpressionElementRole, column)
        self.json_key = key  # not `key`: ColumnElement.key names result columns
        self.kind = kind
        self.type = _SQL_TYPE[kind]

    def render(self, dialect: str) -> ColumnElement[Any]:
        """The plain SQLAlchemy expression this stands for on `dialect`."""
        if dialect == "postgresql":
            return _postgresql(self.column, self.json_key, self.kind)
        if dialect == "sqlite":
            return _sqlite(self.column, self.json_key, self.kind)
        return _generic(self.column, self.json_key, self.kind)


def _postgresql(column: ColumnElement[Any], key: str, kind: str) -> ColumnElement[Any]:
    element = type_coerce(column, JSONB())[key]
    typeof = func.jsonb_typeof(element)
    if kind == "string":
        return type_coerce(case((typeof == "string", element.astext)), String())
    if kind == "number":
        return type_coerce(case((typeof == "number", cast(element.astext, Numeric()))), Numeric())
    if kind == "boolean":
        return type_coerce(case((typeof == "boolean", cast(element.astext, Boolean()))), Boolean())
    if kind == "array":
        return type_coerce(case((typeof == "array", element)), JSONB())
    amount = element["amount"]
    amount_type = func.jsonb_typeof(amount)
    # CASE evaluates in order, so the cast only ever sees a well-formed decimal.
    return type_coerce(case(
        (amount_type == "number", cast(amount.astext, Numeric())),
        (and_(amount_type == "string", amount.astext.regexp_match(_AMOUNT.pattern)), cast(amount.astext, Numeric())),
    ), Numeric())


def _sqlite(column: ColumnElement[Any], key: str, kind: str) -> ColumnElement[Any]:
    path = f'$."{key}"' + ('."amount"' if kind == "amount" else "")
    typeof = func.json_type(column, path)
    value = func.json_extract(column, path)
    if kind == "string":
        return type_coerce(case((typeof == "text", value)), String())
    if kind == "number":
        return type_coerce(case((typeof.in_(["integer", "real"]), value)), Numeric())
    if kind == "boolean":
        return type_coerce(case((typeof == "true", true()), (typeof == "false", false())), Boolean())
    if kind == "array":
        return case((typeof == "array", value))
    # No regex in SQLite: reject text with anything but digits, '.' and '-', or without a digit.
    well_formed = and_(typeof == "text", value.op("NOT GLOB")("*[^0-9.-]*"), value.op("GLOB")("*[0-9]*"))
    return type_coerce(case(
        (typeof.in_(["integer", "real"]), value),
        (well_formed, cast(value, Numeric())),
    ), Numeric())


def _generic(column: ColumnElement[Any], key: str, kind: str) -> ColumnElement[Any]:
    element = column[key]  # type: ignore[index]
    if kind == "string":
        return element.as_string()
    if kind == "boolean":
        return element.as_boolean()
    if kind == "amount":
        return cast(column[(key, "amount")].as_string(), Numeric())  # type: ignore[index]
    if kind == "number":
        return element.as_numeric(28, 10)
    return element


@compiles(JsonValue)
def _compile_json_value(element: JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.render(compiler.dialect.name), **kw)
