"""CSV columns <-> record fields, shared by imports (cells in) and exports (cells out).

A field key is what a CSV column maps to: a built-in field ("email", "tags"), a part of the
address ("address.city") or a custom field ("plan", also accepted as "properties.plan"). Lists
(tags, emails, multi_enum) are joined with ";" in a cell; an empty cell means "no value".
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import functools
import hashlib
import itertools
import json
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TextIO

from marshmallow import Schema, ValidationError, fields, validate
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow.utils import missing
from sqlalchemy.orm import Session

from contacts.models import PropertyDefinition
from contacts.schemas.companies import CompanyInSchema
from contacts.schemas.contacts import ContactInSchema
from contacts.service.jobs import JobFailed
from contacts.service.properties import PropertyValueError, active_definitions, from_text
from crm_http.fields import UtcDateTime

OBJECTS = {"contacts": "contact", "companies": "company"}
Record = tuple[int, list[str]]  # (row number in the file, the header being row 1; its cells)
# Cells a spreadsheet would run as a formula start with one of these; exports prefix them with '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Exported, never imported (the service derives them).
_READ_ONLY = {"contact": ("lead_score", "last_contacted_at", "created_at", "updated_at"),
              "company": ("last_contacted_at", "created_at", "updated_at")}


@dataclass(frozen=True)
class FieldSpec:
    key: str  # column-facing key: "email", "address.city", "plan"
    kind: str  # text | list | address | property | derived
    definition: PropertyDefinition | None = None

    @property
    def part(self) -> str:
        """The attribute inside the record: "city" of "address.city", the property key, or the key."""
        return self.key.split(".", 1)[1] if self.kind == "address" else self.key


def _schema(object_: str) -> Schema:
    return ContactInSchema() if object_ == "contact" else CompanyInSchema()


def builtin_fields(object_: str) -> list[FieldSpec]:
    """Writable built-in fields in the schema's order, the address spelled out part by part."""
    out: list[FieldSpec] = []
    for name, field in _schema(object_).fields.items():
        if name == "properties":
            continue
        if isinstance(field, fields.Nested):
            nested = field.schema
            out += [FieldSpec(f"{name}.{sub}", "address") for sub in nested.fields]
        else:
            out.append(FieldSpec(name, "list" if isinstance(field, fields.List) else "text"))
    return out


def field_specs(session: Session, object_: str, *, with_derived: bool = False) -> dict[str, FieldSpec]:
    """Every field key a column may map to (built-in, then the tenant's active custom fields)."""
    specs = {f.key: f for f in builtin_fields(object_)}
    if with_derived:
        specs.update({k: FieldSpec(k, "derived") for k in _READ_ONLY[object_]})
    for key, definition in active_definitions(session, object_).items():
        specs[key] = FieldSpec(key, "property", definition)
    return specs


def resolve_key(specs: dict[str, FieldSpec], key: str) -> FieldSpec | None:
    if key.startswith("properties."):
        found = specs.get(key[len("properties."):])
        return found if found is not None and found.kind == "property" else None
    return specs.get(key)


def header_key(column: str) -> str:
    """How a header names a field without a mapping: case-insensitive, spaces as _."""
    return "_".join(column.strip().lower().split())


def unneutralise(cell: str) -> str:
    """Undo an export's formula guard ("'+4930..." -> "+4930..."), so exported files import back."""
    if len(cell) > 1 and cell[0] == "'" and cell[1] in "=+-@\t\r":
        return cell[1:]
    return cell


def row_values(columns: list[tuple[int, FieldSpec]], cells: list[str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """One CSV record -> the JSON-shaped values its schema loads, plus errors of cells that could
    not even be read (a custom number that is not a number). Empty cells are left out."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for index, spec in columns:
        raw = unneutralise(cells[index]).strip() if index < len(cells) else ""
        if not raw:
            continue
        if spec.kind == "list":
            values[spec.key] = [part.strip() for part in raw.split(";") if part.strip()]
        elif spec.kind == "address":
            values.setdefault("address", {})[spec.part] = raw
        elif spec.kind == "property":
            assert spec.definition is not None
            try:
                values.setdefault("properties", {})[spec.key] = from_text(spec.definition, raw)
            except PropertyValueError as exc:
                errors[f"properties.{spec.key}"] = [str(exc)]
        else:
            values[spec.key] = raw
    return values, errors


def fast_loader(schema: Schema) -> Callable[[dict[str, Any]], dict[str, Any] | None] | None:
    """`schema.load` for the values of a CSV row without marshmallow's per-load machinery (error
    store, getters, hook lookup), which costs more than the checks themselves. Each field's own
    validators and hooks still run, so what it accepts it accepts exactly like the schema; it
    answers None for anything it cannot vouch for (any error, an unknown key, a missing required
    field) and the caller then loads with the schema, whose messages are the ones users see.
    None (no fast path) for a schema using a feature this does not know."""
    hooks = schema._hooks
    if hooks[VALIDATES] or any(many or kw.get("pass_original") for tag in (PRE_LOAD, POST_LOAD, VALIDATES_SCHEMA)
                               for _, many, kw in hooks[tag]):
        return None
    pre = [getattr(schema, name) for name, _, _ in hooks[PRE_LOAD]]
    checks = [getattr(schema, name) for name, _, _ in hooks[VALIDATES_SCHEMA]]
    post = [getattr(schema, name) for name, _, _ in hooks[POST_LOAD]]
    unknown = schema.unknown
    plan: list[tuple[str, str, Callable[[Any, str, Any], Any]]] = []
    required: list[str] = []
    for name, f in schema.load_fields.items():
        key, attr = f.data_key or name, f.attribute or name
        if f.load_default is not missing or "." in attr:
            return None
        if f.required:
            required.append(key)
        plan.append((key, attr, _field_loader(f)))
    known = {key for key, _, _ in plan}

    def load(data: dict[str, Any]) -> dict[str, Any] | None:
        try:
            for hook in pre:
                data = hook(data, many=False, partial=None, unknown=unknown)
            if not known.issuperset(data) or any(k not in data for k in required):
                return None
            out: dict[str, Any] = {}
            for key, attr, convert in plan:  # in the schema's field order, as marshmallow builds it
                if key in data:
                    out[attr] = convert(data[key], key, data)
            for check in checks:
                check(out, partial=None, many=False, unknown=unknown)
            for hook in post:
                out = hook(out, many=False, partial=None, unknown=unknown)
            return out
        except ValidationError:
            return None

    return load


def _field_loader(f: fields.Field) -> Callable[[Any, str, Any], Any]:
    """One field's deserialize: strings and UUIDs inline (the type check, then the field's own
    validators), lists of them element by element, anything else through field.deserialize."""
    if f.pre_load or f.post_load:
        return f.deserialize
    checks = [_validator_check(v) for v in f.validators]

    def validated(value: Any) -> Any:
        for check in checks:
            if not check(value):
                raise ValidationError("invalid")
        return value

    if type(f) in (fields.String, fields.Email):
        def load_string(value: Any, _key: str, _data: Any) -> Any:
            if type(value) is not str:  # None, bytes, numbers: the field decides
                return f.deserialize(value, _key, _data)
            return validated(value) if checks else value
        return load_string
    if type(f) is fields.UUID:
        def load_uuid(value: Any, _key: str, _data: Any) -> Any:
            if type(value) is not str:
                return f.deserialize(value, _key, _data)
            try:
                return validated(uuid.UUID(value))
            except ValueError as exc:
                raise ValidationError("invalid") from exc
        return load_uuid
    if type(f) is fields.List and type(f.inner) in (fields.String, fields.Email, fields.UUID):
        inner = _field_loader(f.inner)

        def load_list(value: Any, key: str, data: Any) -> Any:
            if type(value) is not list:
                return f.deserialize(value, key, data)
            return validated([inner(v, key, data) for v in value])
        return load_list
    if (isinstance(f, fields.Mapping) and type(f)._deserialize is fields.Mapping._deserialize and f.mapping_type is dict
            and f.value_field is None and f.key_field is not None):  # custom properties: keys checked, values as given
        key_loader = _field_loader(f.key_field)

        def load_mapping(value: Any, key: str, data: Any) -> Any:
            if type(value) is not dict:
                return f.deserialize(value, key, data)
            result = {key_loader(k, k, value): v for k, v in value.items()}
            return validated(result) if checks else result
        return load_mapping
    return f.deserialize


def _validator_check(validator: Callable[[Any], Any]) -> Callable[[Any], bool]:
    """A validator as a yes/no test. Length and OneOf (most of a row's validators) are inlined:
    the same comparisons as their __call__, without building the error message a failure then
    needs (the schema path words it); any other validator runs as itself."""
    if type(validator) is validate.Length:
        equal, lo, hi = validator.equal, validator.min, validator.max
        if equal is not None:
            return lambda value: len(value) == equal
        if lo is not None and hi is not None:
            return lambda value: lo <= len(value) <= hi
        if hi is not None:
            return lambda value: len(value) <= hi
        if lo is not None:
            return lambda value: len(value) >= lo
        return lambda value: (len(value), True)[1]  # len() still refuses an unsized value
    if type(validator) is validate.OneOf:
        choices = validator.choices

        def one_of(value: Any) -> bool:
            try:
                return value in choices
            except TypeError:
                return False
        return one_of
    return lambda value: validator(value) is not False


def reason(errors: dict[str, list[str]]) -> str:
    """Field errors as one line for the errors CSV: "email: Not a valid email address.; phone: ..."."""
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())


# --- the uploaded file -------------------------------------------------------------------------

def read_csv(text: TextIO) -> tuple[list[str], Iterator[Record]]:
    """(header, records) of an upload; blank lines are skipped but keep their row numbers. The
    delimiter (`,` `;` or tab) is the one the header line uses most."""
    try:
        first = text.readline()
    except UnicodeDecodeError as exc:
        raise JobFailed("The file is not UTF-8 text; save it as CSV UTF-8 and import again.") from exc
    if not first.strip():
        raise JobFailed("The file is empty or does not start with a header row.")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(_text_lines(itertools.chain([first], text)), delimiter=delimiter)
    try:
        header = [c.strip() for c in next(reader)]
    except csv.Error as exc:
        raise JobFailed(f"The header row is not readable as CSV ({exc}).") from exc
    if not any(header):
        raise JobFailed("The file does not start with a header row naming its columns.")
    named = [h for h in header if h]
    if len(set(named)) != len(named):
        twice = next(h for h in named if named.count(h) > 1)
        raise JobFailed(f"The header names the column {twice!r} twice.")

    def records() -> Iterator[Record]:
        number = 1
        try:
            for cells in reader:
                number += 1
                if cells and (cells[0].strip() or any(c.strip() for c in cells)):  # the first cell mostly decides
                    yield number, cells
        except UnicodeDecodeError as exc:
            raise JobFailed(f"Row {number + 1}: the file is not UTF-8 text; save it as CSV UTF-8 and import again.") from exc
        except csv.Error as exc:
            raise JobFailed(f"Row {number + 1}: the file is not readable as CSV ({exc}).") from exc

    return header, records()


def _text_lines(lines: Iterator[str]) -> Iterator[str]:
    """Lines of text; a NUL means a binary file (the csv module would read it as a character)."""
    for line in lines:
        if "\x00" in line:
            raise csv.Error("it contains NUL bytes, so it is a binary file, not text")
        yield line


def plan_columns(header: list[str], mapping: dict[str, str | None], specs: dict[str, FieldSpec],
                 object_: str) -> tuple[list[tuple[int, FieldSpec]], dict[str, str], list[str]]:
    """Which column feeds which field: the mapping first, else a header equal to a field key."""
    missing = [c for c in mapping if c not in header]
    if missing:
        raise JobFailed(f"The mapping names columns the file does not have: {', '.join(missing)}.")
    columns: list[tuple[int, FieldSpec]] = []
    mapped: dict[str, str] = {}
    ignored: list[str] = []
    for index, column in enumerate(header):
        target = mapping[column] if column in mapping else header_key(column)
        spec = resolve_key(specs, target) if target else None
        if spec is None or spec.kind == "derived":
            if column in mapping and target:
                raise JobFailed(f"The mapping sends {column!r} to {target!r}, which is not a field (any more).")
            ignored.append(column)
            continue
        if spec.key in mapped.values():
            other = next(c for c, k in mapped.items() if k == spec.key)
            raise JobFailed(f"The columns {other!r} and {column!r} both map to {spec.key!r}.")
        columns.append((index, spec))
        mapped[column] = spec.key
    if not columns:
        raise JobFailed(f"No column matches a {object_} field (columns: {', '.join(header)}); "
                        f"name them like the fields ({', '.join(list(specs)[:12])}, ...) or send a mapping.")
    return columns, mapped, ignored


# --- cells out ---------------------------------------------------------------------------------

def neutralise(cell: str) -> str:
    """Guard against spreadsheet formula injection: the quote is then part of the cell's text."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def cell(value: Any) -> str:
    """A field value as CSV text: lists joined with ";", money as "12.50 EUR", times in UTC ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(cell(v) for v in value)
    if isinstance(value, dict):
        if set(value) == {"amount", "currency"}:
            return f"{value['amount']} {value['currency']}"
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, dt.datetime):
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID | dt.date):
        return str(value)
    return str(value)


def export_value(record: Any, spec: FieldSpec) -> Any:
    if spec.kind == "address":
        address = record.address or {}
        return address.get(spec.part)
    if spec.kind == "property":
        return (record.properties or {}).get(spec.key)
    return getattr(record, spec.key)


def row_dumper(schema: Schema) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The schema's output for a freshly inserted row (a dict of column values) without building an
    ORM object and running marshmallow over it, which costs more than the insert itself. Plain
    fields are copied, ids and times converted, Function fields read a namespace of the row, and
    `properties` (just checked against the active definitions) is taken as is. None when the schema
    has a field this does not know: callers then dump a model object with the schema."""
    plan: list[tuple[str, str, Callable[[Any], Any] | None]] = []
    namespace = False
    for key, f in schema.dump_fields.items():
        name, attr = f.data_key or key, f.attribute or key
        if key == "properties":
            plan.append((name, attr, dict))
        elif isinstance(f, UtcDateTime):
            plan.append((name, attr, _utc_converter(f)))
        elif isinstance(f, fields.UUID):
            plan.append((name, attr, _str_or_none))
        elif type(f) in (fields.String, fields.Email, fields.Integer, fields.Boolean):
            plan.append((name, attr, None))
        elif isinstance(f, fields.List) and type(f.inner) in (fields.String, fields.Email):
            plan.append((name, attr, list))
        elif isinstance(f, fields.Nested):
            plan.append((name, attr, functools.partial(_nested, f)))
        elif isinstance(f, fields.Function):
            plan.append((name, "", functools.partial(_function, f, key)))
            namespace = True
        else:
            return None

    def dump(row: dict[str, Any]) -> dict[str, Any]:
        ns = SimpleNamespace(**row) if namespace else None
        out: dict[str, Any] = {}
        for name, attr, convert in plan:
            if not attr:
                out[name] = convert(ns)  # type: ignore[misc]
                continue
            value = row.get(attr)
            out[name] = value if convert is None or value is None else convert(value)
        return out

    return dump


def _utc_converter(f: UtcDateTime) -> Callable[[Any], Any]:
    """The field's output, remembered for the last value: a batch's rows share one timestamp object."""
    last: list[Any] = [None, None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[:] = [value, f._serialize(value, None, None)]
        return last[1]
    return convert


def _str_or_none(value: Any) -> str:
    return str(value)


def _nested(f: fields.Nested, value: Any) -> Any:
    return f.schema.dump(value)


def _function(f: fields.Function, name: str, ns: Any) -> Any:
    return f.serialize(name, ns)


class SeenKeys:
    """Keys a dry run would have created in earlier batches (a real run finds them committed),
    8 bytes each: a sorted array of 64-bit hashes plus a set of recent ones, merged as it grows."""

    def __init__(self) -> None:
        self._sorted = array("Q")
        self._recent: set[int] = set()

    @staticmethod
    def _hash(key: str) -> int:
        return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")

    def __contains__(self, key: str) -> bool:
        h = self._hash(key)
        i = bisect.bisect_left(self._sorted, h)
        return h in self._recent or (i < len(self._sorted) and self._sorted[i] == h)

    def add_all(self, keys: Iterable[str]) -> None:
        self._recent.update(self._hash(k) for k in keys)
        if len(self._recent) > max(10_000, len(self._sorted) // 4):
            self._sorted = array("Q", sorted([*self._sorted, *self._recent]))
            self._recent.clear()
