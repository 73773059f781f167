"""Tenant B never sees, changes or infers tenant A's tickets, numbers, custom fields, settings,
contact projection or auto-close timers (embedded database; tests/integration repeats the core of
it on PostgreSQL under RLS)."""

from __future__ import annotations

import uuid

from tickets_core_helpers import contact_event, create, get, listing

from crm_testing.apps import ServiceHarness
from crm_testing.clock import Clock
from tickets.service.tickets import scheduler


def test_tickets_of_another_tenant_are_invisible(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    c, ha, hb = svc.client, svc.headers("a"), svc.headers("b")
    assert c.post("/v1/properties/tickets", json={"key": "product", "label": "P", "type": "text"}, headers=ha).status_code == 201
    assert c.patch("/v1/settings/tickets", json={"statuses": [{"key": "vendor", "label": "Vendor", "base": "on_hold"}],
                                                 "auto_close_days": 1, "portal_company_tickets": True},
                   headers=ha).status_code == 200
    contact = uuid.uuid4()
    contact_event(svc, "a", contact, email="secret@a.example")
    rec = create(svc, "a", subject="Secret printer", priority="urgent", requester_email="secret@a.example",
                 tags=["vip"], properties={"product": "x"}, custom_status="vendor")
    assert rec["contact_id"] == str(contact)
    # list, filter, search, sort, by-number
    assert listing(svc, "", "b") == []
    for query in ("filter=priority = 'urgent'", "filter=tags contains 'vip'", "q=secret", "q=1001", "status=on_hold",
                  f"filter=contact_id = '{contact}'", "filter=custom_status = 'vendor'", "sort=-number"):
        assert listing(svc, query, "b") == [], query
    assert c.get("/v1/tickets?filter=product = 'x'", headers=hb).status_code == 400  # B has no such field
    assert c.get("/v1/tickets/by-number/1001", headers=hb).status_code == 404
    # read, change, delete
    assert c.get(f"/v1/tickets/{rec['id']}", headers=hb).status_code == 404
    assert c.patch(f"/v1/tickets/{rec['id']}", json={"subject": "X"}, headers=hb).status_code == 404
    assert c.patch(f"/v1/tickets/{rec['id']}", json={"status": "closed"}, headers=hb).status_code == 404
    assert c.delete(f"/v1/tickets/{rec['id']}", headers=hb).status_code == 404
    # B's own numbering, custom fields, settings and projection are its own
    mine = create(svc, "b", subject="Mine", requester_email="secret@a.example")
    assert (mine["number"], mine["contact_id"]) == (1001, None)
    assert c.get("/v1/properties/tickets", headers=hb).get_json()["data"] == []
    assert c.get("/v1/properties/tickets/product", headers=hb).status_code == 404
    assert c.patch("/v1/properties/tickets/product", json={"label": "Mine"}, headers=hb).status_code == 404
    assert c.delete("/v1/properties/tickets/product", headers=hb).status_code == 404
    assert c.post("/v1/properties/tickets", json={"key": "product", "label": "Mine", "type": "number"},
                  headers=hb).status_code == 201  # the same key is free in B
    assert c.get("/v1/settings/tickets", headers=hb).get_json() == {"statuses": [], "auto_close_days": 7,
                                                                    "portal_company_tickets": False, "next_number": 1002}
    assert c.post("/v1/tickets", json={"subject": "x", "custom_status": "vendor"}, headers=hb).status_code == 422
    # A is untouched
    got = get(svc, rec)
    assert (got["subject"], got["properties"], got["status"]) == ("Secret printer", {"product": "x"}, "on_hold")
    assert c.get("/v1/properties/tickets/product", headers=ha).get_json()["type"] == "text"
    assert c.get("/v1/settings/tickets", headers=ha).get_json()["auto_close_days"] == 1


def test_auto_close_follows_each_tenants_setting(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    clock = Clock()
    svc.client.patch("/v1/settings/tickets", json={"auto_close_days": 1}, headers=svc.headers("a"))
    a = create(svc, "a", subject="A", status="resolved")
    b = create(svc, "b", subject="B", status="resolved")
    clock.advance(days=1, minutes=1)
    assert scheduler(svc.settings, svc.db, now=clock).drain() == 1
    assert get(svc, a)["status"] == "closed" and get(svc, b, "b")["status"] == "resolved"
