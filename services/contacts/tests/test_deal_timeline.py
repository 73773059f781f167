"""Deal timelines in the one activity store: /v1/deals/{id}/activities over the deal replica, an
activity with a contact on the deal and the contact timelines, and mail to +deal-<n>@."""

from __future__ import annotations

import uuid
from typing import Any

from deal_timeline_helpers import deal, feed, outbox
from logged_mail_helpers import Api, received

from crm_testing.apps import ServiceHarness

NOTE = {"type": "note", "body": "Budget approved", "occurred_at": "2026-03-01T10:00:00Z"}


def test_deal_timeline_crud(contacts_service: ServiceHarness) -> None:
    svc, a = contacts_service, Api(contacts_service, "a")
    did = deal(svc, "a", 7)
    path = f"/v1/deals/{did}/activities"
    made = a("POST", path, NOTE, 201)
    assert made["deal_id"] == did and made["contact_id"] is None and made["company_id"] is None
    assert [x["id"] for x in a("GET", path)["data"]] == [made["id"]]
    assert a("GET", f"{path}/{made['id']}")["body"] == "Budget approved"
    changed = a("PATCH", f"{path}/{made['id']}", {"body": "Budget approved by CFO"})
    assert changed["version"] == 2
    created = outbox(svc, "a", "crm.activity.created")[-1]["data"]
    assert created["deal_id"] == did and created["type"] == "note"
    assert a.svc.client.delete(f"{path}/{made['id']}", headers=svc.headers("a")).status_code == 204
    assert a("GET", path)["data"] == []
    assert outbox(svc, "a", "crm.activity.deleted")[-1]["data"]["deal_id"] == did


def test_one_call_with_a_contact_is_on_every_timeline(contacts_service: ServiceHarness) -> None:
    svc, a = contacts_service, Api(contacts_service, "a")
    company = a("POST", "/v1/companies", {"name": "Acme"}, 201)
    ada = a.contact("ada@acme.test", company_id=company["id"])
    did = deal(svc, "a", 1)
    call = {"type": "call", "direction": "outbound", "occurred_at": "2026-03-01T10:00:00Z", "contact_id": ada["id"]}
    made = a("POST", f"/v1/deals/{did}/activities", call, 201)
    assert (made["deal_id"], made["contact_id"], made["company_id"]) == (did, ada["id"], company["id"])
    for timeline in (f"/v1/deals/{did}", f"/v1/contacts/{ada['id']}", f"/v1/companies/{company['id']}"):
        assert [x["id"] for x in a("GET", f"{timeline}/activities")["data"]] == [made["id"]], timeline
    assert a("GET", f"/v1/contacts/{ada['id']}")["last_contacted_at"] == "2026-03-01T10:00:00Z"
    # The other way round: logged on the contact, naming the deal.
    other = a("POST", f"/v1/contacts/{ada['id']}/activities", {**NOTE, "deal_id": did}, 201)
    assert other["id"] in {x["id"] for x in a("GET", f"/v1/deals/{did}/activities")["data"]}


def test_unknown_and_deleted_deals_are_refused(contacts_service: ServiceHarness) -> None:
    svc, a = contacts_service, Api(contacts_service, "a")
    ada = a.contact("ada@acme.test")
    missing = str(uuid.uuid4())
    a("GET", f"/v1/deals/{missing}/activities", status=404)
    a("POST", f"/v1/deals/{missing}/activities", NOTE, 404)
    a("GET", "/v1/deals/not-a-uuid/activities", status=404)
    bad = a("POST", f"/v1/contacts/{ada['id']}/activities", {**NOTE, "deal_id": missing}, 422)
    assert set(bad["errors"]) == {"deal_id"}
    did = deal(svc, "a", 3)
    bad = a("POST", f"/v1/deals/{did}/activities", {**NOTE, "contact_id": missing}, 422)
    assert set(bad["errors"]) == {"contact_id"}
    made = a("POST", f"/v1/contacts/{ada['id']}/activities", {**NOTE, "deal_id": did}, 201)
    assert set(a("PATCH", f"/v1/contacts/{ada['id']}/activities/{made['id']}", {"deal_id": missing}, 422)["errors"]) == {"deal_id"}
    feed(svc, "a", "crm.deal.deleted", {"id": did, "number": 3, "name": "x", "version": 2})
    a("GET", f"/v1/deals/{did}/activities", status=404)
    # A late, older update does not bring the deal back.
    feed(svc, "a", "crm.deal.updated", {"id": did, "number": 3, "name": "x", "version": 1})
    a("GET", f"/v1/deals/{did}/activities", status=404)
    assert outbox(svc, "a", "crm.activity.created")  # and nothing was created for the refused ones
    assert len(outbox(svc, "a", "crm.activity.created")) == 1


def logged_on(a: Api, deal_id: str) -> list[dict[str, Any]]:
    return [x for x in a("GET", f"/v1/deals/{deal_id}/activities")["data"] if x["type"] == "email"]


def test_mail_to_the_deal_address_lands_on_the_deal(contacts_service: ServiceHarness) -> None:
    svc, a = contacts_service, Api(contacts_service, "a")
    ada = a.contact("ada@example.com")
    did = deal(svc, "a", 42)
    mail = received(sender="me@ourco.example", to=["ada@example.com"], subject="Proposal", tag="deal",
                    deal_number=42, recipient="acme+deal-42@inbound.localhost")
    feed(svc, "a", "crm.mail.received", mail)
    [on_deal] = logged_on(a, did)
    assert (on_deal["subject"], on_deal["direction"], on_deal["contact_id"]) == ("Proposal", "outbound", None)
    assert [x["subject"] for x in a.timeline(ada["id"])] == ["Proposal"]  # and on the contact, as +log@ does
    feed(svc, "a", "crm.mail.received", mail)  # announced again: nothing twice
    assert len(logged_on(a, did)) == 1
    assert a("GET", f"/v1/logged-emails/{mail['id']}")["deal_id"] == did


def test_mail_for_an_unknown_deal_waits_for_it(contacts_service: ServiceHarness) -> None:
    svc, a = contacts_service, Api(contacts_service, "a")
    mail = received(sender="zed@nowhere.example", subject="Early", tag="deal", deal_number=9)
    feed(svc, "a", "crm.mail.received", mail)
    kept = a("GET", f"/v1/logged-emails/{mail['id']}")
    assert (kept["status"], kept["deal_number"], kept["deal_id"]) == ("unmatched", 9, None)
    assert mail["id"] in {x["id"] for x in a.logged("?status=unmatched")}
    other = deal(svc, "a", 8)  # another number adopts nothing
    assert logged_on(a, other) == []
    did = deal(svc, "a", 9)  # the deal's event came after the mail
    assert [x["subject"] for x in logged_on(a, did)] == ["Early"]
    assert a("GET", f"/v1/logged-emails/{mail['id']}")["status"] == "matched"


def test_deleting_the_contact_keeps_the_deals_history(contacts_service: ServiceHarness) -> None:
    svc, a = contacts_service, Api(contacts_service, "a")
    ada = a.contact("ada@acme.test")
    did = deal(svc, "a", 2)
    on_deal = a("POST", f"/v1/deals/{did}/activities", {**NOTE, "contact_id": ada["id"]}, 201)
    only_ada = a("POST", f"/v1/contacts/{ada['id']}/activities", NOTE, 201)
    assert svc.client.delete(f"/v1/contacts/{ada['id']}", headers=svc.headers("a")).status_code == 204
    [kept] = a("GET", f"/v1/deals/{did}/activities")["data"]
    assert (kept["id"], kept["contact_id"], kept["body"]) == (on_deal["id"], None, "Budget approved")
    assert only_ada["id"] in {e["data"]["id"] for e in outbox(svc, "a", "crm.activity.deleted")}
