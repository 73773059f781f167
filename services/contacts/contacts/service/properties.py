"""Custom fields of contacts and companies: their definitions, read once per transaction and
cached per process and definitions version. The value types, checks and normal forms are
shared with the other services (crm_properties).
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from contacts.models import Company, Contact, PropertyDefinition, property_definition_versions
from crm_core import context
from crm_core.errors import Conflict, NotFound
from crm_db.tenancy import Prefetch
from crm_events.records import RecordService
from crm_properties import (  # noqa: F401  (shared with other services; re-exported for contacts' modules)
    CHECKS,
    KEY,
    PROPERTY_TYPES,
    RESERVED,
    ActiveDefinitions,
    Definition,
    DefinitionLike,
    PropertyValueError,
    check_key,
    definition_of,
    format_datetime,
    from_text,
    merge_values,
    visible_values,
)

_CACHE = "crm_property_definitions"


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
    by_key = {d.key: definition_of(d) for d in rows}
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


def check_values(session: Session, object_: str, incoming: dict[str, Any], current: dict[str, Any] | None,
                 region: str | None) -> dict[str, Any]:
    """Merge `incoming` (null deletes a key) into `current`, checking every value; 422 names the field.

    On create (`current` None) every required property must be present."""
    return merge_values(active_definitions(session, object_), object_, incoming, current, region)


def builtin_fields(object_: str) -> frozenset[str]:
    model = Contact if object_ == "contact" else Company
    return frozenset(c.key for c in model.__table__.columns) | {"company_ids", "merged_ids"}


def check_not_builtin(object_: str, key: str) -> None:
    check_key(object_, key, builtin_fields(object_))


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
