"""Helpers of the SLA tests (test_sla_api.py, test_sla_postgres.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import select

from crm_core.context import tenant_context
from crm_events.tables import event_tables
from crm_testing.apps import ServiceHarness
from tickets.models import timers
from tickets.service import conversations, sla_config
from tickets.service.desk import Desk, build_desk

SPLIT = {d: [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}


def z(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def iso(text: str) -> str:
    return z(text).isoformat().replace("+00:00", "Z")


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def set(self, text: str) -> None:
        self.at = z(text)


def post(svc: ServiceHarness, path: str, body: dict[str, Any], tenant: str = "a", status: int = 201) -> dict[str, Any]:
    resp = svc.client.post(path, json=body, headers=svc.headers(tenant))
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def patch(svc: ServiceHarness, path: str, body: dict[str, Any], tenant: str = "a", status: int = 200) -> dict[str, Any]:
    resp = svc.client.patch(path, json=body, headers=svc.headers(tenant))
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def get(svc: ServiceHarness, path: str, tenant: str = "a") -> dict[str, Any]:
    resp = svc.client.get(path, headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def berlin(svc: ServiceHarness, tenant: str = "a", **extra: Any) -> dict[str, Any]:
    return post(svc, "/v1/business-hours", {"name": "Berlin office", "time_zone": "Europe/Berlin", "frames": SPLIT, **extra}, tenant)


def policy(svc: ServiceHarness, calendar: dict[str, Any] | None, tenant: str = "a", **body: Any) -> dict[str, Any]:
    return post(svc, "/v1/sla-policies", {"name": "Standard", "business_hours_id": calendar["id"] if calendar else None,
                                          **body}, tenant)


def target(state: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in state["targets"] if t["target"] == name)


def desk_of(svc: ServiceHarness) -> Desk:
    runtime = svc.app.extensions["crm_runtime"]
    return build_desk(runtime.settings, runtime.outbox)


def message(svc: ServiceHarness, ticket: dict[str, Any], kind: str, author_type: str, tenant: str = "a") -> None:
    desk = desk_of(svc)
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        record = desk.tickets.get(session, uuid.UUID(ticket["id"]))
        conversations.add_message(session, desk, record, kind=kind, author_type=author_type, channel="email", text="hi")


def events(svc: ServiceHarness, topic_suffix: str) -> list[dict[str, Any]]:
    outbox = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.id)).all()
    return [json.loads(r.payload)["data"] for r in rows if r.event_type == topic_suffix]


def pending_timers(svc: ServiceHarness, ticket_id: str) -> list[tuple[str, dt.datetime]]:
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(timers.c.kind, timers.c.due_at).where(
            timers.c.subject_id == uuid.UUID(ticket_id), timers.c.fired_at.is_(None)).order_by(timers.c.kind, timers.c.due_at)).all()
    return [(r.kind, r.due_at.replace(tzinfo=dt.UTC)) for r in rows]


def check_isolation(svc: ServiceHarness, clock: Clock) -> None:
    """Tenant b can't read, list, update, delete, reference or be affected by a's calendars, policies and SLA state."""
    cal = berlin(svc, "a")
    pol = policy(svc, cal, "a", first_response_minutes=60)
    ticket = post(svc, "/v1/tickets", {"subject": "A's"}, "a")
    # Tenant b's catch-all policy never applies to a's tickets; a's never to b's
    b_policy = policy(svc, None, "b", first_response_minutes=5)
    b_ticket = post(svc, "/v1/tickets", {"subject": "B's"}, "b")
    assert b_ticket["sla_policy_id"] == b_policy["id"]
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_policy_id"] == pol["id"]
    hb = svc.headers("b")
    for path in (f"/v1/business-hours/{cal['id']}", f"/v1/sla-policies/{pol['id']}", f"/v1/tickets/{ticket['id']}/sla"):
        assert svc.client.get(path, headers=hb).status_code == 404
    assert svc.client.patch(f"/v1/business-hours/{cal['id']}", json={"name": "mine"}, headers=hb).status_code == 404
    assert svc.client.patch(f"/v1/sla-policies/{pol['id']}", json={"name": "mine"}, headers=hb).status_code == 404
    assert svc.client.delete(f"/v1/business-hours/{cal['id']}", headers=hb).status_code == 404
    assert svc.client.delete(f"/v1/sla-policies/{pol['id']}", headers=hb).status_code == 404
    assert [c["id"] for c in get(svc, "/v1/business-hours", "b")["data"]] == []
    assert [p["id"] for p in get(svc, "/v1/sla-policies", "b")["data"]] == [b_policy["id"]]
    # b cannot point its policy at a's calendar (nor learn whether it exists: the same answer as a random id)
    resp = svc.client.post("/v1/sla-policies", json={"name": "x", "business_hours_id": cal["id"], "first_response_minutes": 5},
                           headers=hb)
    assert resp.status_code == 422 and "business_hours_id" in resp.get_json()["errors"]
    # b's policy changes recompute only b's tickets
    patch(svc, f"/v1/sla-policies/{b_policy['id']}", {"first_response_minutes": 10}, "b")
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_due_at"] == iso("2027-03-01 09:00")
    assert get(svc, f"/v1/business-hours/{cal['id']}")["name"] == "Berlin office"
    # One scheduler round over both tenants' due timers: each ticket breaches under its own tenant's policy
    runtime = svc.app.extensions["crm_runtime"]
    scheduler, _ = sla_config.schedulers(runtime.settings, svc.db, desk_of(svc), clock)
    clock.set("2027-03-01 09:00")
    scheduler.drain()
    by_ticket = {e["ticket_id"]: e["policy_id"] for e in events(svc, "crm.ticket.sla_breached")}
    assert by_ticket == {ticket["id"]: pol["id"], b_ticket["id"]: b_policy["id"]}
