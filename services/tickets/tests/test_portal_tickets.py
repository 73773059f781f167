"""Portal tickets: a session sees its own tickets (and its company's only when the tenant allows),
never another customer's or another tenant's; conversations show public replies and customer
messages, never internal notes; customers open tickets, reply (reopening a resolved one) and
attach files that only they (and staff) can fetch back."""

from __future__ import annotations

import base64
import io
import uuid

import pytest
from portal_helpers import bearer, mailbox, new_client, outbox, public, sign_in, staff_patch, staff_ticket
from sqlalchemy import select, update

from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness
from tickets.models import Ticket
from tickets.models.conversations import TicketMessage
from tickets.service.conversations import add_message
from tickets.service.desk import build_desk


def _add(svc: ServiceHarness, tenant: str, ticket: dict, kind: str, text: str) -> None:
    runtime = svc.app.extensions["crm_runtime"]
    desk = build_desk(svc.settings, runtime.outbox)
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        row = session.scalars(select(Ticket).where(Ticket.id == uuid.UUID(ticket["id"]))).one()
        add_message(session, desk, row, kind=kind, author_type="agent", channel="email", text=text,
                    author_name="Agent Smith", author_email="smith@staff.example", author_id=uuid.uuid4())


def _company(svc: ServiceHarness, tenant: str, ticket: dict, company: uuid.UUID) -> None:
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        session.execute(update(Ticket).where(Ticket.id == uuid.UUID(ticket["id"])).values(company_id=company))


def test_own_tickets_only(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    mine = staff_ticket(svc, "a", "ann@example.com", subject="Mine")
    theirs = staff_ticket(svc, "a", "bob@example.com", subject="Bob's")
    staff_ticket(svc, "b", "ann@example.com", subject="Other tenant")
    ann = sign_in(svc, box, "ann@example.com")
    listed = svc.client.get(f"/portal/{box}/tickets", headers=bearer(svc, ann)).get_json()
    assert [(t["number"], t["subject"], t["mine"]) for t in listed["data"]] == [(mine["number"], "Mine", True)]
    assert "id" not in listed["data"][0] and "assignee_id" not in listed["data"][0]
    got = svc.client.get(f"/portal/{box}/tickets/{mine['number']}", headers=bearer(svc, ann))
    assert got.status_code == 200 and got.get_json()["subject"] == "Mine"
    # Bob's ticket is a 404 exactly like a number that does not exist.
    hidden = svc.client.get(f"/portal/{box}/tickets/{theirs['number']}", headers=bearer(svc, ann))
    absent = svc.client.get(f"/portal/{box}/tickets/99999", headers=bearer(svc, ann))
    assert hidden.status_code == absent.status_code == 404
    assert hidden.get_json()["detail"].startswith("No ticket #")
    assert svc.client.post(f"/portal/{box}/tickets/{theirs['number']}/messages", json={"text": "me too"},
                           headers=bearer(svc, ann)).status_code == 404
    assert svc.client.get(f"/portal/{box}/tickets/abc", headers=bearer(svc, ann)).status_code == 404
    assert svc.client.get(f"/portal/{box}/tickets/{2**40}", headers=bearer(svc, ann)).status_code == 404
    # No session: 401 whatever the body says (a stranger learns nothing from validation).
    stranger = new_client(svc)  # svc.client holds the cookie of the last sign-in
    assert stranger.post(f"/portal/{box}/tickets", json={"subject": ""}, headers=public(svc)).status_code == 401
    assert stranger.post(f"/portal/{box}/tickets/{mine['number']}/messages", data=b"not json",
                         headers=public(svc)).status_code == 401
    bad = svc.client.get(f"/portal/{box}/tickets?status=bogus", headers=bearer(svc, ann))
    assert bad.status_code == 422 and "status" in bad.get_json()["errors"]


def test_company_tickets_follow_the_tenant_setting(tickets_service: ServiceHarness,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    acme = uuid.uuid4()
    mine = staff_ticket(svc, "a", "ann@example.com", subject="Mine")
    colleague = staff_ticket(svc, "a", "carl@example.com", subject="Carl's")
    stranger = staff_ticket(svc, "a", "dora@example.com", subject="Dora's")
    _company(svc, "a", mine, acme)
    _company(svc, "a", colleague, acme)
    _company(svc, "a", stranger, uuid.uuid4())
    ann = sign_in(svc, box, "ann@example.com")

    def subjects() -> list[tuple[str, bool]]:
        data = svc.client.get(f"/portal/{box}/tickets", headers=bearer(svc, ann)).get_json()["data"]
        return sorted((t["subject"], t["mine"]) for t in data)

    assert subjects() == [("Mine", True)]  # no ticket settings yet: own tickets only
    from tickets.service import tickets as core

    monkeypatch.setattr(core, "ticket_settings", lambda session: {"portal_company_tickets": False}, raising=False)
    assert subjects() == [("Mine", True)]
    monkeypatch.setattr(core, "ticket_settings", lambda session: {"portal_company_tickets": True}, raising=False)
    assert subjects() == [("Carl's", False), ("Mine", True)]
    assert svc.client.get(f"/portal/{box}/tickets/{colleague['number']}", headers=bearer(svc, ann)).status_code == 200
    assert svc.client.get(f"/portal/{box}/tickets/{stranger['number']}", headers=bearer(svc, ann)).status_code == 404

    def broken(session: object) -> dict:
        raise RuntimeError("settings table missing")

    monkeypatch.setattr(core, "ticket_settings", broken, raising=False)
    assert subjects() == [("Mine", True)]  # a settings failure never widens what a customer sees


def test_conversation_hides_internal_notes(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    ticket = staff_ticket(svc, "a", "ann@example.com", subject="Broken")
    _add(svc, "a", ticket, "note", "Customer is on the old plan, do not refund")
    _add(svc, "a", ticket, "reply", "Have you tried turning it off and on?")
    ann = sign_in(svc, box, "ann@example.com")
    body = svc.client.get(f"/portal/{box}/tickets/{ticket['number']}", headers=bearer(svc, ann)).get_json()
    assert [(m["kind"], m["text"]) for m in body["messages"]] == [("reply", "Have you tried turning it off and on?")]
    assert body["messages"][0]["author_name"] == "Agent Smith" and body["messages"][0]["author_email"] is None
    page = svc.client.get(f"/portal/{box}/tickets/{ticket['number']}",
                          headers={**bearer(svc, ann), "Accept": "text/html"}).get_data(as_text=True)
    assert "turning it off" in page and "refund" not in page


def test_open_a_ticket_and_reply(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    staff_ticket(svc, "a", "ann@example.com", subject="Earlier")
    ann = sign_in(svc, box, "ann@example.com")
    resp = svc.client.post(f"/portal/{box}/tickets", json={"subject": " Cannot log in ", "text": "It says 403."},
                           headers=bearer(svc, ann))
    assert resp.status_code == 201, resp.get_json()
    opened = resp.get_json()
    assert resp.headers["Location"] == f"/portal/{box}/tickets/{opened['number']}"
    assert opened["subject"] == "Cannot log in" and opened["channel"] == "portal" and opened["mine"] is True
    assert [(m["kind"], m["author_type"], m["text"]) for m in opened["messages"]] == [("customer", "customer",
                                                                                       "It says 403.")]
    staff = svc.client.get("/v1/tickets?limit=10", headers=svc.headers("a")).get_json()["data"]
    created = next(t for t in staff if t["number"] == opened["number"])
    assert created["requester_email"] == "ann@example.com" and created["channel"] == "portal"
    types = [e["type"] for e in outbox(svc)]
    assert "crm.ticket.created" in types and "crm.ticket.message_added" in types
    invalid = svc.client.post(f"/portal/{box}/tickets", json={"subject": "", "text": 5}, headers=bearer(svc, ann))
    assert invalid.status_code == 422 and {"subject", "text"} <= set(invalid.get_json()["errors"])

    reply = svc.client.post(f"/portal/{box}/tickets/{opened['number']}/messages", json={"text": "Any news?"},
                            headers=bearer(svc, ann))
    assert reply.status_code == 201 and reply.get_json()["kind"] == "customer"
    # A resolved ticket reopens on the customer's reply.
    staff_patch(svc, "a", created, status="resolved")
    again = svc.client.post(f"/portal/{box}/tickets/{opened['number']}/messages", json={"text": "Broken again"},
                            headers=bearer(svc, ann))
    assert again.status_code == 201 and again.get_json()["ticket"]["status"] == "open"
    # A closed one stays closed: the message opens a new ticket linked to it.
    staff_patch(svc, "a", created, status="closed")
    late = svc.client.post(f"/portal/{box}/tickets/{opened['number']}/messages", json={"text": "And again"},
                           headers=bearer(svc, ann))
    assert late.status_code == 201
    new_number = late.get_json()["ticket"]["number"]
    assert new_number != opened["number"]
    linked = svc.client.get(f"/portal/{box}/tickets/{new_number}", headers=bearer(svc, ann)).get_json()
    assert linked["linked_ticket_number"] == opened["number"] and linked["status"] == "new"
    history = svc.client.get(f"/portal/{box}/tickets/{opened['number']}", headers=bearer(svc, ann)).get_json()
    assert [m["text"] for m in history["messages"]] == ["It says 403.", "Any news?", "Broken again"]


def test_attachments_json_and_multipart(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    staff_ticket(svc, "a", "ann@example.com")
    staff_ticket(svc, "a", "bob@example.com")
    ann, bob = sign_in(svc, box, "ann@example.com"), sign_in(svc, box, "bob@example.com")
    pdf = b"%PDF-1.4 portal"
    resp = svc.client.post(f"/portal/{box}/tickets", headers=bearer(svc, ann), json={
        "subject": "Invoice", "text": "See attached",
        "attachments": [{"filename": "invoice.pdf", "content_type": "application/pdf",
                         "content_base64": base64.b64encode(pdf).decode()}]})
    assert resp.status_code == 201, resp.get_json()
    ticket = resp.get_json()
    [att] = ticket["messages"][0]["attachments"]
    assert (att["filename"], att["content_type"], att["size"]) == ("invoice.pdf", "application/pdf", len(pdf))
    got = svc.client.get(att["url"], headers=bearer(svc, ann))
    assert got.status_code == 200 and got.data == pdf
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert svc.client.get(att["url"], headers=bearer(svc, bob)).status_code == 404  # not Bob's ticket
    assert svc.client.get(f"/v1/portal/attachments/{att['id']}", headers=svc.headers("a")).data == pdf  # staff
    assert svc.client.get(f"/v1/portal/attachments/{att['id']}", headers=svc.headers("b")).status_code == 404

    multipart = svc.client.post(
        f"/portal/{box}/tickets/{ticket['number']}/messages", headers=bearer(svc, ann),
        data={"text": "Another", "attachments": [(io.BytesIO(b"hello"), "note.txt", "text/plain")]},
        content_type="multipart/form-data")
    assert multipart.status_code == 201, multipart.get_json()
    assert [a["filename"] for a in multipart.get_json()["attachments"]] == ["note.txt"]
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        stored = session.scalars(select(TicketMessage.attachments).where(TicketMessage.body_text == "Another")).one()
        assert stored[0]["filename"] == "note.txt" and stored[0]["size"] == 5

    bad = svc.client.post(f"/portal/{box}/tickets", headers=bearer(svc, ann), json={
        "subject": "x", "text": "y", "attachments": [{"filename": "a.bin", "content_base64": "%%%"}]})
    assert bad.status_code == 422 and "attachments.0.content_base64" in bad.get_json()["errors"]
    pathy = svc.client.post(f"/portal/{box}/tickets", headers=bearer(svc, ann), json={
        "subject": "x", "text": "y", "attachments": [{"filename": "../etc/passwd", "content_base64": "aGk="}]})
    assert pathy.status_code == 422 and "attachments.0.filename" in pathy.get_json()["errors"]
    big = base64.b64encode(b"x" * (640 * 1024 + 1)).decode()
    too_big = svc.client.post(f"/portal/{box}/tickets", headers=bearer(svc, ann), json={
        "subject": "x", "text": "y", "attachments": [{"filename": "big.bin", "content_base64": big}]})
    assert too_big.status_code == 413 and "attachments" in too_big.get_json()["errors"]
