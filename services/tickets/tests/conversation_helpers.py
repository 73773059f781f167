"""Helpers of the conversation tests: tickets over the API, crm.mail.received handled directly,
the outbox read back."""

from __future__ import annotations

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
from tickets.service.conversations import mail_handlers
from tickets.service.desk import build_desk

DOMAIN = "inbound.localhost"


def create(svc: ServiceHarness, tenant: str = "a", **body: Any) -> dict[str, Any]:
    body.setdefault("subject", "Printer on fire")
    resp = svc.client.post("/v1/tickets", json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def ticket(svc: ServiceHarness, ticket_id: str, tenant: str = "a") -> dict[str, Any]:
    resp = svc.client.get(f"/v1/tickets/{ticket_id}", headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def tickets(svc: ServiceHarness, tenant: str = "a") -> list[dict[str, Any]]:
    return svc.client.get("/v1/tickets?limit=100&sort=number", headers=svc.headers(tenant)).get_json()["data"]


def post(svc: ServiceHarness, ticket_id: str, tenant: str = "a", expect: int = 201, **body: Any) -> dict[str, Any]:
    resp = svc.client.post(f"/v1/tickets/{ticket_id}/messages", json=body, headers=svc.headers(tenant))
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def timeline(svc: ServiceHarness, ticket_id: str, tenant: str = "a") -> list[dict[str, Any]]:
    resp = svc.client.get(f"/v1/tickets/{ticket_id}/messages?limit=200", headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]


def outbox(svc: ServiceHarness, event_type: str | None = None) -> list[dict[str, Any]]:
    table = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(table.c.topic, table.c.key, table.c.payload).order_by(table.c.id)).all()
    events = [{"topic": r.topic, "key": r.key, **json.loads(r.payload)} for r in rows]
    return [e for e in events if event_type is None or e["type"] == event_type]


def mailbox(tenant: str) -> str:
    return f"box-{tenant}"


def received(tenant: str = "a", *, sender: str = "ana@example.com", name: str | None = "Ana Lopez",
             subject: str | None = "Printer on fire", text: str = "It smokes.", tag: str | None = "support",
             token: str | None = None, kind: str = "message", message_id: str | None = None,
             in_reply_to: str | None = None, references: list[str] | None = None, cc: list[str] | None = None,
             attachments: list[dict[str, Any]] | None = None, html: str | None = None) -> dict[str, Any]:
    """crm.mail.received's data as the mail service announces it (mail.service.inbound.event_data)."""
    inbound = uuid.uuid4()
    detail = f"{tag}-{token}" if token else tag
    return {
        "id": str(inbound), "mailbox": mailbox(tenant), "tag": tag, "token": token, "kind": kind,
        "auto_submitted": kind != "message", "message_id": message_id or f"<{inbound.hex}@mail.example.com>",
        "in_reply_to": in_reply_to, "references": references or [], "from": {"address": sender, "name": name},
        "to": [{"address": f"{mailbox(tenant)}+{detail}@{DOMAIN}", "name": None}],
        "cc": [{"address": a, "name": None} for a in cc or []], "reply_to": [], "subject": subject,
        "date": "2026-03-02T09:30:00Z", "text": text, "html": html, "truncated": False,
        "attachments": attachments or [], "size": 1000, "recipient": f"{mailbox(tenant)}+{detail}@{DOMAIN}",
        "envelope_from": sender, "reports_on": None, "deal_number": None, "calendar": None,
    }


def deliver(svc: ServiceHarness, tenant: str, data: dict[str, Any]) -> None:
    """What the tickets.mail-in consumer does with one event (the runner scopes it to its tenant)."""
    desk = build_desk(svc.settings, Outbox("tickets", metadata()))
    event = Event(type="crm.mail.received", source="mail", tenant_id=str(svc.tenant(tenant)), subject=data["id"],
                  data=data)
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        mail_handlers(desk)["crm.mail.received"](session, event)


def mail_requests(svc: ServiceHarness) -> list[dict[str, Any]]:
    return [e["data"] for e in outbox(svc, "crm.mail.send_requested")]
