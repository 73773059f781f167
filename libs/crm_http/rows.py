"""Output schemas compiled for SQLAlchemy Core rows: lists and reads without ORM objects or marshmallow.

`compile_rows(schema, model)` turns an output schema into a `RowSerializer`: the columns to select
(every mapped column of the model, minus `omit`) and one generated function that unpacks a Core row
by position and builds exactly the dict `schema.dump(orm_object)` builds (same keys in the same
order, the same value conversions, post_dump hooks applied). It is built once per schema, when the
routes are registered, never per request.

What it knows: String/Email, Integer, Boolean, UUID, Date, UtcDateTime, Lists of those (or of
anything, through the inner field), Nested (dumped with the nested schema), Function fields (called
with the row, which reads columns by attribute like the ORM object would), and any other field
whose attribute is a selected column (through the field's own `_serialize`). Method fields need the
schema, often the ORM session (`object_session`), so they need an explicit `computed` entry
`name -> (row, context) -> value`; `context` is what the caller computed once for the page (e.g.
the tenant's active custom fields). A field it cannot serve (a relationship, a Method without a
`computed` entry, a pre_dump hook) makes `compile_rows` raise `NotCompilable`; callers then stay on
the schema path. tests/unit/test_row_serialisers.py keeps every service's output equal to its schema.
"""

from __future__ import annotations

import collections
import datetime as dt
import keyword
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, missing
from marshmallow.schema import POST_DUMP, PRE_DUMP
from marshmallow.utils import ensure_text_type
from sqlalchemy import inspect

from crm_core import context
from crm_db.base import TenantScoped
from crm_db.tenancy import TenantGuardError
from crm_http.fields import UtcDateTime

Computed = Callable[[Any, Any], Any]  # (row, context) -> value
_UTC = dt.UTC


class NotCompilable(ValueError):
    """The schema has a field the row serialiser cannot reproduce from columns."""


def utc_text(value: dt.datetime | None) -> str | None:
    """UtcDateTime's output: ISO 8601 in UTC with a Z (a naive value, from SQLite, is UTC)."""
    if value is None:
        return None
    offset = value.utcoffset()
    # Naive (SQLite) or at offset zero (psycopg's values in a UTC session, tzinfo Etc/UTC): the
    # wall time is UTC already, so no conversion, and the "+00:00" isoformat ends with is
    # swapped for a Z by slicing. The same text as the general form below.
    if offset is None:
        return value.isoformat() + "Z"
    if not offset:
        return value.isoformat()[:-6] + "Z"
    return value.astimezone(_UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class RowSerializer:
    """`columns` to select; `dump(row, context)` -> the schema's output for that row."""

    schema: Schema
    columns: tuple[Any, ...]  # mapped attributes, e.g. Contact.id, in the order `dump` unpacks them
    dump: Callable[[Any, Any], dict[str, Any]]
    source: str  # the generated function, for debugging
    make_context: Callable[[Any], Any] | None = None  # session -> what `computed` entries read
    make_prefetch: Callable[[], Sequence[Any]] | None = None  # () -> crm_db.tenancy.Prefetch reads
    # The same columns as plain table columns (labelled with the attribute's key where the column's
    # name differs): what a Core execution (scoped_rows) selects. ORM-annotated columns there make
    # SQLAlchemy match every result column to the statement again on each execution.
    table_columns: tuple[Any, ...] = ()

    def context(self, session: Any) -> Any:
        """Computed once per page or read, in its transaction."""
        return None if self.make_context is None else self.make_context(session)

    def prefetch(self) -> Sequence[Any]:
        """Reads the context (or a list's filter fields) needs, to send with the transaction's BEGIN."""
        return () if self.make_prefetch is None else self.make_prefetch()

    def many(self, rows: Iterable[Any], context: Any = None) -> list[dict[str, Any]]:
        dump = self.dump
        return [dump(row, context) for row in rows]


def _pure_string(f: fields.Field) -> bool:
    return type(f) in (fields.String, fields.Email)


def _expr(f: fields.Field, var: str, env: dict[str, Any], tag: str) -> str:
    """A Python expression for `f`'s output of the value in `var` (a plain name)."""
    kind = type(f)
    if kind in (fields.String, fields.Email):
        env["_text"] = ensure_text_type
        return f"({var} if {var} is None or {var}.__class__ is str else _text({var}))"
    if kind is fields.Integer and not f.as_string:  # type: ignore[attr-defined]
        return f"({var} if {var} is None or {var}.__class__ is int else int({var}))"
    if kind is fields.Boolean:
        env[f"_b{tag}"] = f
        # Boolean's own sets of truthy/falsy values decide, as in Boolean._serialize.
        return f"({var} if {var} is None or {var}.__class__ is bool else _b{tag}._serialize({var}, None, None))"
    if kind is fields.UUID:
        return f"(None if {var} is None else str({var}))"
    if kind is fields.Date and f.format in (None, "iso"):  # type: ignore[attr-defined]
        return f"(None if {var} is None else {var}.isoformat())"
    if kind is UtcDateTime:
        env["_utc"] = utc_text
        return f"(None if {var} is None else _utc({var}))"  # no call for the (many) nulls
    if kind is fields.List:
        inner = f.inner  # type: ignore[attr-defined]
        if _pure_string(inner):
            env["_text"] = ensure_text_type
            each = "(e if e is None or e.__class__ is str else _text(e))"
        else:
            each = _expr(inner, "e", env, tag + "i")
        return f"(None if {var} is None else [{each} for e in {var}])"
    if kind is fields.Nested:
        env[f"_n{tag}"] = f
        slow = f"_n{tag}.schema.dump({var}, many=_n{tag}.schema.many or _n{tag}.many)"
        fast = _compile_nested(f)
        if fast is None:
            return f"(None if {var} is None else {slow})"
        env[f"_nd{tag}"] = fast
        # A JSON column holds a plain dict: the compiled dump; anything else goes to the schema.
        return f"(None if {var} is None else _nd{tag}({var}) if {var}.__class__ is dict else {slow})"
    env[f"_f{tag}"] = f
    return f"_f{tag}._serialize({var}, None, row)"


_MISSING = missing


def _compile_nested(f: fields.Nested) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """`f.schema.dump(value)` for a plain dict `value` (a JSON column), as generated code; None
    where marshmallow's dump could differ from a key lookup per field (hooks, many, a custom
    accessor or get_value, dump defaults, dotted attributes, names that are dict attributes)."""
    schema = f.schema
    if (schema.many or f.many or schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]
            or type(schema).get_attribute is not Schema.get_attribute or schema.dict_class is not dict):
        return None
    env: dict[str, Any] = {"_m": _MISSING}
    lines = ["def nd(row):", "    out = {}"]
    for n, (name, field) in enumerate(schema.dump_fields.items()):
        attr = field.attribute or name
        if (not field._CHECK_ATTRIBUTE or type(field).get_value is not fields.Field.get_value
                or field.dump_default is not _MISSING or "." in attr or hasattr(dict, attr)
                or isinstance(field, fields.Method | fields.Function)):
            return None
        out = field.data_key if field.data_key is not None else name
        lines.append(f"    v = row.get({attr!r}, _m)")
        lines.append("    if v is not _m:")
        lines.append(f"        out[{out!r}] = {_expr(field, 'v', env, f'x{n}')}")
    lines.append("    return out")
    namespace = dict(env)
    exec(compile("\n".join(lines) + "\n", f"<rows nested {type(schema).__name__}>", "exec"), namespace)  # noqa: S102
    return namespace["nd"]


def compile_rows(schema: Schema, model: type, *, computed: dict[str, Computed] | None = None,
                 omit: Sequence[str] = (), context: Callable[[Any], Any] | None = None,
                 prefetch: Callable[[], Sequence[Any]] | None = None) -> RowSerializer:
    """Compile `schema`'s output for Core rows of `select(*serializer.columns)` over `model`."""
    computed = dict(computed or {})
    if schema._hooks[PRE_DUMP] or any(many for _, many, _ in schema._hooks[POST_DUMP]):
        raise NotCompilable(f"{type(schema).__name__} has pre_dump or pass_collection post_dump hooks")
    mapper = inspect(model)
    keys = [a.key for a in mapper.column_attrs if a.key not in omit]
    position = {k: i for i, k in enumerate(keys)}
    env: dict[str, Any] = {}
    items: list[str] = []
    for n, (name, f) in enumerate(schema.dump_fields.items()):
        out = f.data_key or name
        tag = str(n)
        if name in computed:
            env[f"_c{tag}"] = computed.pop(name)
            items.append(f"{out!r}: _c{tag}(row, ctx)")
            continue
        if isinstance(f, fields.Method):
            raise NotCompilable(f"{type(schema).__name__}.{name} is a Method field; give it a `computed` entry")
        if isinstance(f, fields.Function):
            env[f"_fn{tag}"] = f.serialize_func
            items.append(f"{out!r}: _fn{tag}(row)")
            continue
        attr = f.attribute or name
        if attr not in position:
            raise NotCompilable(f"{type(schema).__name__}.{name} reads {attr!r}, which is not a selected column of "
                                f"{model.__name__}")
        items.append(f"{out!r}: {_expr(f, f'c{position[attr]}', env, tag)}")
    if computed:
        raise NotCompilable(f"computed entries without a field: {', '.join(computed)}")
    names = [f"c{i}" for i in range(len(keys))]
    if any(keyword.iskeyword(n) for n in names):  # pragma: no cover - c<number> never is
        raise NotCompilable("bad name")
    body = "{" + ", ".join(items) + "}"
    hooks = schema._hooks[POST_DUMP]
    if hooks:
        env["_post"] = schema._invoke_dump_processors
        result = f"_post({POST_DUMP!r}, {body}, many=False, original_data=row)"
    else:
        result = body
    unpack = f"    {', '.join(names)}, = row\n" if names else ""
    source = f"def dump(row, ctx=None):\n{unpack}    return {result}\n"
    namespace: dict[str, Any] = dict(env)
    exec(compile(source, f"<rows {type(schema).__name__}>", "exec"), namespace)  # noqa: S102 - our own text
    columns = tuple(getattr(model, k) for k in keys)
    table_columns = []
    for k in keys:
        column = mapper.column_attrs[k].columns[0]
        table_columns.append(column if column.key == k else column.label(k))
    return RowSerializer(schema, columns, namespace["dump"], source, context, prefetch, tuple(table_columns))


def schema_rows(schema: Schema, model: type) -> RowSerializer | None:
    """The schema's row serialiser, declared on the schema class where it needs more than its fields:

        row_computed = {"properties": lambda row, active: ...}   # Method fields, by field name
        row_context = staticmethod(lambda session: ...)          # the `active` above, once per page
        row_omit = ("search_text",)                              # columns the output never reads
        row_prefetch = staticmethod(lambda: [...])               # tenancy.Prefetch reads for BEGIN

    None where the schema has to stay on the ORM path (see NotCompilable)."""
    try:
        return compile_rows(schema, model, computed=getattr(schema, "row_computed", None),
                            omit=getattr(schema, "row_omit", ()), context=getattr(schema, "row_context", None),
                            prefetch=getattr(schema, "row_prefetch", None))
    except NotCompilable:
        return None


def scoped_rows(session: Any, stmt: Any, model: type) -> Any:
    """`session.execute(stmt)` for a select of `model`'s columns, as a Core execution on the
    session's connection: the same rows without the ORM's execute layer (a fifth of a list's CPU).

    The ORM path scopes the statement to the tenant in context (crm_db.tenancy's criteria); here
    `model.tenant_id = <tenant>` is added by hand, which is the same for a statement over `model`'s
    own table only (what RecordRoutes builds: filters, search and cursors read its columns). RLS
    still applies on PostgreSQL; on SQLite this condition is the only guard. Tenant data without
    a tenant in context is refused, as the ORM path refuses it (its guard doesn't see bare table
    columns); a model that is not tenant-scoped goes through session.execute."""
    if not issubclass(model, TenantScoped):
        return session.execute(stmt)
    tenant = context.current_tenant()
    if tenant is None:
        raise TenantGuardError(f"query on {model.__name__} without a tenant in context")
    return session.connection().execute(stmt.where(model.tenant_id == tenant))  # type: ignore[attr-defined]


def driver_row_type(columns: Sequence[Any], dialect: Any) -> Callable[..., Any] | None:
    """A named tuple type standing for the Core row of `select(*columns)` built from the driver's
    own tuple (a tenancy.Prefetch read on PostgreSQL hands back psycopg's tuples): attribute and
    positional access, the same values. None where a column's type converts the driver's value
    (a result processor: Numeric, Enum, a TypeDecorator...): those rows need SQLAlchemy's result."""
    for column in columns:
        try:
            if column.type._cached_result_processor(dialect, None) is not None:
                return None
        except Exception:  # noqa: BLE001 - a processor that needs the driver's type code: not plain
            return None
    return collections.namedtuple("Row", [c.key for c in columns])  # type: ignore[misc]
