"""Filter AST -> SQLAlchemy WHERE clause, and `?sort=` -> keyset sort keys, over a FieldRegistry.

Semantics are two-valued: a missing value (SQL NULL, an absent property, a property of the wrong
JSON type, an empty tags list) never matches `=`, `<`, `in`, `contains`, `starts_with`; it does
match `!=`, `not in` and `not (...)`. To get that in SQL the compiler pushes `not` down to the
comparisons (negation normal form) and negates each one as `x IS NULL OR NOT (x op v)`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    Numeric,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement

from crm_core.errors import BadRequest
from crm_http.pagination import SortKey, sort_terms, unknown_sort, with_tiebreak
from crm_query.fields import ARRAYS, TEXT_LIKE, Field, FieldRegistry, FieldType, normalise_date, parse_datetime
from crm_query.parser import And, Comparison, Node, Not, Or, Value, filter_error, parse, render_value

_ORDERING = frozenset({"<", "<=", ">", ">="})
_EQUALITY = frozenset({"=", "in"})
_NULL = frozenset({"is null"})
# Allowed operators per type, in their positive form (`!=`, `not in`, `is not null` follow).
_ALLOWED: dict[FieldType, frozenset[str]] = {
    **{t: _EQUALITY | _ORDERING | _NULL | {"contains", "starts_with"} for t in TEXT_LIKE},
    FieldType.NUMBER: _EQUALITY | _ORDERING | _NULL,
    FieldType.MONEY: _EQUALITY | _ORDERING | _NULL,
    FieldType.DATE: _EQUALITY | _ORDERING | _NULL,
    FieldType.DATETIME: _EQUALITY | _ORDERING | _NULL,
    FieldType.UUID: _EQUALITY | _NULL,
    FieldType.ENUM: _EQUALITY | _NULL,
    FieldType.BOOL: frozenset({"="}) | _NULL,
    FieldType.MULTI_ENUM: frozenset({"contains", "in"}) | _NULL,  # in = has any of
    FieldType.TAGS: frozenset({"contains", "in"}) | _NULL,
}
# user-facing operator -> (positive operator, negated?)
_BASE: dict[str, tuple[str, bool]] = {
    "=": ("=", False), "!=": ("=", True), "in": ("in", False), "not in": ("in", True),
    "is null": ("is null", False), "is not null": ("is null", True),
    "<": ("<", False), "<=": ("<=", False), ">": (">", False), ">=": (">=", False),
    "contains": ("contains", False), "starts_with": ("starts_with", False),
}
_SPELLED = {"=": "= and !=", "in": "in and not in", "is null": "is null and is not null"}
_ORDER = ["=", "<", "<=", ">", ">=", "in", "contains", "starts_with", "is null"]
_NUMBER_TEXT = re.compile(r"^\s*-?[0-9]+(\.[0-9]+)?\s*$")
_INT64 = 2**63
COMPILED_FILTERS = 128  # per registry


def compile_filter(text: str | None, registry: FieldRegistry, dialect: str) -> ColumnElement[bool] | None:
    """`?filter=` text -> a WHERE clause (None for no filter); BadRequest on any problem.

    `dialect` is the SQLAlchemy dialect name ("postgresql", "sqlite"): on PostgreSQL `=`/`in` on
    custom properties and array membership compile to `@>` containment, which GIN indexes serve.
    """
    if text is None or not text.strip():
        return None
    # A clause is immutable and time-independent: the same text over the same registry compiles
    # to the same clause, so a registry cached per tenant (contacts) compiles each filter once.
    key, cache = (text, dialect), registry.compiled_filters
    with registry.compiled_lock:
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
    compiled = compile_node(parse(text), registry, dialect)  # a BadRequest is not cached
    with registry.compiled_lock:
        cache[key] = compiled
        while len(cache) > COMPILED_FILTERS:
            cache.popitem(last=False)
    return compiled


def compile_node(node: Node, registry: FieldRegistry, dialect: str) -> ColumnElement[bool]:
    return _Compiler(registry, dialect).compile(node, negated=False)


class _Compiler:
    def __init__(self, registry: FieldRegistry, dialect: str) -> None:
        self.registry = registry
        self.pg = dialect == "postgresql"

    def compile(self, node: Node, negated: bool) -> ColumnElement[bool]:
        if isinstance(node, Not):
            return self.compile(node.item, not negated)
        if isinstance(node, And | Or):
            parts = [self.compile(item, negated) for item in node.items]
            # De Morgan: a negated AND is an OR of negations, and vice versa.
            return (or_ if isinstance(node, And) == negated else and_)(*parts)
        return self.comparison(node, negated)

    def comparison(self, node: Comparison, negated: bool) -> ColumnElement[bool]:
        field = self.registry.get(node.field)
        op, flip = _BASE[node.op]
        negated ^= flip
        self.check_operator(field, node, op)
        if op == "is null":
            missing = self.is_null(field)
            return not_(missing) if negated else missing
        values = [self.coerce(field, v) for v in node.values]
        positive, nullable = self.positive(field, op, values)
        if not negated:
            return positive
        return not_(positive) if nullable is None else or_(nullable.is_(None), not_(positive))

    def check_operator(self, field: Field, node: Comparison, op: str) -> None:
        allowed = _ALLOWED[field.type]
        if op in allowed:
            return
        spelled = ", ".join(_SPELLED.get(o, o) for o in sorted(allowed, key=_ORDER.index))
        message = (f"Operator {node.op!r} is not supported for {field.type} field {node.field!r} "
                   f"(at position {node.position}); use {spelled}")
        if field.type in ARRAYS and op == "=":
            message += f" (`{node.field} contains 'x'` tests for an element)"
        raise filter_error(message)

    # --- values ---------------------------------------------------------------------------------

    def coerce(self, field: Field, literal_: Value) -> Any:
        value = self._coerce(field, literal_)
        if field.normalise is None:
            return value
        try:
            return field.normalise(value)
        except ValueError as exc:  # e.g. a phone number that cannot be normalised: the client's mistake
            raise filter_error(f"Field {field.name!r}: {exc} (got {render_value(literal_)} "
                               f"at position {literal_.position})") from None

    def _coerce(self, field: Field, lit: Value) -> Any:
        kind = field.type

        def bad(expected: str) -> BadRequest:
            return filter_error(f"Field {field.name!r} ({kind}) expects {expected}, got {render_value(lit)} "
                                f"at position {lit.position}")

        if kind in TEXT_LIKE or kind in ARRAYS or kind is FieldType.ENUM:
            if lit.kind == "bool":
                raise bad("a quoted string")
            text = str(lit.value) if lit.kind == "string" else (lit.raw or str(lit.value))
            if field.options is not None and kind in (FieldType.ENUM, FieldType.MULTI_ENUM):
                return self._option(field, text, lit)
            return text
        if kind in (FieldType.NUMBER, FieldType.MONEY):
            if lit.kind == "number":
                return lit.value
            if lit.kind == "string" and _NUMBER_TEXT.match(str(lit.value)):
                return decimal.Decimal(str(lit.value).strip())
            raise bad("a number")
        if kind is FieldType.BOOL:
            if lit.kind == "bool":
                return lit.value
            if lit.kind == "string" and str(lit.value).strip().lower() in ("true", "false"):
                return str(lit.value).strip().lower() == "true"
            raise bad("true or false")
        if lit.kind != "string":
            raise bad({FieldType.DATE: "a date 'YYYY-MM-DD'", FieldType.DATETIME: "an ISO 8601 date-time string",
                       FieldType.UUID: "a quoted UUID"}[kind])
        text = str(lit.value)
        try:
            if kind is FieldType.DATE:
                day = normalise_date(text.strip())
                return day if field.is_property else dt.date.fromisoformat(day)
            if kind is FieldType.DATETIME:
                moment = parse_datetime(text)
                # Properties store whole seconds in UTC as fixed-width text: compare in that form.
                return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if field.is_property else moment
            ident = uuid.UUID(text.strip())
            return str(ident) if field.is_property else ident
        except ValueError:
            raise bad({FieldType.DATE: "a date 'YYYY-MM-DD'", FieldType.DATETIME: "an ISO 8601 date-time",
                       FieldType.UUID: "a UUID"}[kind]) from None

    def _option(self, field: Field, text: str, lit: Value) -> str:
        options = field.options or ()
        if text in options:
            return text
        folded = [o for o in options if o.lower() == text.lower()]
        if len(folded) == 1:  # 'Lead' means 'lead' when that is unambiguous
            return folded[0]
        raise filter_error(f"Field {field.name!r} must be one of: {', '.join(options)}; got {text!r} "
                           f"at position {lit.position}")

    # --- SQL ------------------------------------------------------------------------------------

    def positive(self, field: Field, op: str, values: list[Any]) -> tuple[ColumnElement[bool], Any]:
        """(the comparison, the expression whose NULL means "no value" or None when it is two-valued)."""
        expr: Any = field.expression
        if field.type in ARRAYS:
            nullable = (field.json_column if field.is_property else expr) if self.pg else None
            return or_(*(self.has_element(field, v) for v in dict.fromkeys(values))), nullable
        if self.pg and field.is_property and op in _EQUALITY and field.type is not FieldType.MONEY:
            # JSONB containment (`properties @> '{"plan": "pro"}'`): served by a GIN jsonb_path_ops index.
            column = type_coerce(field.json_column, JSONB())
            wanted = [_json_object(field.json_key or "", v) for v in dict.fromkeys(values)]
            return or_(*(column.contains(cast(literal(w, String()), JSONB())) for w in wanted)), field.json_column
        if op == "contains":
            return expr.icontains(values[0], autoescape=True), expr
        if op == "starts_with":
            return expr.istartswith(values[0], autoescape=True), expr
        if field.type in (FieldType.NUMBER, FieldType.MONEY):
            values = [_number(expr, v) for v in values]
        if op == "in":
            return expr.in_(list(dict.fromkeys(values))), expr
        operators: dict[str, Callable[[Any, Any], Any]] = {
            "=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        }
        return operators[op](expr, values[0]), expr

    def has_element(self, field: Field, value: str) -> ColumnElement[bool]:
        if self.pg:
            if field.is_property:
                return type_coerce(field.json_column, JSONB()).contains({field.json_key: [value]})
            return type_coerce(field.expression, JSONB()).contains([value])
        elements = func.json_each(field.expression).table_valued("value")
        return exists(select(literal(1)).select_from(elements).where(elements.c.value == value))

    def is_null(self, field: Field) -> ColumnElement[bool]:
        expr: Any = field.expression
        if field.type not in ARRAYS:
            return expr.is_(None)
        # No value = SQL NULL, JSON null, not an array, or an empty array.
        if self.pg:
            array = type_coerce(expr, JSONB())
            length = func.jsonb_array_length(_case_array(array))
        else:
            length = func.json_array_length(expr)
        return func.coalesce(length, 0) == 0


def _case_array(array: Any) -> Any:
    # jsonb_array_length raises on a non-array: only hand it arrays.
    return case((func.jsonb_typeof(array) == "array", array))


def _number(expr: Any, value: decimal.Decimal) -> Any:
    """Bind a filter number so the column's index stays usable and nothing is rounded."""
    column_type = getattr(expr, "type", None)
    if isinstance(column_type, Integer):
        if value == value.to_integral_value() and -_INT64 <= value < _INT64:
            return literal(int(value), BigInteger())  # int vs bigint: same btree operator family
        return literal(value, Numeric())  # 2.5 must not round to an integer
    if isinstance(column_type, Float) and not column_type.asdecimal:
        return float(value)
    return literal(value, Numeric())


def _json_object(key: str, value: Any) -> str:
    """`{"key": value}` as JSON text; decimals are written exactly, not through float."""
    if isinstance(value, bool):
        scalar = "true" if value else "false"
    elif isinstance(value, decimal.Decimal):
        scalar = str(value)
    else:
        scalar = json.dumps(value)
    return "{" + json.dumps(key) + ":" + scalar + "}"


# --- sort ---------------------------------------------------------------------------------------

def parse_sort(raw: str | None, registry: FieldRegistry, default: str, tiebreak_field: Field) -> list[SortKey]:
    """`?sort=-created_at,name` -> keyset sort keys; 400 naming an unknown or unsortable field.

    `tiebreak_field` (a unique column, normally id) is appended so the order is total.
    """
    keys: list[SortKey] = []
    for name, descending in sort_terms(raw, default):
        field = registry.get(name, None)
        if field is None or not field.sortable:
            why = "Unknown field" if field is None else f"Field of type {field.type} cannot be sorted:"
            raise unknown_sort(name, registry.sortable(), why)
        keys.append(SortKey(name, field.expression, descending, field.value_of))
    tiebreak = SortKey(tiebreak_field.name, tiebreak_field.expression, False, tiebreak_field.value_of)
    return with_tiebreak(keys, tiebreak)

