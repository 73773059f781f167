"""Shared steps of the pipeline service tests (a unique module name: test dirs share sys.path)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from crm_events.tables import event_tables
from crm_testing.apps import ServiceHarness

STAGES = [
    {"name": "Lead", "probability": 10},
    {"name": "Demo", "probability": 40},
    {"name": "Won", "probability": 100, "kind": "won"},
    {"name": "Lost", "probability": 0, "kind": "lost"},
]


def post(svc: ServiceHarness, path: str, tenant: str = "a", **body: Any) -> dict[str, Any]:
    resp = svc.client.post(path, json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def patch(svc: ServiceHarness, path: str, tenant: str = "a", **body: Any) -> dict[str, Any]:
    resp = svc.client.patch(path, json=body, headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def invalid_fields(svc: ServiceHarness, method: str, path: str, body: Any, tenant: str = "a") -> set[str]:
    """Send a request that must fail validation; returns the field names of its 422 problem."""
    resp = svc.client.open(path, method=method, json=body, headers=svc.headers(tenant))
    assert resp.status_code == 422 and resp.content_type == "application/problem+json", (body, resp.get_json())
    return set(resp.get_json()["errors"])


def default_user(svc: ServiceHarness, tenant: str) -> uuid.UUID:
    """The user id the harness puts in a tenant's tokens unless told otherwise."""
    return uuid.uuid5(svc.tenant(tenant), "user")


def make_pipeline(svc: ServiceHarness, tenant: str = "a", name: str = "Sales", **body: Any) -> dict[str, Any]:
    body.setdefault("stages", STAGES)
    return post(svc, "/v1/pipelines", tenant, name=name, **body)


def stage(pipeline: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in pipeline["stages"] if s["name"] == name)


def make_deal(svc: ServiceHarness, tenant: str = "a", name: str = "Deal", **body: Any) -> dict[str, Any]:
    return post(svc, "/v1/deals", tenant, name=name, **body)


def make_task(svc: ServiceHarness, tenant: str = "a", title: str = "Call back", **body: Any) -> dict[str, Any]:
    return post(svc, "/v1/tasks", tenant, title=title, **body)


def outbox_events(svc: ServiceHarness, prefix: str = "crm.") -> list[dict[str, Any]]:
    """This test's envelopes in the outbox (its tenants'), oldest first, plus the topic each was written for."""
    outbox = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.topic, outbox.c.payload)
                            .where(outbox.c.tenant_id.in_(list(svc.tenants.values()))).order_by(outbox.c.id)).all()
    events = [{**json.loads(r.payload), "topic": r.topic} for r in rows]
    return [e for e in events if e["type"].startswith(prefix)]
