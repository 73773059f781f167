"""Per-tenant settings of the contacts service (today: the default region for phone numbers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from contacts.models import ContactSettings
from crm_core import context
from crm_db.tenancy import Prefetch
from crm_events.outbox import Outbox

_CACHE = "crm_contact_settings"
_SETTINGS_SQL = select(ContactSettings.__table__.c.default_region).where(
    ContactSettings.__table__.c.tenant_id == bindparam("t"))


class PrefetchedSettings(NamedTuple):
    """What writes read of the settings, read with their BEGIN (no ORM object to build)."""

    default_region: str | None


def prefetch_settings() -> Prefetch:
    def store(session: Session, rows: Sequence[Any]) -> None:
        session.info.setdefault(_CACHE, PrefetchedSettings(rows[0][0]) if rows else None)

    return Prefetch(_SETTINGS_SQL, {"t": context.require_tenant()}, store)


def tenant_settings(session: Session) -> ContactSettings | PrefetchedSettings | None:
    if _CACHE not in session.info:
        session.info[_CACHE] = session.get(ContactSettings, context.require_tenant())
    return session.info[_CACHE]


def default_region(session: Session) -> str | None:
    found = tenant_settings(session)
    return found.default_region if found is not None else None


def as_dict(found: ContactSettings | PrefetchedSettings | None) -> dict[str, Any]:
    return {"default_region": found.default_region if found is not None else None}


def update_settings(session: Session, outbox: Outbox, values: dict[str, Any]) -> dict[str, Any]:
    tenant = context.require_tenant()
    found = session.get(ContactSettings, tenant, with_for_update=True)
    before = as_dict(found)
    if found is None:
        found = ContactSettings(tenant_id=tenant)
        session.add(found)
    if "default_region" in values:
        region = values["default_region"]
        found.default_region = region.upper() if region else None
    session.flush()
    session.info[_CACHE] = found
    after = as_dict(found)
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        outbox.emit(session, "crm.contact_settings.updated", tenant, after, changes=changes)
    return after
