"""Ticket core on the embedded database: per-tenant numbers, channel, tags, custom fields, the
filter language, statuses (aliases, the tenant's own), settings, auto-close timers."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from tickets_core_helpers import create, get, listing, outbox_events, patch

from crm_core.context import tenant_context
from crm_db.base import as_utc
from crm_testing.apps import ServiceHarness
from crm_testing.clock import Clock
from tickets.models import timers
from tickets.service.tickets import AUTO_CLOSE, scheduler, ticket_settings

# --- numbers -------------------------------------------------------------------------------------

def test_numbers_per_tenant_start_at_1001(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    a = [create(svc, "a", subject=f"A{i}")["number"] for i in range(3)]
    b = [create(svc, "b", subject=f"B{i}")["number"] for i in range(2)]
    assert a == [1001, 1002, 1003] and b == [1001, 1002]
    deleted = create(svc, "a", subject="gone")
    assert svc.client.delete(f"/v1/tickets/{deleted['id']}", headers=svc.headers("a")).status_code == 204
    assert create(svc, "a", subject="next")["number"] == 1005  # never reused


def test_by_number_and_number_filter(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    first, second = create(svc, "a", subject="one"), create(svc, "a", subject="two")
    other = create(svc, "b", subject="theirs")
    got = svc.client.get("/v1/tickets/by-number/1002", headers=svc.headers("a"))
    assert got.status_code == 200 and got.get_json()["id"] == second["id"] and got.headers["ETag"] == '"1"'
    assert svc.client.get("/v1/tickets/by-number/1001", headers=svc.headers("b")).get_json()["id"] == other["id"]
    assert svc.client.get("/v1/tickets/by-number/1003", headers=svc.headers("a")).status_code == 404
    bad = svc.client.get("/v1/tickets/by-number/abc", headers=svc.headers("a"))
    assert bad.status_code == 400 and "number" in bad.get_json()["errors"]
    assert [t["id"] for t in listing(svc, "filter=number = 1001")] == [first["id"]]
    assert [t["id"] for t in listing(svc, "filter=number >= 1001&sort=-number")] == [second["id"], first["id"]]
    assert [t["id"] for t in listing(svc, "q=%231002")] == [second["id"]]  # q=#1002


# --- channel, requester, tags --------------------------------------------------------------------

def test_channel_requester_and_tags(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, "a", subject="Hi", channel="email", requester_email="Ada@Example.COM", requester_name=" Ada L ",
                 tags=["VIP", " vip ", "Billing  Issue", "billing issue"])
    assert rec["channel"] == "email" and rec["requester_email"] == "ada@example.com" and rec["requester_name"] == "Ada L"
    assert rec["tags"] == ["vip", "billing issue"]
    assert create(svc, "a", subject="default")["channel"] == "api"
    bad = svc.client.post("/v1/tickets", json={"subject": "x", "channel": "fax", "requester_email": "nope",
                                               "tags": ["", "x" * 101]}, headers=svc.headers("a"))
    assert bad.status_code == 422 and {"channel", "requester_email", "tags.0", "tags.1"} <= set(bad.get_json()["errors"])
    assert patch(svc, rec, tags=["Later"]).get_json()["tags"] == ["later"]
    assert [t["id"] for t in listing(svc, "filter=tags in ('vip')")] == []
    assert [t["id"] for t in listing(svc, "filter=tags contains 'later' and channel = 'email'")] == [rec["id"]]


# --- custom fields -------------------------------------------------------------------------------

def define(svc: ServiceHarness, tenant: str = "a", **body: object):
    return svc.client.post("/v1/properties/tickets", json=body, headers=svc.headers(tenant))


def test_custom_fields_are_defined_checked_and_filtered(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    made = define(svc, key="product", label="Product", type="enum", options=["printer", "scanner"])
    assert made.status_code == 201 and made.headers["Location"] == "/v1/properties/tickets/product"
    assert define(svc, key="seats", label="Seats", type="number").status_code == 201
    assert define(svc, key="product", label="Again", type="text").status_code == 409
    assert define(svc, key="status", label="Status", type="text").status_code == 422  # a built-in field
    assert define(svc, key="and", label="And", type="text").status_code == 422  # a word of the language
    printer = create(svc, "a", subject="Jam", properties={"product": "printer", "seats": 3})
    scanner = create(svc, "a", subject="Blur", properties={"product": "scanner"})
    bad = svc.client.post("/v1/tickets", json={"subject": "x", "properties": {"product": "fax", "colour": "red"}},
                          headers=svc.headers("a"))
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"properties.product", "properties.colour"}
    assert [t["id"] for t in listing(svc, "filter=product = 'printer'")] == [printer["id"]]
    assert [t["id"] for t in listing(svc, "filter=seats > 1 or product = 'scanner'&sort=seats")] == [printer["id"], scanner["id"]]
    unknown = svc.client.get("/v1/tickets?filter=colour = 'red'", headers=svc.headers("a"))
    assert unknown.status_code == 400 and "filter" in unknown.get_json()["errors"]
    # null deletes a value; archiving hides values without deleting them
    assert patch(svc, printer, properties={"seats": None}).get_json()["properties"] == {"product": "printer"}
    assert svc.client.delete("/v1/properties/tickets/product", headers=svc.headers("a")).status_code == 204
    assert get(svc, printer)["properties"] == {}
    assert listing(svc, "limit=10")[0]["properties"] == {}
    restored = svc.client.patch("/v1/properties/tickets/product", json={"archived": False}, headers=svc.headers("a"))
    assert restored.status_code == 200 and get(svc, printer)["properties"] == {"product": "printer"}
    listed = svc.client.get("/v1/properties/tickets", headers=svc.headers("a")).get_json()["data"]
    assert [d["key"] for d in listed] == ["product", "seats"] and {d["object"] for d in listed} == {"ticket"}


def test_required_custom_field_on_create(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    assert define(svc, key="region", label="Region", type="text", required=True).status_code == 201
    missing = svc.client.post("/v1/tickets", json={"subject": "x"}, headers=svc.headers("a"))
    assert missing.status_code == 422 and set(missing.get_json()["errors"]) == {"properties.region"}
    rec = create(svc, "a", subject="x", properties={"region": "EU"})
    assert patch(svc, rec, subject="y").status_code == 200  # updates don't need to resend it
    assert patch(svc, rec, properties={"region": None}).status_code == 422


def test_custom_field_admin_needs_an_admin(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    member = svc.headers("a", roles=("member",))
    assert svc.client.post("/v1/properties/tickets", json={"key": "k", "label": "K", "type": "text"},
                           headers=member).status_code == 403
    assert svc.client.get("/v1/properties/tickets", headers=member).status_code == 200


# --- filter language -----------------------------------------------------------------------------

def test_filter_sort_and_search(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    agent = uuid.uuid4()
    a = create(svc, "a", subject="Printer on fire", priority="urgent", status="open", assignee_id=str(agent))
    b = create(svc, "a", subject="Password reset", description="Cannot log in", requester_email="bob@example.com",
               priority="low")
    c = create(svc, "a", subject="Invoice copy", requester_name="Carla Printz", status="on-hold")

    def ids(query: str) -> list[str]:
        return [t["id"] for t in listing(svc, query)]

    assert ids("filter=priority = 'urgent' or status = 'on_hold'&sort=number") == [a["id"], c["id"]]
    assert ids("filter=status in ('open', 'on-hold')&sort=-status") == [c["id"], a["id"]]  # workflow order
    assert ids("filter=priority != 'low'&sort=-priority,number") == [a["id"], c["id"]]  # urgent, normal
    assert ids("sort=priority,number") == [b["id"], c["id"], a["id"]]
    assert ids(f"filter=assignee_id = '{agent}'") == [a["id"]]
    assert ids("filter=requester_email = 'BOB@example.com'") == [b["id"]]
    assert ids("filter=assignee_id is null&sort=subject") == [c["id"], b["id"]]
    assert ids("q=PRINT&sort=number") == [a["id"], c["id"]]  # subject, requester name
    assert ids("q=LOG in") == [b["id"]]  # description, every word
    assert ids("q=bob@example") == [b["id"]]
    # the simple parameters still work, also beside filter=
    assert ids("status=on-hold") == [c["id"]]
    assert ids("priority=low&filter=subject starts_with 'Pass'") == [b["id"]]
    assert ids("status=open&filter=priority = 'low'") == []
    for query, param in (("filter=status = 'done'", "filter"), ("filter=subject ==", "filter"),
                         ("sort=description", "sort"), ("status=done", "status"), ("channel=fax", "channel")):
        resp = svc.client.get(f"/v1/tickets?{query}", headers=svc.headers("a"))
        assert resp.status_code == 400, query
        assert param in resp.get_json()["errors"], (query, resp.get_json())


# --- statuses and settings -----------------------------------------------------------------------

def settings(svc: ServiceHarness, tenant: str = "a", **body: object):
    return svc.client.patch("/v1/settings/tickets", json=body, headers=svc.headers(tenant))


def test_on_hold_alias(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, "a", subject="Waiting on vendor", status="on-hold")
    assert rec["status"] == "on_hold"
    assert patch(svc, rec, status="pending").get_json()["status"] == "pending"
    assert patch(svc, rec, status="on-hold").get_json()["status"] == "on_hold"


def test_settings_defaults_and_changes(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    got = svc.client.get("/v1/settings/tickets", headers=svc.headers("a")).get_json()
    assert got == {"statuses": [], "auto_close_days": 7, "portal_company_tickets": False, "next_number": 1001}
    changed = settings(svc, statuses=[{"key": "waiting_on_vendor", "label": "Waiting on vendor", "base": "on-hold"}],
                       portal_company_tickets=True)
    assert changed.status_code == 200
    assert changed.get_json()["statuses"] == [{"key": "waiting_on_vendor", "label": "Waiting on vendor", "base": "on_hold"}]
    assert changed.get_json()["portal_company_tickets"] is True and changed.get_json()["auto_close_days"] == 7
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        assert ticket_settings(session).portal_company_tickets is True
    with tenant_context(svc.tenant("b")), svc.db.transaction() as session:
        assert ticket_settings(session).portal_company_tickets is False  # another tenant's defaults
    for body, field in (({"auto_close_days": -1}, "auto_close_days"),
                        ({"statuses": [{"key": "x", "label": "X", "base": "done"}]}, "statuses"),
                        ({"statuses": [{"key": "open", "label": "Open", "base": "open"}]}, "statuses"),
                        ({"statuses": [{"key": "a", "label": "A", "base": "open"}, {"key": "a", "label": "B", "base": "new"}]},
                         "statuses")):
        resp = settings(svc, **body)
        assert resp.status_code == 422 and any(k.startswith(field) for k in resp.get_json()["errors"]), body
    assert svc.client.patch("/v1/settings/tickets", json={"auto_close_days": 1},
                            headers=svc.headers("a", roles=("member",))).status_code == 403
    assert [e.type for e in outbox_events(svc)] == ["crm.ticket_settings.updated"]


def test_numbering_moves_forward_only(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    # a desk moving over continues its numbering, before its first ticket or after some
    assert settings(svc, next_number=5000).get_json()["next_number"] == 5000
    assert create(svc, "a", subject="First here")["number"] == 5000
    assert create(svc, "b", subject="B counts alone")["number"] == 1001
    resp = settings(svc, next_number=5000)  # 5000 is taken: numbers are never reused
    assert resp.status_code == 422 and "next_number" in resp.get_json()["errors"]
    assert settings(svc, next_number=0).status_code == 422
    assert settings(svc, next_number=7000).get_json()["next_number"] == 7000
    assert [create(svc, "a", subject=f"Then {n}")["number"] for n in range(2)] == [7000, 7001]
    assert svc.client.get("/v1/tickets/by-number/7001", headers=svc.headers("a")).get_json()["subject"] == "Then 1"
    assert svc.client.get("/v1/tickets/by-number/7001", headers=svc.headers("b")).status_code == 404
    changes = [e.data.get("changes") for e in outbox_events(svc) if e.type == "crm.ticket_settings.updated"]
    assert {"next_number": [1001, 5000]} in changes and {"next_number": [5001, 7000]} in changes
    bodies = [e.data for e in outbox_events(svc) if e.type == "crm.ticket_settings.updated"]
    assert bodies[-1]["next_number"] == 7000  # the body is the settings as GET showed them then


def test_custom_status_sets_its_base(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    settings(svc, statuses=[{"key": "waiting_on_vendor", "label": "Waiting on vendor", "base": "on_hold"},
                            {"key": "escalated", "label": "Escalated", "base": "open"}])
    rec = create(svc, "a", subject="Parts", custom_status="waiting_on_vendor")
    assert (rec["status"], rec["custom_status"]) == ("on_hold", "waiting_on_vendor")
    moved = patch(svc, rec, custom_status="escalated").get_json()
    assert (moved["status"], moved["custom_status"]) == ("open", "escalated")
    assert patch(svc, rec, subject="Parts!").get_json()["custom_status"] == "escalated"
    assert patch(svc, rec, status="open").get_json()["custom_status"] == "escalated"  # same base: kept
    left = patch(svc, rec, status="pending").get_json()
    assert (left["status"], left["custom_status"]) == ("pending", None)
    unknown = patch(svc, rec, custom_status="nope")
    assert unknown.status_code == 422 and "custom_status" in unknown.get_json()["errors"]
    clash = patch(svc, rec, custom_status="escalated", status="pending")
    assert clash.status_code == 422 and "status" in clash.get_json()["errors"]
    assert [t["id"] for t in listing(svc, "filter=custom_status = 'escalated'")] == []
    patch(svc, rec, custom_status="escalated")
    assert [t["id"] for t in listing(svc, "filter=custom_status = 'escalated'")] == [rec["id"]]
    # a status still in use can't be dropped; another tenant can't use A's statuses
    dropped = settings(svc, statuses=[{"key": "waiting_on_vendor", "label": "W", "base": "on_hold"}])
    assert dropped.status_code == 422 and "statuses" in dropped.get_json()["errors"]
    assert svc.client.post("/v1/tickets", json={"subject": "x", "custom_status": "escalated"},
                           headers=svc.headers("b")).status_code == 422
    changed = [e for e in outbox_events(svc) if e.type == "crm.ticket.status_changed"]
    assert [(e.data["from"], e.data["to"]) for e in changed] == [("on_hold", "open"), ("open", "pending"), ("pending", "open")]


# --- auto-close ----------------------------------------------------------------------------------

def _pending_auto_close(svc: ServiceHarness, ticket_id: str) -> list[dt.datetime]:
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(timers.c.due_at).where(timers.c.kind == AUTO_CLOSE, timers.c.fired_at.is_(None),
                                                          timers.c.subject_id == uuid.UUID(ticket_id))).all()
    return [as_utc(r.due_at) for r in rows]


def test_resolved_ticket_closes_after_the_tenants_days(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    clock = Clock()
    run = scheduler(svc.settings, svc.db, now=clock)
    rec = create(svc, "a", subject="Fixed?")
    resolved = patch(svc, rec, status="resolved").get_json()
    due = _pending_auto_close(svc, rec["id"])
    resolved_at = dt.datetime.fromisoformat(resolved["resolved_at"].replace("Z", "+00:00"))
    assert due == [resolved_at + dt.timedelta(days=7)]
    clock.at = resolved_at + dt.timedelta(days=6, hours=23)
    assert run.drain() == 0 and get(svc, rec)["status"] == "resolved"
    clock.at = resolved_at + dt.timedelta(days=7, seconds=1)
    assert run.drain() == 1
    closed = get(svc, rec)
    assert closed["status"] == "closed" and closed["resolved_at"] == resolved["resolved_at"] and closed["closed_at"]
    assert outbox_events(svc)[-1].type == "crm.ticket.status_changed"
    assert outbox_events(svc)[-1].data["to"] == "closed"
    assert run.drain() == 0 and _pending_auto_close(svc, rec["id"]) == []


def test_reopening_cancels_and_zero_days_never_closes(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    clock = Clock()
    run = scheduler(svc.settings, svc.db, now=clock)
    rec = create(svc, "a", subject="Back again")
    patch(svc, rec, status="resolved")
    assert len(_pending_auto_close(svc, rec["id"])) == 1
    patch(svc, rec, status="open")
    assert _pending_auto_close(svc, rec["id"]) == []
    born = create(svc, "a", subject="Born resolved", status="resolved")
    assert len(_pending_auto_close(svc, born["id"])) == 1
    # 0 = never: pending timers go; a longer period re-plans the resolved tickets
    settings(svc, auto_close_days=0)
    assert _pending_auto_close(svc, born["id"]) == []
    patch(svc, rec, status="resolved")
    assert _pending_auto_close(svc, rec["id"]) == []
    settings(svc, auto_close_days=2)
    assert len(_pending_auto_close(svc, rec["id"])) == 1 and len(_pending_auto_close(svc, born["id"])) == 1
    clock.advance(days=2, seconds=5)
    assert run.drain() == 2
    assert get(svc, rec)["status"] == get(svc, born)["status"] == "closed"
    # a ticket of another tenant resolved at the same time is on its own tenant's 7 days
    theirs = create(svc, "b", subject="B's", status="resolved")
    assert run.drain() == 0 and get(svc, theirs, "b")["status"] == "resolved"
    gone = create(svc, "a", subject="deleted", status="resolved")
    svc.client.delete(f"/v1/tickets/{gone['id']}", headers=svc.headers("a"))
    assert _pending_auto_close(svc, gone["id"]) == []
