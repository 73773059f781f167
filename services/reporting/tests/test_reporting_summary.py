"""Reporting projections fed through the real consumer runner on the embedded event log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from crm_core import context
from crm_events.envelope import Event
from crm_events.log import OutgoingRecord, open_publisher, open_subscriber
from crm_testing.apps import ServiceHarness, drain
from reporting.consumer import GROUP, TOPICS, handlers
from reporting.models import ContactFact

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TOPIC = {"contact": "crm.contacts.contact", "deal": "crm.pipeline.deal", "ticket": "crm.tickets.ticket",
         "campaign": "crm.campaigns.campaign"}
EMPTY = {"contacts": 0, "open_deals": 0, "pipeline_value": [], "open_tickets": 0, "campaigns": 0, "as_of": None}


def iso(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def event(svc: ServiceHarness, tenant: str, type_: str, subject: uuid.UUID, at: float, **data: Any) -> Event:
    """An envelope as the owning service's outbox writes it, stamped `at` minutes after T0."""
    return Event(type=type_, source=TOPIC[type_.split(".")[1]].split(".")[1], tenant_id=str(svc.tenant(tenant)),
                 subject=str(subject), data={"id": str(subject), **data}, time=iso(at))


def deliver(svc: ServiceHarness, *events: Event) -> None:
    """Publish the envelopes to their topics, then let the reporting consumer drain the log."""
    publisher = open_publisher(svc.settings)
    try:
        publisher.publish([OutgoingRecord(TOPIC[e.aggregate], e.subject, e.to_json().encode(), {"event_id": e.id})
                           for e in events])
    finally:
        publisher.close()
    drain(svc.consumer(GROUP, TOPICS, handlers()))


def summary(svc: ServiceHarness, tenant: str) -> dict[str, Any]:
    resp = svc.client.get("/v1/reports/summary", headers=svc.headers(tenant, scopes=("reports:read",)))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def test_empty_tenant_gets_zeros(reporting_service: ServiceHarness) -> None:
    assert summary(reporting_service, "a") == EMPTY


def test_summary_from_every_source(reporting_service: ServiceHarness) -> None:
    svc = reporting_service
    ids = [uuid.uuid4() for _ in range(12)]
    deliver(
        svc,
        event(svc, "a", "crm.contact.created", ids[0], 1, first_name="Ada", email="ada@example.com"),
        event(svc, "a", "crm.contact.created", ids[1], 2, first_name="Bob"),
        event(svc, "a", "crm.deal.created", ids[2], 3, status="open", amount=money("1000.00")),
        event(svc, "a", "crm.deal.created", ids[3], 4, status="open", amount=money("234.50")),
        event(svc, "a", "crm.deal.created", ids[4], 5, status="open", amount=money("10.00", "USD")),
        event(svc, "a", "crm.deal.created", ids[5], 6, status="won", amount=money("500.00")),
        event(svc, "a", "crm.deal.created", ids[6], 7, status="open", amount=None),
        event(svc, "a", "crm.ticket.created", ids[7], 8, status="new"),
        event(svc, "a", "crm.ticket.created", ids[8], 9, status="pending"),
        event(svc, "a", "crm.ticket.created", ids[9], 10, status="closed"),
        event(svc, "a", "crm.campaign.created", ids[10], 11, name="Spring", status="draft"),
        event(svc, "a", "crm.campaign.created", ids[11], 12, name="Autumn", status="draft"),
        # changes after creation
        event(svc, "a", "crm.deal.updated", ids[3], 13, status="lost", amount=money("234.50")),
        event(svc, "a", "crm.ticket.updated", ids[9], 14, status="open"),
        event(svc, "a", "crm.ticket.status_changed", ids[9], 14, status="open", **{"from": "closed", "to": "open"}),
        event(svc, "a", "crm.campaign.deleted", ids[11], 15, name="Autumn"),
        event(svc, "a", "crm.contact.deleted", ids[1], 16),
    )
    assert summary(svc, "a") == {
        "contacts": 1,
        "open_deals": 3,
        "pipeline_value": [money("1000.00"), money("10.00", "USD")],
        "open_tickets": 3,
        "campaigns": 1,
        "as_of": iso(16),
    }


def test_redelivery_of_an_event_id_changes_nothing(reporting_service: ServiceHarness) -> None:
    svc = reporting_service
    deal = uuid.uuid4()
    created = event(svc, "a", "crm.deal.created", deal, 1, status="open", amount=money("100.00"))
    deliver(svc, created, created)
    once = summary(svc, "a")
    assert once["open_deals"] == 1 and once["pipeline_value"] == [money("100.00")]
    won = event(svc, "a", "crm.deal.updated", deal, 2, status="won", amount=money("100.00"))
    deliver(svc, won, created, won)  # the old event again, after its successor
    after = summary(svc, "a")
    assert (after["open_deals"], after["pipeline_value"], after["as_of"]) == (0, [], iso(2))


def test_an_update_older_than_the_stored_state_is_ignored(reporting_service: ServiceHarness) -> None:
    svc = reporting_service
    deal, ticket = uuid.uuid4(), uuid.uuid4()
    deliver(svc,
            event(svc, "a", "crm.deal.updated", deal, 5, status="open", amount=money("200.00")),
            event(svc, "a", "crm.deal.updated", deal, 4, status="open", amount=money("150.00")),
            event(svc, "a", "crm.deal.created", deal, 1, status="open", amount=money("100.00")),
            event(svc, "a", "crm.ticket.updated", ticket, 5, status="resolved"),
            event(svc, "a", "crm.ticket.created", ticket, 1, status="new"))
    result = summary(svc, "a")
    assert result["pipeline_value"] == [money("200.00")]
    assert result["open_tickets"] == 0
    assert result["as_of"] == iso(5)


def test_delete_then_late_update_stays_deleted(reporting_service: ServiceHarness) -> None:
    svc = reporting_service
    contact, ticket, orphan = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    deliver(svc,
            event(svc, "a", "crm.contact.created", contact, 1),
            event(svc, "a", "crm.contact.deleted", contact, 3),
            event(svc, "a", "crm.contact.updated", contact, 2, first_name="Late"),
            event(svc, "a", "crm.ticket.deleted", ticket, 3, status="new"),
            event(svc, "a", "crm.ticket.updated", ticket, 3, status="open"),  # same instant: the delete wins
            # the delete is the first thing we hear of this one: the tombstone still guards it
            event(svc, "a", "crm.contact.deleted", orphan, 2),
            event(svc, "a", "crm.contact.created", orphan, 1))
    result = summary(svc, "a")
    assert (result["contacts"], result["open_tickets"]) == (0, 0)
    with context.tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        facts = session.scalars(select(ContactFact)).all()
    assert {(f.id, f.deleted) for f in facts} == {(contact, True), (orphan, True)}


def test_erased_and_merged_contacts_stop_counting(reporting_service: ServiceHarness) -> None:
    svc = reporting_service
    erased, primary, secondary = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    deliver(svc, *(event(svc, "a", "crm.contact.created", c, 1) for c in (erased, primary, secondary)))
    assert summary(svc, "a")["contacts"] == 3
    deliver(svc,
            event(svc, "a", "crm.contact.erased", erased, 2),
            event(svc, "a", "crm.contact.merged", primary, 3, secondary_id=str(secondary)),
            event(svc, "a", "crm.contact.updated", secondary, 2, first_name="Stale"))
    assert summary(svc, "a")["contacts"] == 1


def test_tenant_b_never_sees_tenant_a(reporting_service: ServiceHarness) -> None:
    svc = reporting_service
    shared = uuid.uuid4()  # the same record id in two tenants stays two facts
    deliver(svc,
            event(svc, "a", "crm.contact.created", shared, 1),
            event(svc, "a", "crm.deal.created", uuid.uuid4(), 2, status="open", amount=money("999.00")),
            event(svc, "a", "crm.ticket.created", uuid.uuid4(), 3, status="open"),
            event(svc, "a", "crm.campaign.created", uuid.uuid4(), 4, name="A only"))
    assert summary(svc, "b") == EMPTY
    deliver(svc,
            event(svc, "b", "crm.contact.created", shared, 5),
            event(svc, "b", "crm.deal.created", uuid.uuid4(), 6, status="open", amount=money("1.00")),
            event(svc, "b", "crm.contact.deleted", shared, 7))
    b = summary(svc, "b")
    assert (b["contacts"], b["open_deals"], b["pipeline_value"], b["open_tickets"], b["campaigns"], b["as_of"]) == (
        0, 1, [money("1.00")], 0, 0, iso(7))
    a = summary(svc, "a")
    assert (a["contacts"], a["pipeline_value"], a["as_of"]) == (1, [money("999.00")], iso(4))


def test_unhandleable_event_is_dead_lettered_and_the_rest_applied(reporting_service: ServiceHarness) -> None:
    svc = reporting_service
    bad = event(svc, "a", "crm.deal.created", uuid.uuid4(), 1, status="open", amount={"amount": "lots"})
    deliver(svc, bad, event(svc, "a", "crm.contact.created", uuid.uuid4(), 2))
    assert summary(svc, "a")["contacts"] == 1
    dlq = open_subscriber(svc.settings, "test-dlq", ["crm.pipeline.deal.dlq"])
    [record] = dlq.poll(0.5)
    assert Event.from_json(record.value).id == bad.id and record.headers["consumer"] == GROUP


def test_scope_and_auth(reporting_service: ServiceHarness) -> None:
    c = reporting_service.client
    assert c.get("/v1/reports/summary").status_code == 401
    forbidden = c.get("/v1/reports/summary", headers=reporting_service.headers("a", scopes=("contacts:read",)))
    assert forbidden.status_code == 403 and forbidden.content_type == "application/problem+json"


def test_openapi_documents_the_summary(reporting_service: ServiceHarness) -> None:
    spec = reporting_service.client.get("/openapi.json").get_json()
    assert "/v1/reports/summary" in spec["paths"]
    assert "Summary" in spec["components"]["schemas"]
