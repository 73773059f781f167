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
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from marshmallow import ValidationError
from marshmallow.validate import Email
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from contacts import normalise
from contacts.models import Company, Contact, PropertyDefinition, property_definition_versions
from crm_core import context
from crm_core.errors import Conflict, NotFound, validation_error
from crm_db.tenancy import Prefetch
from crm_events.records import RecordService

PROPERTY_TYPES = ("text", "number", "bool", "date", "datetime", "enum", "multi_enum", "email", "phone", "url", "money")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Words of the filter language can't be keys either: `filter=in = 3` would be ambiguous.
RESERVED = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "contains", "starts_with", "q",
                      "properties", "tenant_id", "search_text"})
_CACHE = "crm_property_definitions"
_EMAIL = Email()


DefinitionLike: TypeAlias = "PropertyDefinition | Definition"  # what value checks read: type, options, required


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
        return normalise.phone(value, region)
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


# --- definitions -------------------------------------------------------------------------------

def definitions(session: Session, object_: str) -> dict[str, PropertyDefinition]:
    """All definitions of an object by key (archived too), read once per transaction, as ORM
    objects: what the administration routes show and change."""
    cache: dict[str, dict[str, PropertyDefinition]] = session.info.setdefault(_CACHE, {})
    if object_ not in cache:
        rows = session.scalars(select(PropertyDefinition).where(PropertyDefinition.object == object_))
        cache[object_] = {d.key: d for d in rows}
    return cache[object_]


def forget_definitions(session: Session) -> None:
    """Definitions change in this transaction: from now on it reads its own (uncommitted) ones and
    leaves the per-process cache alone (the trigger's version bump tells other transactions)."""
    session.info.pop(_CACHE, None)
    session.info.pop(_ACTIVE, None)
    session.info[_WRITING] = True


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


_ACTIVE = "crm_active_definitions"
_WRITING = "crm_definitions_written"
_VERSION = "crm_definitions_version"
CACHE_TENANTS = 2048  # (tenant, object) entries per process and database, least recently used dropped
_VERSION_PG = "SELECT version FROM property_definition_versions WHERE tenant_id = %s"
_VERSION_SQL = select(property_definition_versions.c.version).where(property_definition_versions.c.tenant_id == bindparam("t"))


class _ProcessCache:
    def __init__(self) -> None:
        self.entries: OrderedDict[tuple[uuid.UUID, str], ActiveDefinitions] = OrderedDict()
        self.lock = threading.Lock()


# Per engine, i.e. per database and process (two apps in one test process keep two caches).
_CACHES: weakref.WeakKeyDictionary[Any, _ProcessCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _process_cache(session: Session) -> _ProcessCache:
    engine = session.get_bind()
    found = _CACHES.get(engine)
    if found is None:
        with _CACHES_LOCK:
            found = _CACHES.setdefault(engine, _ProcessCache())
    return found


def prefetch_version() -> Prefetch:
    """definitions_version's read, to send with a write's BEGIN (crm_db.tenancy.Prefetch)."""
    def store(session: Session, rows: Sequence[Any]) -> None:
        session.info.setdefault(_VERSION, (rows[0][0] if rows else None) or 0)

    return Prefetch(_VERSION_SQL, {"t": context.require_tenant()}, store)


def definitions_version(session: Session) -> int:
    """The tenant's definitions version, read once per transaction (a primary-key lookup)."""
    version = session.info.get(_VERSION)
    if version is None:
        connection, tenant = session.connection(), context.require_tenant()
        if connection.dialect.name == "postgresql":
            # Straight through the driver, in the transaction's connection: a third of the CPU of
            # the same statement through SQLAlchemy's execution machinery.
            row = connection.connection.driver_connection.execute(_VERSION_PG, (tenant,)).fetchone()
            found = row[0] if row else None
        else:
            found = connection.execute(_VERSION_SQL, {"t": tenant}).scalar()
        version = session.info[_VERSION] = found or 0
    return version


def _load_active(session: Session, object_: str, version: int) -> ActiveDefinitions:
    rows = session.scalars(select(PropertyDefinition).where(PropertyDefinition.object == object_,
                                                           PropertyDefinition.archived_at.is_(None)))
    by_key = {d.key: Definition(d.id, d.object, d.key, d.label, d.type, tuple(d.options) if d.options is not None else None,
                                bool(d.required)) for d in rows}
    return ActiveDefinitions(version, MappingProxyType(by_key))


def active(session: Session, object_: str) -> ActiveDefinitions:
    """The tenant's active definitions of `object_`: from the per-process cache while the tenant's
    version is the one cached (read first, so a concurrent change can only make the cache older,
    never newer than its version says), else read and cached. A transaction that changes
    definitions reads its own, uncached."""
    memo: dict[str, ActiveDefinitions] = session.info.setdefault(_ACTIVE, {})
    found = memo.get(object_)
    if found is not None:
        return found
    if session.info.get(_WRITING):
        found = memo[object_] = _load_active(session, object_, -1)
        return found
    version = definitions_version(session)
    cache, key = _process_cache(session), (context.require_tenant(), object_)
    with cache.lock:
        found = cache.entries.get(key)
        if found is not None and found.version == version:
            cache.entries.move_to_end(key)
            memo[object_] = found
            return found
    found = _load_active(session, object_, version)
    with cache.lock:
        cache.entries[key] = found
        cache.entries.move_to_end(key)
        while len(cache.entries) > CACHE_TENANTS:
            cache.entries.popitem(last=False)
    memo[object_] = found
    return found


def active_definitions(session: Session, object_: str) -> Mapping[str, Definition]:
    return active(session, object_).by_key


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

    def before_update(self, session: Session, record: DefinitionLike, values: dict[str, Any]) -> None:
        forget_definitions(session)
