"""A ticket's requester on the real stack (PostgreSQL, Kafka, every worker a process): a ticket
opened for an unknown address makes the contacts service create the contact, whose
crm.contact.created comes back to the tickets worker and links the ticket; a second ticket from
that address is matched at creation through the tickets service's contact projection."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from crm_testing.platform import Platform, wait_for_json

pytestmark = pytest.mark.integration


# Three services and two hops over Kafka: generous bounds for a loaded machine (not a speed test).
@pytest.mark.timeout(900)
def test_a_new_requester_becomes_a_contact_linked_to_the_ticket(pg_platform: Platform) -> None:
    owner = pg_platform.signup("Desk Co")
    token = owner["access_token"]
    created = pg_platform.request("POST", "/v1/tickets", {
        "subject": "Where is my order?", "channel": "email", "requester_email": "Grace.Hopper@Desk.example",
        "requester_name": "Grace Hopper"}, token=token)
    assert created.status == 201, created.data
    ticket = created.json()
    assert ticket["requester_email"] == "grace.hopper@desk.example" and ticket["number"] == 1001
    query = quote("email = 'grace.hopper@desk.example'")
    body = wait_for_json(pg_platform, f"/v1/contacts?filter={query}", token, lambda b: len(b.get("data") or []) == 1,
                         timeout=400)
    contact = body["data"][0]
    assert (contact["first_name"], contact["last_name"], contact["source"]) == ("Grace", "Hopper", "ticket")
    linked = wait_for_json(pg_platform, f"/v1/tickets/{ticket['id']}", token,
                           lambda b: b.get("contact_id") == contact["id"], timeout=400)
    assert linked["requester_email"] == "grace.hopper@desk.example"
    # the projection knows the contact now: the next ticket from the address is matched at once
    again = pg_platform.request("POST", "/v1/tickets", {"subject": "And another thing",
                                                         "requester_email": "grace.hopper@desk.example"}, token=token)
    assert again.status == 201 and again.json()["contact_id"] == contact["id"] and again.json()["number"] == 1002
    by_contact = pg_platform.request("GET", f"/v1/tickets?filter={quote(chr(39).join(['contact_id = ', contact['id'], '']))}"
                                     "&sort=number", token=token).json()["data"]
    assert [t["number"] for t in by_contact] == [1001, 1002]
    # still one contact for the address
    assert len(pg_platform.request("GET", f"/v1/contacts?filter={query}", token=token).json()["data"]) == 1
