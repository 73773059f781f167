"""Custom fields: definitions per object, and the checking of the values records carry.

Values live in the record's `properties` JSON and are normalised on write so that filters and
sorts compare them like built-in columns: numbers as JSON numbers, dates as "YYYY-MM-DD",
datetimes as "YYYY-MM-DDTHH:MM:SSZ" (UTC, fixed width, so text order is time order), money as
{"amount": "12.50", "currency": "EUR"}, emails lower case, phones E.164.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError
from marshmallow.validate import Email
from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts import normalise
from contacts.models import Company, Contact, PropertyDefinition
from crm_core.errors import Conflict, NotFound, validation_error
from crm_events.records import RecordService

PROPERTY_TYPES = ("text", "number", "bool", "date", "datetime", "enum", "multi_enum", "email", "phone", "url", "money")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Words of the filter language can't be keys either: `filter=in = 3` would be ambiguous.
RESERVED = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "contains", "starts_with", "q",
                      "properties", "tenant_id", "search_text"})
_CACHE = "crm_property_definitions"
_EMAIL = Email()


class PropertyValueError(ValueError):
    """A value that does not fit its custom field; the message is shown to the user as is."""


def _text(value: Any, _d: PropertyDefinition, _r: str | None) -> str:
    if not isinstance(value, str):
        raise PropertyValueError("Must be a string.")
    if len(value) > 10_000:
        raise PropertyValueError("Longer than 10000 characters.")
    return value


def _number(value: Any, _d: PropertyDefinition, _r: str | None) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PropertyValueError("Must be a number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise PropertyValueError("Must be a finite number.")
    return value


def _bool(value: Any, _d: PropertyDefinition, _r: str | None) -> bool:
    if not isinstance(value, bool):
        raise PropertyValueError("Must be true or false.")
    return value


def _date(value: Any, _d: PropertyDefinition, _r: str | None) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat() if isinstance(value, str) and len(value) == 10 else _bad()
    except ValueError as exc:
        raise PropertyValueError("Must be a date: YYYY-MM-DD.") from exc


def _datetime(value: Any, _d: PropertyDefinition, _r: str | None) -> str:
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


def _enum(value: Any, d: PropertyDefinition, _r: str | None) -> str:
    if value not in (d.options or []):
        raise PropertyValueError(f"Must be one of: {', '.join(d.options or [])}.")
    return str(value)


def _multi_enum(value: Any, d: PropertyDefinition, _r: str | None) -> list[str]:
    if not isinstance(value, list):
        raise PropertyValueError("Must be a list of options.")
    bad = [v for v in value if v not in (d.options or [])]
    if bad:
        raise PropertyValueError(f"Unknown options {bad}; allowed: {', '.join(d.options or [])}.")
    return list(dict.fromkeys(value))


def _email(value: Any, _d: PropertyDefinition, _r: str | None) -> str:
    try:
        return _EMAIL(value).strip().lower() if isinstance(value, str) and len(value) <= 320 else _bad()
    except (ValidationError, ValueError) as exc:
        raise PropertyValueError("Not a valid email address.") from exc


def _phone(value: Any, _d: PropertyDefinition, region: str | None) -> str:
    if not isinstance(value, str):
        raise PropertyValueError("Must be a string.")
    try:
        return normalise.phone(value, region)
    except ValueError as exc:
        raise PropertyValueError(str(exc)) from exc


def _url(value: Any, _d: PropertyDefinition, _r: str | None) -> str:
    parts = urlsplit(value) if isinstance(value, str) and len(value) <= 2048 else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise PropertyValueError("Must be an http(s) URL.")
    return value


def _money(value: Any, _d: PropertyDefinition, _r: str | None) -> dict[str, str]:
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


CHECKS: dict[str, Callable[[Any, PropertyDefinition, str | None], Any]] = {
    "text": _text, "number": _number, "bool": _bool, "date": _date, "datetime": _datetime, "enum": _enum,
    "multi_enum": _multi_enum, "email": _email, "phone": _phone, "url": _url, "money": _money,
}


def from_text(definition: PropertyDefinition, raw: str) -> Any:
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


# --- definitions -------------------------------------------------------------------------------

def definitions(session: Session, object_: str) -> dict[str, PropertyDefinition]:
    """All definitions of an object by key (archived too), read once per transaction."""
    cache: dict[str, dict[str, PropertyDefinition]] = session.info.setdefault(_CACHE, {})
    if object_ not in cache:
        rows = session.scalars(select(PropertyDefinition).where(PropertyDefinition.object == object_))
        cache[object_] = {d.key: d for d in rows}
    return cache[object_]


def forget_definitions(session: Session) -> None:
    session.info.pop(_CACHE, None)


def active_definitions(session: Session, object_: str) -> dict[str, PropertyDefinition]:
    return {k: d for k, d in definitions(session, object_).items() if d.archived_at is None}


def visible_properties(session: Session | None, object_: str, values: dict[str, Any] | None) -> dict[str, Any]:
    """Values of active properties only: archiving hides values without deleting them."""
    if not values or session is None:
        return {}
    return visible_values(active_definitions(session, object_), values)


def visible_values(active: Mapping[str, Any], values: dict[str, Any] | None) -> dict[str, Any]:
    """visible_properties given the active definitions (a list page reads them once)."""
    if not values:
        return {}
    return {k: v for k, v in values.items() if k in active}


def check_values(session: Session, object_: str, incoming: dict[str, Any], current: dict[str, Any] | None,
                 region: str | None) -> dict[str, Any]:
    """Merge `incoming` (null deletes a key) into `current`, checking every value; 422 names the field.

    On create (`current` None) every required property must be present."""
    active = active_definitions(session, object_)
    errors: dict[str, list[str]] = {}
    merged = dict(current or {})
    for key, value in incoming.items():
        field = f"properties.{key}"
        definition = active.get(key)
        if definition is None:
            errors[field] = [f"Unknown property {key!r} for {object_}s; define it under /v1/properties/{object_}s."]
            continue
        if value is None:
            if definition.required:
                errors[field] = ["Required."]
            merged.pop(key, None)
            continue
        try:
            merged[key] = CHECKS[definition.type](value, definition, region)
        except PropertyValueError as exc:
            errors[field] = [str(exc)]
    if current is None:
        for key, definition in active.items():
            if definition.required and merged.get(key) is None and f"properties.{key}" not in errors:
                errors[f"properties.{key}"] = ["Required."]
    if errors:
        raise validation_error(errors)
    return merged


def builtin_fields(object_: str) -> frozenset[str]:
    model = Contact if object_ == "contact" else Company
    return frozenset(c.key for c in model.__table__.columns) | {"company_ids", "merged_ids"}


def check_not_builtin(object_: str, key: str) -> None:
    if key in builtin_fields(object_) or key in RESERVED:
        raise validation_error({"key": [f"{key!r} is a built-in {object_} field or a reserved word."]})


class PropertyService(RecordService[PropertyDefinition]):
    model = PropertyDefinition
    aggregate = "property"

    def find(self, session: Session, object_: str, key: str) -> PropertyDefinition:
        found = definitions(session, object_).get(key)
        if found is None:
            raise NotFound(f"No {object_} property {key!r}.")
        return found

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        existing = definitions(session, values["object"]).get(values["key"])
        if existing is not None:
            raise Conflict(f"The {values['object']} property {values['key']!r} exists"
                           + (" (archived; restore it with PATCH archived=false)." if existing.archived_at else "."),
                           existing_id=str(existing.id), errors={"key": ["Already defined."]})
        forget_definitions(session)

    def before_update(self, session: Session, record: PropertyDefinition, values: dict[str, Any]) -> None:
        forget_definitions(session)
