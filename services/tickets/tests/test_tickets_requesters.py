"""Requesters: the contact projection, matching at creation, and the chain through the contacts
service for an unknown address (both services on the embedded database, events handed over by
hand exactly as the relay and the consumers would)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from tickets_core_helpers import contact_event, create, deliver, desk, get, listing, outbox_events, patch

import contacts
from contacts.app import create_app as create_contacts_app
from contacts.consumer import ticket_requester_handlers
from contacts.models import metadata as contacts_metadata
from crm_core.context import tenant_context
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness


def test_known_contact_is_matched_at_creation(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    contact, company = uuid.uuid4(), uuid.uuid4()
    contact_event(svc, "a", contact, email="Ada@Example.com", first_name="Ada", company_id=str(company))
    rec = create(svc, "a", subject="Help", requester_email="ADA@example.com")
    assert (rec["contact_id"], rec["company_id"]) == (str(contact), str(company))
    assert outbox_events(svc)[0].data["contact_id"] == str(contact)  # the created event carries it
    # an explicit contact wins over the address
    other = uuid.uuid4()
    explicit = create(svc, "a", subject="Help", requester_email="ada@example.com", contact_id=str(other))
    assert (explicit["contact_id"], explicit["company_id"]) == (str(other), None)
    # a known contact fills in a missing requester address
    by_id = create(svc, "a", subject="Phone call", channel="phone", contact_id=str(contact))
    assert (by_id["requester_email"], by_id["company_id"]) == ("ada@example.com", str(company))
    # another tenant's contact is no match
    assert create(svc, "b", subject="Help", requester_email="ada@example.com")["contact_id"] is None


def test_a_new_contact_links_the_open_tickets_of_its_address(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    first = create(svc, "a", subject="One", requester_email="new@example.com")
    second = create(svc, "a", subject="Two", requester_email="new@example.com", status="resolved")
    closed = create(svc, "a", subject="Old", requester_email="new@example.com", status="closed")
    someone = uuid.uuid4()
    theirs = create(svc, "a", subject="Explicit", requester_email="new@example.com", contact_id=str(someone))
    other_tenant = create(svc, "b", subject="B", requester_email="new@example.com")
    assert first["contact_id"] is None
    contact, company = uuid.uuid4(), uuid.uuid4()
    contact_event(svc, "a", contact, email="new@example.com", company_id=str(company))
    for rec in (first, second):
        got = get(svc, rec)
        assert (got["contact_id"], got["company_id"]) == (str(contact), str(company))
    assert get(svc, closed)["contact_id"] is None  # closed tickets are history
    assert get(svc, theirs)["contact_id"] == str(someone)
    assert get(svc, other_tenant, "b")["contact_id"] is None
    linked = [e for e in outbox_events(svc) if e.type == "crm.ticket.updated"]
    assert {e.subject for e in linked} == {first["id"], second["id"]}
    assert linked[0].data["changes"]["contact_id"] == [None, str(contact)]
    # the contact's new company follows to its open tickets
    moved = uuid.uuid4()
    contact_event(svc, "a", contact, "crm.contact.updated", email="new@example.com", company_id=str(moved))
    assert get(svc, first)["company_id"] == str(moved)
    assert [t["id"] for t in listing(svc, f"filter=company_id = '{moved}'&sort=number")] == [first["id"], second["id"]]


def test_projection_keeps_the_newest_state_and_forgets_deleted(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    contact = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    contact_event(svc, "a", contact, "crm.contact.updated", at=now, email="late@example.com")
    contact_event(svc, "a", contact, "crm.contact.created", at=now - dt.timedelta(minutes=5), email="early@example.com")
    assert create(svc, "a", subject="x", requester_email="late@example.com")["contact_id"] == str(contact)
    assert create(svc, "a", subject="x", requester_email="early@example.com")["contact_id"] is None
    contact_event(svc, "a", contact, "crm.contact.deleted", at=now + dt.timedelta(minutes=1), email="late@example.com")
    assert create(svc, "a", subject="x", requester_email="late@example.com")["contact_id"] is None


def test_merged_contacts_move_their_tickets(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    primary, secondary = uuid.uuid4(), uuid.uuid4()
    contact_event(svc, "a", secondary, email="dup@example.com")
    rec = create(svc, "a", subject="x", requester_email="dup@example.com")
    assert rec["contact_id"] == str(secondary)
    contact_event(svc, "a", secondary, "crm.contact.deleted", merged_into=str(primary))
    contact_event(svc, "a", primary, "crm.contact.merged", primary_id=str(primary), secondary_id=str(secondary),
                  primary={"id": str(primary), "email": "main@example.com"})
    assert get(svc, rec)["contact_id"] == str(primary)


def test_changing_the_requester_rematches(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    known = uuid.uuid4()
    contact_event(svc, "a", known, email="known@example.com")
    rec = create(svc, "a", subject="x", requester_email="first@example.com")
    assert patch(svc, rec, requester_email="Known@example.com").get_json()["contact_id"] == str(known)
    assert patch(svc, rec, requester_email="unknown@example.com").get_json()["contact_id"] is None
    assert patch(svc, rec, contact_id=str(known)).get_json()["contact_id"] == str(known)


def _contacts_harness(tmp_path: Path) -> ServiceHarness:
    return make_harness("contacts", create_contacts_app, contacts_metadata(), migrations_dir(contacts.__file__),
                        tmp_path / "contacts")


def _to_contacts(crm: ServiceHarness, event) -> None:
    with tenant_context(uuid.UUID(event.tenant_id)), crm.db.transaction() as session:
        ticket_requester_handlers()[event.type](session, event)


def test_unknown_requester_becomes_a_contact_and_is_linked(tickets_service: ServiceHarness, tmp_path: Path) -> None:
    helpdesk, crm = tickets_service, _contacts_harness(tmp_path)
    tenant = helpdesk.tenant("a")
    ticket = create(helpdesk, tenant, subject="Where is my order?", channel="email", requester_email="Grace@Example.com",
                    requester_name="Grace Brewster Hopper")
    assert ticket["contact_id"] is None
    # tickets -> contacts: crm.ticket.created finds no contact, so one is created
    created = [e for e in outbox_events(helpdesk) if e.type == "crm.ticket.created"]
    _to_contacts(crm, created[0])
    people = crm.client.get("/v1/contacts?filter=email = 'grace@example.com'", headers=crm.headers(tenant)).get_json()["data"]
    assert len(people) == 1
    person = people[0]
    assert (person["first_name"], person["last_name"], person["source"], person["lifecycle_stage"]) == \
        ("Grace", "Brewster Hopper", "ticket", "customer")
    # contacts -> tickets: its ordinary crm.contact.created links the ticket
    contact_created = [e for e in outbox_events(crm) if e.type == "crm.contact.created"]
    assert [e.subject for e in contact_created] == [person["id"]]
    deliver(helpdesk, contact_created[0])
    assert get(helpdesk, ticket, tenant)["contact_id"] == person["id"]
    # redelivered or a second ticket's event: no second contact
    _to_contacts(crm, created[0])
    assert len(crm.client.get("/v1/contacts", headers=crm.headers(tenant)).get_json()["data"]) == 1


def test_existing_contact_is_announced_for_the_ticket(tickets_service: ServiceHarness, tmp_path: Path) -> None:
    helpdesk, crm = tickets_service, _contacts_harness(tmp_path)
    tenant = helpdesk.tenant("a")
    made = crm.client.post("/v1/contacts", json={"first_name": "Lin", "email": "lin@example.com", "emails": ["l@example.org"]},
                           headers=crm.headers(tenant))
    assert made.status_code == 201
    person = made.get_json()
    # the tickets projection never saw it (say, it predates the helpdesk): the ticket comes in unlinked
    ticket = create(helpdesk, tenant, subject="Hi", requester_email="L@example.org")
    before = len(outbox_events(crm))
    _to_contacts(crm, next(e for e in outbox_events(helpdesk) if e.type == "crm.ticket.created"))
    announced = outbox_events(crm)[before:]
    assert [e.type for e in announced] == ["crm.contact.requester_matched"]
    assert announced[0].data["ticket_id"] == ticket["id"]
    deliver(helpdesk, announced[0])
    assert get(helpdesk, ticket, tenant)["contact_id"] == person["id"]
    assert len(crm.client.get("/v1/contacts", headers=crm.headers(tenant)).get_json()["data"]) == 1
    # tickets that have a contact, or no address, are nothing for contacts to do
    with_contact = create(helpdesk, tenant, subject="x", requester_email="z@example.com", contact_id=person["id"])
    no_address = create(helpdesk, tenant, subject="y")
    before = len(outbox_events(crm))
    for event in outbox_events(helpdesk):
        if event.type == "crm.ticket.created" and event.subject in (with_contact["id"], no_address["id"]):
            _to_contacts(crm, event)
    assert outbox_events(crm)[before:] == []


def test_changed_requester_address_is_created_too(tickets_service: ServiceHarness, tmp_path: Path) -> None:
    helpdesk, crm = tickets_service, _contacts_harness(tmp_path)
    tenant = helpdesk.tenant("a")
    ticket = create(helpdesk, tenant, subject="Hi")
    patch(helpdesk, ticket, tenant, subject="Hello")
    patch(helpdesk, ticket, tenant, requester_email="later@example.com")
    for event in outbox_events(helpdesk):
        if event.type in ("crm.ticket.created", "crm.ticket.updated"):
            _to_contacts(crm, event)
    people = crm.client.get("/v1/contacts", headers=crm.headers(tenant)).get_json()["data"]
    assert [p["email"] for p in people] == ["later@example.com"]


def test_callers_of_the_service_get_the_same_rules(tickets_service: ServiceHarness) -> None:
    """An email or portal consumer creates tickets through the desk, not the API's schema."""
    svc = tickets_service
    contact = uuid.uuid4()
    contact_event(svc, "a", contact, email="ada@example.com")
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        ticket = desk(svc).tickets.create(session, {"subject": "By mail", "channel": "email", "status": "on-hold",
                                                    "requester_email": " ADA@example.com ", "tags": ["X ", "x"]})
        assert (ticket.requester_email, ticket.contact_id, ticket.tags, ticket.status, ticket.number) == \
            ("ada@example.com", contact, ["x"], "on_hold", 1001)
