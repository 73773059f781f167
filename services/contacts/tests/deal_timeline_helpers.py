"""Test steps for deal timelines and meetings: the pipeline's deal events and the mail service's
crm.mail.received fed straight to the contacts consumers' handlers (in the event's tenant, as the
runner does), and the mail requests the outbox holds."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from sqlalchemy import text

from contacts.consumer import deal_handlers, handlers
from crm_core.context import tenant_context
from crm_events.envelope import Event
from crm_testing.apps import ServiceHarness


def feed(svc: ServiceHarness, tenant: str, event_type: str, data: dict[str, Any], subject: str | None = None) -> None:
    table = deal_handlers() if event_type.startswith("crm.deal.") else handlers()
    event = Event(type=event_type, source="pipeline" if event_type.startswith("crm.deal.") else "mail",
                  tenant_id=str(svc.tenant(tenant)), subject=subject or str(data.get("id")), data=data)
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        table[event_type](session, event)


def deal(svc: ServiceHarness, tenant: str, number: int, name: str = "Big deal", *, deal_id: uuid.UUID | None = None,
         event_type: str = "crm.deal.created", version: int = 1) -> str:
    """Announce a deal as the pipeline does; returns its id."""
    did = str(deal_id or uuid.uuid4())
    feed(svc, tenant, event_type, {"id": did, "number": number, "name": name, "version": version})
    return did


def outbox(svc: ServiceHarness, tenant: str, event_type: str) -> list[dict[str, Any]]:
    """The tenant's outbox envelopes of a type, oldest first (through RLS on PostgreSQL)."""
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        rows = session.execute(text("SELECT payload FROM outbox WHERE event_type = :t ORDER BY id"), {"t": event_type})
        return [json.loads(r.payload) if isinstance(r.payload, str) else r.payload for r in rows]


def invitations(svc: ServiceHarness, tenant: str = "a") -> list[tuple[dict[str, Any], str]]:
    """(send request data, its calendar text) of each mail request with a text/calendar part."""
    out = []
    for envelope in outbox(svc, tenant, "crm.mail.send_requested"):
        for part in envelope["data"]["attachments"]:
            if part["content_type"].startswith("text/calendar"):
                out.append((envelope["data"], base64.b64decode(part["content_base64"]).decode()))
    return out
