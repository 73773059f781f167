"""Shared steps of the routing tests: teams, rules, tickets and what the outbox says."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from crm_events.tables import event_tables
from crm_testing.apps import ServiceHarness


def user(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"agent:{name}")


def team(svc: ServiceHarness, tenant: str = "a", **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Support")
    resp = svc.client.post("/v1/teams", json=_jsonable(body), headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def members(*names: str, capacity: int | None = None, **extra: Any) -> list[dict[str, Any]]:
    return [{"user_id": str(user(n)), "capacity": capacity, **extra} for n in names]


def rule(svc: ServiceHarness, tenant: str = "a", **body: Any) -> dict[str, Any]:
    body.setdefault("name", "A rule")
    resp = svc.client.post("/v1/routing-rules", json=_jsonable(body), headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def ticket(svc: ServiceHarness, tenant: str = "a", actor: uuid.UUID | None = None, **body: Any) -> dict[str, Any]:
    body.setdefault("subject", "Help")
    resp = svc.client.post("/v1/tickets", json=_jsonable(body), headers=svc.headers(tenant, user_id=actor))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def patch_ticket(svc: ServiceHarness, rec: dict[str, Any], tenant: str = "a", actor: uuid.UUID | None = None,
                 **body: Any) -> dict[str, Any]:
    resp = svc.client.patch(f"/v1/tickets/{rec['id']}", json=_jsonable(body), headers=svc.headers(tenant, user_id=actor))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def get_ticket(svc: ServiceHarness, rec: dict[str, Any], tenant: str = "a") -> dict[str, Any]:
    resp = svc.client.get(f"/v1/tickets/{rec['id']}", headers=svc.headers(tenant))
    assert resp.status_code == 200
    return resp.get_json()


def get_team(svc: ServiceHarness, rec: dict[str, Any], tenant: str = "a") -> dict[str, Any]:
    resp = svc.client.get(f"/v1/teams/{rec['id']}", headers=svc.headers(tenant))
    assert resp.status_code == 200
    return resp.get_json()


def counts(svc: ServiceHarness, rec: dict[str, Any], tenant: str = "a") -> dict[str, int]:
    """user id -> open_count, as the team shows it."""
    return {m["user_id"]: m["open_count"] for m in get_team(svc, rec, tenant)["members"]}


def outbox(svc: ServiceHarness, event_type: str | None = None) -> list[dict[str, Any]]:
    table = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(table.c.event_type, table.c.payload).order_by(table.c.id)).all()
    return [json.loads(r.payload) for r in rows if event_type is None or r.event_type == event_type]


def notifications(svc: ServiceHarness, kind: str = "ticket_assigned") -> list[dict[str, Any]]:
    return [e["data"] for e in outbox(svc, "crm.notification.requested") if e["data"]["kind"] == kind]


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
