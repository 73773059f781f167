"""Reporting on the contacts service's erase and merge events, in the shapes it emits them."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from test_reporting_summary import deliver, event, iso, summary

from crm_core import context
from crm_events.envelope import Event
from crm_testing.apps import ServiceHarness
from reporting.models import ContactFact


def erased(svc: ServiceHarness, tenant: str, contact: uuid.UUID, merged: list[uuid.UUID], at: float) -> Event:
    """As contacts emits it: ids only, no personal data."""
    return Event(type="crm.contact.erased", source="contacts", tenant_id=str(svc.tenant(tenant)), subject=str(contact),
                 data={"id": str(contact), "merged_ids": [str(m) for m in merged], "erased_at": iso(at)}, time=iso(at))


def facts(svc: ServiceHarness, tenant: str) -> dict[uuid.UUID, bool]:
    with context.tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return {f.id: f.deleted for f in session.scalars(select(ContactFact))}


def test_erasure_drops_the_contact_and_every_id_merged_into_it(reporting_service: ServiceHarness) -> None:
    svc = reporting_service
    survivor, merged, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    deliver(svc, *(event(svc, "a", "crm.contact.created", c, 1) for c in (survivor, merged, other)))
    # The merge as contacts emits it: subject = primary; data names both plus the primary's body.
    deliver(svc, event(svc, "a", "crm.contact.merged", survivor, 2, primary_id=str(survivor), secondary_id=str(merged),
                       primary={"id": str(survivor)}))
    assert summary(svc, "a")["contacts"] == 2 and facts(svc, "a")[merged] is True
    deliver(svc, erased(svc, "a", survivor, [merged], 3),
            # late events from before the erasure do not bring anyone back
            event(svc, "a", "crm.contact.updated", survivor, 2.5, first_name="Late"),
            event(svc, "a", "crm.contact.created", merged, 1))
    assert summary(svc, "a")["contacts"] == 1
    assert facts(svc, "a") == {survivor: True, merged: True, other: False}


def test_erasure_of_ids_never_seen_leaves_guarding_tombstones(reporting_service: ServiceHarness) -> None:
    svc = reporting_service
    contact, merged = uuid.uuid4(), uuid.uuid4()
    deliver(svc, erased(svc, "a", contact, [merged], 5))  # the erasure overtook the creation
    deliver(svc, event(svc, "a", "crm.contact.created", contact, 1), event(svc, "a", "crm.contact.created", merged, 1))
    assert summary(svc, "a")["contacts"] == 0
    assert facts(svc, "a") == {contact: True, merged: True}


def test_an_erasure_in_one_tenant_leaves_the_same_ids_in_another(reporting_service: ServiceHarness) -> None:
    svc = reporting_service
    contact, merged = uuid.uuid4(), uuid.uuid4()
    deliver(svc, *(event(svc, "a", "crm.contact.created", c, 1) for c in (contact, merged)))
    deliver(svc, erased(svc, "b", contact, [merged], 2))
    assert summary(svc, "a")["contacts"] == 2 and summary(svc, "b")["contacts"] == 0
    assert facts(svc, "a") == {contact: False, merged: False}
