"""Custom fields shared by the services that have them (contacts and companies, deals): the
value types, how values are checked and normalised, the definition shape requests read, and the
merge of incoming values into a record's `properties` (422 naming `properties.<key>`).

Values live in the record's `properties` JSON and are normalised on write so that filters and
sorts (crm_query.property_field) compare them like built-in columns: numbers as JSON numbers,
dates as "YYYY-MM-DD", datetimes as "YYYY-MM-DDTHH:MM:SSZ" (UTC, fixed width, so text order is
time order), money as {"amount": "12.50", "currency": "EUR"}, emails lower case, phones E.164.

What stays with each service: its definition table, reading and caching definitions, and the
administration routes' use cases.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from marshmallow import ValidationError
from marshmallow.validate import Email

from crm_core.errors import validation_error
from crm_properties.phones import phone

PROPERTY_TYPES = ("text", "number", "bool", "date", "datetime", "enum", "multi_enum", "email", "phone", "url", "money")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Words of the filter language can't be keys either: `filter=in = 3` would be ambiguous.
RESERVED = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "contains", "starts_with", "q",
                      "properties", "tenant_id", "search_text"})
_CACHE = "crm_property_definitions"
_EMAIL = Email()


DefinitionLike: TypeAlias = Any  # what value checks read: .type, .options, .required (an ORM row or a Definition)


class PropertyValueError(ValueError):
    """A value that does not fit its custom field; the message is shown to the user as is."""


def _text(value: Any, _d: DefinitionLike, _r: str | None) -> str:
    if not isinstance(value, str):
        raise PropertyValueError("Must be a string.")
    if len(value) > 10_000:
        raise PropertyValueError("Longer than 10000 characters.")
    return value


def _number(value: Any, _d: DefinitionLike, _r: str | None) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PropertyValueError("Must be a number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise PropertyValueError("Must be a finite number.")
    return value


def _bool(value: Any, _d: DefinitionLike, _r: str | None) -> bool:
    if not isinstance(value, bool):
        raise PropertyValueError("Must be true or false.")
    return value


def _date(value: Any, _d: DefinitionLike, _r: str | None) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat() if isinstance(value, str) and len(value) == 10 else _bad()
    except ValueError as exc:
        raise PropertyValueError("Must be a date: YYYY-MM-DD.") from exc


def _datetime(value: Any, _d: DefinitionLike, _r: str | None) -> str:
    return format_datetime(value)


def format_datetime(value: Any) -> str:
    """ISO 8601 with an offset -> "YYYY-MM-DDTHH:MM:SSZ" in UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else _bad()
        if parsed.tzinfo is None:
            _bad()
        return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError) as exc:
        raise PropertyValueError("Must be an ISO 8601 date-time with a time zone (years 1-9999 in UTC).") from exc


def _enum(value: Any, d: DefinitionLike, _r: str | None) -> str:
    if value not in (d.options or []):
        raise PropertyValueError(f"Must be one of: {', '.join(d.options or [])}.")
    return str(value)


def _multi_enum(value: Any, d: DefinitionLike, _r: str | None) -> list[str]:
    if not isinstance(value, list):
        raise PropertyValueError("Must be a list of options.")
    bad = [v for v in value if v not in (d.options or [])]
    if bad:
        raise PropertyValueError(f"Unknown options {bad}; allowed: {', '.join(d.options or [])}.")
    return list(dict.fromkeys(value))


def _email(value: Any, _d: DefinitionLike, _r: str | None) -> str:
    try:
        return _EMAIL(value).strip().lower() if isinstance(value, str) and len(value) <= 320 else _bad()
    except (ValidationError, ValueError) as exc:
        raise PropertyValueError("Not a valid email address.") from exc


def _phone(value: Any, _d: DefinitionLike, region: str | None) -> str:
    if not isinstance(value, str):
        raise PropertyValueError("Must be a string.")
    try:
        return phone(value, region)
    except ValueError as exc:
        raise PropertyValueError(str(exc)) from exc


def _url(value: Any, _d: DefinitionLike, _r: str | None) -> str:
    parts = urlsplit(value) if isinstance(value, str) and len(value) <= 2048 else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise PropertyValueError("Must be an http(s) URL.")
    return value


def _money(value: Any, _d: DefinitionLike, _r: str | None) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
        raise PropertyValueError('Must be {"amount": "12.50", "currency": "EUR"}.')
    try:
        amount = decimal.Decimal(str(value["amount"])) if not isinstance(value["amount"], bool | float) else _bad()
    except (decimal.InvalidOperation, ValueError) as exc:
        raise PropertyValueError("amount must be a decimal string.") from exc
    if not amount.is_finite() or abs(amount) >= decimal.Decimal("1e15"):
        raise PropertyValueError("amount is out of range.")
    currency = value["currency"]
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise PropertyValueError("currency must be an ISO 4217 code.")
    return {"amount": f"{amount.quantize(decimal.Decimal('0.01'))}", "currency": currency}


def _bad() -> Any:
    raise ValueError("bad")


CHECKS: dict[str, Callable[[Any, DefinitionLike, str | None], Any]] = {
    "text": _text, "number": _number, "bool": _bool, "date": _date, "datetime": _datetime, "enum": _enum,
    "multi_enum": _multi_enum, "email": _email, "phone": _phone, "url": _url, "money": _money,
}


def from_text(definition: DefinitionLike, raw: str) -> Any:
    """A CSV cell as the JSON value its type expects (then checked like any other value)."""
    kind = definition.type
    if kind == "number":
        try:
            number = decimal.Decimal(raw.strip())
        except decimal.InvalidOperation as exc:
            raise PropertyValueError("Must be a number.") from exc
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in ("true", "yes", "1", "y"):
            return True
        if lowered in ("false", "no", "0", "n"):
            return False
        raise PropertyValueError("Must be true or false.")
    if kind == "multi_enum":
        return [part.strip() for part in raw.split(";") if part.strip()]
    if kind == "money":
        amount, _, currency = raw.strip().partition(" ")
        return {"amount": amount, "currency": currency.strip().upper()}
    return raw.strip()


@dataclass(frozen=True, slots=True)
class Definition:
    """An active definition as requests read it (shared between requests, so immutable)."""

    id: uuid.UUID
    object: str
    key: str
    label: str
    type: str
    options: tuple[str, ...] | None
    required: bool


@dataclass(frozen=True)
class ActiveDefinitions:
    """One tenant's active definitions of one object at one version, plus what is derived from
    them (the filter field registry, say), computed once per version and process."""

    version: int
    by_key: Mapping[str, Definition]
    derived: dict[str, Any] = field(default_factory=dict, compare=False)


def definition_of(row: Any) -> Definition:
    """The immutable request-side shape of a definition row (any object with these attributes)."""
    return Definition(row.id, row.object, row.key, row.label, row.type,
                      tuple(row.options) if row.options is not None else None, bool(row.required))


def visible_values(active: Mapping[str, Any], values: dict[str, Any] | None) -> dict[str, Any]:
    """Values of active properties only: archiving hides values without deleting them."""
    if not values:
        return {}
    return {k: v for k, v in values.items() if k in active}


def merge_values(active: Mapping[str, DefinitionLike], object_: str, incoming: dict[str, Any],
                 current: dict[str, Any] | None, region: str | None, *, collection: str | None = None) -> dict[str, Any]:
    """Merge `incoming` (null deletes a key) into `current`, checking every value against the
    active definitions; 422 names the field (`properties.<key>`). On create (`current` None) every
    required property must be present. `collection` is the definitions' URL segment (`contacts`)."""
    where = collection or f"{object_}s"
    errors: dict[str, list[str]] = {}
    merged = dict(current or {})
    for key, value in incoming.items():
        name = f"properties.{key}"
        definition = active.get(key)
        if definition is None:
            errors[name] = [f"Unknown property {key!r} for {where}; define it under /v1/properties/{where}."]
            continue
        if value is None:
            if definition.required:
                errors[name] = ["Required."]
            merged.pop(key, None)
            continue
        try:
            merged[key] = CHECKS[definition.type](value, definition, region)
        except PropertyValueError as exc:
            errors[name] = [str(exc)]
    if current is None:
        for key, definition in active.items():
            if definition.required and merged.get(key) is None and f"properties.{key}" not in errors:
                errors[f"properties.{key}"] = ["Required."]
    if errors:
        raise validation_error(errors)
    return merged


def check_key(object_: str, key: str, builtins: Iterable[str]) -> None:
    """A custom field may not shadow a built-in field or a word of the filter language."""
    if key in builtins or key in RESERVED:
        raise validation_error({"key": [f"{key!r} is a built-in {object_} field or a reserved word."]})
