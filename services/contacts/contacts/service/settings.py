"""Per-tenant settings of the contacts service (today: the default region for phone numbers)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from contacts.models import ContactSettings
from crm_core import context
from crm_events.outbox import Outbox

_CACHE = "crm_contact_settings"


def tenant_settings(session: Session) -> ContactSettings | None:
    if _CACHE not in session.info:
        session.info[_CACHE] = session.get(ContactSettings, context.require_tenant())
    return session.info[_CACHE]


def default_region(session: Session) -> str | None:
    found = tenant_settings(session)
    return found.default_region if found is not None else None


def as_dict(found: ContactSettings | None) -> dict[str, Any]:
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
