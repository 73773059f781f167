"""Webhooks and the contacts service's events: company and activity topics are delivered, and an
erased contact's deliveries lose their data (pending ones are not sent)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select
from webhook_helpers import Receiver, consume, create_webhook, worker_for

from automation.consumer import NOT_SENT, REDACTED, TOPICS
from automation.models import WebhookDelivery, delivery_queue
from crm_core.context import tenant_context
from crm_events.envelope import Event, topic_for
from crm_events.log import OutgoingRecord, open_publisher
from crm_testing.apps import ServiceHarness


def publish(svc: ServiceHarness, tenant: str, event_type: str, subject: str, **data: Any) -> Event:
    """As the contacts relay puts it on the log, on its aggregate's topic."""
    event = Event(type=event_type, source="contacts", tenant_id=str(svc.tenant(tenant)), subject=subject,
                  data={"id": subject, **data})
    publisher = open_publisher(svc.settings)
    try:
        publisher.publish([OutgoingRecord(topic_for("contacts", event_type), subject, event.to_json().encode(),
                                          {"event_id": event.id, "event_type": event.type})])
    finally:
        publisher.close()
    return event


def stored(svc: ServiceHarness, tenant: str) -> dict[str, WebhookDelivery]:
    """Deliveries by event id."""
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        rows = session.scalars(select(WebhookDelivery)).all()
        session.expunge_all()
    return {str(d.event_id): d for d in rows}


def listed(svc: ServiceHarness, tenant: str, hook: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resp = svc.client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=200", headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return {d["event_id"]: d for d in resp.get_json()["data"]}


def test_company_and_activity_topics_are_subscribed() -> None:
    for event_type in ("crm.company.created", "crm.activity.created", "crm.contact.erased", "crm.contact.merged"):
        assert topic_for("contacts", event_type) in TOPICS


def test_erasure_redacts_deliveries_about_the_contact(open_service: ServiceHarness, receiver: Receiver) -> None:
    svc = open_service
    hook = create_webhook(svc, "a", receiver.url, ["*"])
    other_hook = create_webhook(svc, "b", receiver.url, ["*"])
    ada, merged, bob = (str(uuid.uuid4()) for _ in range(3))
    created = publish(svc, "a", "crm.contact.created", ada, email="ada@example.com", first_name="Ada")
    company = publish(svc, "a", "crm.company.created", str(uuid.uuid4()), name="Acme")
    consume(svc)
    assert worker_for(svc).deliver_due() == 2  # both sent: the company topic is followed
    # Queued, not yet sent when the erasure arrives:
    note = publish(svc, "a", "crm.activity.created", str(uuid.uuid4()), contact_id=ada, body="Ada's diagnosis")
    absorbed = publish(svc, "a", "crm.contact.deleted", merged, email="al@example.com", merged_into=ada)
    bobs = publish(svc, "a", "crm.contact.updated", bob, email="bob@example.com", changes={"phone": [None, "+1"]})
    bobs_note = publish(svc, "a", "crm.activity.created", str(uuid.uuid4()), contact_id=bob, body="mentions " + ada)
    same_id_elsewhere = publish(svc, "b", "crm.contact.created", ada, email="ada@b.example")
    consume(svc)
    erased = publish(svc, "a", "crm.contact.erased", ada, merged_ids=[merged], erased_at="2026-01-01T00:00:00Z")
    assert consume(svc) == 1

    mine = stored(svc, "a")
    for gone in (created, note, absorbed):
        envelope = json.loads(mine[gone.id].payload)
        assert envelope["data"] == REDACTED and envelope["id"] == gone.id and envelope["subject"] == gone.subject
        assert "ada@example.com" not in mine[gone.id].payload and "diagnosis" not in mine[gone.id].payload
    assert mine[created.id].status == "succeeded"  # history kept: it was sent
    for dropped in (note, absorbed):
        assert (mine[dropped.id].status, mine[dropped.id].last_error) == ("failed", NOT_SENT)
    for kept in (company, bobs, bobs_note):
        assert json.loads(mine[kept.id].payload)["data"] == kept.data
    assert json.loads(mine[erased.id].payload)["data"] == erased.data
    assert json.loads(stored(svc, "b")[same_id_elsewhere.id].payload)["data"]["email"] == "ada@b.example"
    shown = listed(svc, "a", hook)
    assert shown[created.id]["payload"]["data"] == REDACTED
    assert [a["response"] for a in shown[created.id]["attempts"]] == [None]
    assert listed(svc, "b", other_hook)[same_id_elsewhere.id]["payload"]["data"]["email"] == "ada@b.example"

    receiver.requests.clear()
    while worker_for(svc).deliver_due():
        pass
    sent = {json.loads(r.body)["id"] for r in receiver.requests}
    assert sent == {bobs.id, bobs_note.id, erased.id, same_id_elsewhere.id}
    with svc.db.engine.connect() as conn:
        assert conn.execute(select(delivery_queue)).all() == []
