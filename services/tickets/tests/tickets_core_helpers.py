"""Shared steps of the tickets core tests: requests, outbox events, contact events applied to the
projection as the worker's consumer does (the auto-close tests' clock is crm_testing.clock)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import select

from crm_core.context import tenant_context
from crm_events.envelope import Event
from crm_events.outbox import Outbox
from crm_events.tables import event_tables
from crm_testing.apps import ServiceHarness
from tickets.models import metadata
from tickets.service.desk import Desk, build_desk
from tickets.service.requesters import requester_handlers


def create(svc: ServiceHarness, tenant: str | uuid.UUID, **body: Any) -> dict[str, Any]:
    resp = svc.client.post("/v1/tickets", json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def get(svc: ServiceHarness, rec: dict[str, Any], tenant: str | uuid.UUID = "a") -> dict[str, Any]:
    resp = svc.client.get(f"/v1/tickets/{rec['id']}", headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def patch(svc: ServiceHarness, rec: dict[str, Any], tenant: str | uuid.UUID = "a", **body: Any) -> Any:
    return svc.client.patch(f"/v1/tickets/{rec['id']}", json=body, headers=svc.headers(tenant))


def listing(svc: ServiceHarness, query: str, tenant: str | uuid.UUID = "a") -> list[dict[str, Any]]:
    resp = svc.client.get(f"/v1/tickets?{query}", headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]


def outbox_events(svc: ServiceHarness, after: int = 0) -> list[Event]:
    """The service's outbox rows (id > after) as the envelopes the relay publishes."""
    outbox = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.id > after).order_by(outbox.c.id)).all()
    return [Event(**{k: v for k, v in json.loads(r.payload).items() if k in Event.__dataclass_fields__}) for r in rows]


def desk(svc: ServiceHarness) -> Desk:
    return build_desk(svc.settings, Outbox(svc.settings.service, metadata()))


def deliver(svc: ServiceHarness, event: Event) -> None:
    """An event of the contacts topic through the tickets worker's handlers."""
    handlers = requester_handlers(desk(svc))
    with tenant_context(uuid.UUID(event.tenant_id)), svc.db.transaction() as session:
        handlers[event.type](session, event)


def contact_event(svc: ServiceHarness, tenant: str, contact_id: uuid.UUID, event_type: str = "crm.contact.created",
                  at: dt.datetime | None = None, **data: Any) -> None:
    tid = svc.tenant(tenant)
    stamp = {"time": at.isoformat().replace("+00:00", "Z")} if at is not None else {}
    deliver(svc, Event(type=event_type, source="contacts", tenant_id=str(tid), subject=str(contact_id),
                       data={"id": str(contact_id), **data}, **stamp))
