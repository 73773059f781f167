"""Tickets API on the embedded database: CRUD, workflow rules, filters, events, tenant isolation."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from crm_events.tables import event_tables
from crm_testing.apps import ServiceHarness


def create(svc: ServiceHarness, tenant: str, **body: object) -> dict:
    resp = svc.client.post("/v1/tickets", json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def patch(svc: ServiceHarness, rec: dict, tenant: str = "a", **body: object):
    return svc.client.patch(f"/v1/tickets/{rec['id']}", json=body, headers=svc.headers(tenant))


def outbox_events(svc: ServiceHarness) -> list[dict]:
    outbox = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.topic, outbox.c.key, outbox.c.payload).order_by(outbox.c.id)).all()
    return [{"topic": r.topic, "key": r.key, **json.loads(r.payload)} for r in rows]


def test_create_read_update_delete(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    contact = str(uuid.uuid4())
    resp = svc.client.post("/v1/tickets", json={"subject": "  Printer on fire ", "contact_id": contact},
                           headers=svc.headers("a"))
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["subject"] == "Printer on fire"
    assert (body["status"], body["priority"], body["resolved_at"]) == ("new", "normal", None)
    assert body["contact_id"] == contact and body["assignee_id"] is None
    assert resp.headers["Location"] == f"/v1/tickets/{body['id']}"
    got = svc.client.get(f"/v1/tickets/{body['id']}", headers=svc.headers("a"))
    assert got.status_code == 200 and got.headers["ETag"] == '"1"'
    patched = svc.client.patch(f"/v1/tickets/{body['id']}", json={"priority": "urgent", "description": "Smoke."},
                               headers={**svc.headers("a"), "If-Match": '"1"'})
    assert patched.status_code == 200
    assert patched.get_json()["priority"] == "urgent" and patched.get_json()["version"] == 2
    assert svc.client.delete(f"/v1/tickets/{body['id']}", headers=svc.headers("a")).status_code == 204
    assert svc.client.get(f"/v1/tickets/{body['id']}", headers=svc.headers("a")).status_code == 404


def test_validation_names_fields(tickets_service: ServiceHarness) -> None:
    c, h = tickets_service.client, tickets_service.headers("a")
    missing = c.post("/v1/tickets", json={"description": "no subject"}, headers=h)
    assert missing.status_code == 422 and set(missing.get_json()["errors"]) == {"subject"}
    bad = c.post("/v1/tickets", json={"subject": "x" * 301, "status": "done", "priority": "meh",
                                      "contact_id": "nope", "assignee_id": 5}, headers=h)
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"subject", "status", "priority", "contact_id", "assignee_id"}
    blank = c.post("/v1/tickets", json={"subject": "   "}, headers=h)
    assert blank.status_code == 422 and "subject" in blank.get_json()["errors"]
    rec = create(tickets_service, "a", subject="ok")
    nulled = patch(tickets_service, rec, subject=None, status=None)
    assert nulled.status_code == 422 and set(nulled.get_json()["errors"]) == {"subject", "status"}
    assert patch(tickets_service, rec, resolved_at="2020-01-01T00:00:00Z").status_code == 422


def test_resolved_at_follows_status(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, "a", subject="Help")
    resolved = patch(svc, rec, status="resolved").get_json()
    assert resolved["resolved_at"] is not None
    closed = patch(svc, rec, status="closed").get_json()
    assert closed["resolved_at"] == resolved["resolved_at"]  # resolved earlier, closed now
    reopened = patch(svc, rec, status="open").get_json()
    assert reopened["status"] == "open" and reopened["resolved_at"] is None
    assert patch(svc, rec, status="pending").get_json()["resolved_at"] is None
    born_closed = create(svc, "a", subject="Dup", status="closed")
    assert born_closed["resolved_at"] is not None


def test_closed_is_final_except_reopen(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, "a", subject="Done", status="closed")
    for target in ("new", "pending", "resolved"):
        resp = patch(svc, rec, status=target)
        assert resp.status_code == 422, target
        assert "status" in resp.get_json()["errors"]
    assert patch(svc, rec, status="closed").status_code == 200  # no change is no transition
    assert patch(svc, rec, subject="Done, renamed").status_code == 200
    assert patch(svc, rec, status="open").get_json()["status"] == "open"
    # every other move is allowed, including back from resolved
    assert patch(svc, rec, status="resolved").status_code == 200
    assert patch(svc, rec, status="new").status_code == 200


def test_list_filters(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    agent, contact = uuid.uuid4(), uuid.uuid4()
    a = create(svc, "a", subject="A", priority="high", assignee_id=str(agent))
    b = create(svc, "a", subject="B", priority="high", status="open", contact_id=str(contact))
    create(svc, "a", subject="C", priority="low", status="open")

    def ids(query: str) -> list[str]:
        resp = svc.client.get(f"/v1/tickets?{query}", headers=svc.headers("a"))
        assert resp.status_code == 200, resp.get_json()
        return [t["id"] for t in resp.get_json()["data"]]

    assert ids("priority=high&sort=subject") == [a["id"], b["id"]]
    assert ids("priority=high&status=open") == [b["id"]]
    assert ids(f"assignee_id={agent}") == [a["id"]]
    assert ids(f"contact_id={contact}") == [b["id"]]
    assert ids("status=closed") == []
    assert [t["subject"] for t in svc.client.get("/v1/tickets?sort=-priority,subject", headers=svc.headers("a"))
            .get_json()["data"]] == ["A", "B", "C"]  # by urgency, not alphabet
    assert ids("sort=status") == [a["id"], b["id"], ids("priority=low")[0]]  # workflow order: new, open
    for query, param in (("status=done", "status"), ("priority=asap", "priority"),
                         ("assignee_id=x", "assignee_id"), ("contact_id=1", "contact_id"), ("sort=description", "sort")):
        resp = svc.client.get(f"/v1/tickets?{query}", headers=svc.headers("a"))
        assert resp.status_code == 400, query
        assert param in resp.get_json()["errors"]


def test_cursor_pages_by_priority(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    for priority in ("low", "urgent", "normal", "high", "urgent"):
        create(svc, "a", subject=priority, priority=priority)
    seen, cursor = [], ""
    while True:
        page = svc.client.get(f"/v1/tickets?limit=2&sort=-priority&cursor={cursor}", headers=svc.headers("a")).get_json()
        seen += [t["priority"] for t in page["data"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == ["urgent", "urgent", "high", "normal", "low"]


def test_stale_if_match_is_412(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, "a", subject="S")
    h = {**svc.headers("a"), "If-Match": '"1"'}
    assert svc.client.patch(f"/v1/tickets/{rec['id']}", json={"subject": "T"}, headers=h).status_code == 200
    stale = svc.client.patch(f"/v1/tickets/{rec['id']}", json={"subject": "U"}, headers=h)
    assert stale.status_code == 412 and stale.get_json()["current"]["subject"] == "T"
    assert svc.client.delete(f"/v1/tickets/{rec['id']}", headers=h).status_code == 412


def test_events_are_written_to_the_outbox(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, "a", subject="Ev")
    patch(svc, rec, priority="high")
    patch(svc, rec, status="resolved")
    svc.client.delete(f"/v1/tickets/{rec['id']}", headers=svc.headers("a"))
    events = outbox_events(svc)
    assert [e["type"] for e in events] == ["crm.ticket.created", "crm.ticket.updated", "crm.ticket.updated",
                                           "crm.ticket.status_changed", "crm.ticket.deleted"]
    assert {e["topic"] for e in events} == {"crm.tickets.ticket"}
    assert {e["key"] for e in events} == {e["subject"] for e in events} == {rec["id"]}
    assert events[1]["data"]["changes"] == {"priority": ["normal", "high"]}
    assert events[2]["data"]["changes"]["status"] == ["new", "resolved"]
    assert events[2]["data"]["changes"]["resolved_at"][0] is None
    changed = events[3]["data"]
    assert (changed["from"], changed["to"], changed["status"]) == ("new", "resolved", "resolved")
    assert events[4]["data"]["status"] == "resolved"


def test_rejected_transition_writes_no_event(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, "a", subject="Closed", status="closed")
    assert patch(svc, rec, status="new").status_code == 422
    assert [e["type"] for e in outbox_events(svc)] == ["crm.ticket.created"]


def test_tenant_isolation(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    c, hb = svc.client, svc.headers("b")
    rec = create(svc, "a", subject="Secret", status="open", priority="urgent")
    assert c.get(f"/v1/tickets/{rec['id']}", headers=hb).status_code == 404
    assert c.get("/v1/tickets", headers=hb).get_json()["data"] == []
    assert c.get("/v1/tickets?status=open&priority=urgent", headers=hb).get_json()["data"] == []
    assert c.patch(f"/v1/tickets/{rec['id']}", json={"subject": "X"}, headers=hb).status_code == 404
    assert c.patch(f"/v1/tickets/{rec['id']}", json={"status": "closed"}, headers=hb).status_code == 404
    assert c.delete(f"/v1/tickets/{rec['id']}", headers=hb).status_code == 404
    assert c.get(f"/v1/tickets/{rec['id']}", headers=svc.headers("a")).get_json()["subject"] == "Secret"


def test_auth_and_scopes(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    c = svc.client
    assert c.get("/v1/tickets").status_code == 401
    read_only = svc.headers("a", scopes=("tickets:read",))
    assert c.get("/v1/tickets", headers=read_only).status_code == 200
    assert c.post("/v1/tickets", json={"subject": "x"}, headers=read_only).status_code == 403
    assert c.get("/v1/tickets", headers=svc.headers("a", scopes=("contacts:read",))).status_code == 403


def test_idempotency_key_replays_first_answer(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    h = {**svc.headers("a"), "Idempotency-Key": "t-1"}
    first = svc.client.post("/v1/tickets", json={"subject": "Once"}, headers=h)
    again = svc.client.post("/v1/tickets", json={"subject": "Once"}, headers=h)
    assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]
    assert len(svc.client.get("/v1/tickets", headers=svc.headers("a")).get_json()["data"]) == 1


def test_openapi_documents_filters(tickets_service: ServiceHarness) -> None:
    spec = tickets_service.client.get("/openapi.json").get_json()
    names = {p["name"] for p in spec["paths"]["/v1/tickets"]["get"]["parameters"]}
    assert {"status", "priority", "assignee_id", "contact_id", "limit", "cursor", "sort"} <= names
