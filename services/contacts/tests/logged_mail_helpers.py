"""Test helpers for logged mail: crm.mail.received events on the event log, the contacts consumer."""

from __future__ import annotations

import time
import uuid
from typing import Any

from contacts.consumer import GROUP, TOPICS, handlers
from crm_events.envelope import Event
from crm_events.log import OutgoingRecord, open_publisher
from crm_mail.topics import MAIL_EVENTS_TOPIC
from crm_testing.apps import ServiceHarness, drain

INBOUND = "inbound.localhost"


def person(address: str, name: str | None = None) -> dict[str, Any]:
    return {"address": address, "name": name}


def received(*, sender: str = "ada@example.com", to: list[str] | None = None, cc: list[str] | None = None,
             subject: str | None = "Pricing", text: str | None = "Hello there", html: str | None = None,
             message_id: str | None = None, in_reply_to: str | None = None, references: list[str] | None = None,
             date: str | None = "2026-03-02T09:30:00+01:00", tag: str | None = "log", kind: str = "message",
             auto_submitted: bool = False, inbound_id: uuid.UUID | None = None, **extra: Any) -> dict[str, Any]:
    """The data of crm.mail.received as the mail service announces it (the shared contract)."""
    inbound = inbound_id or uuid.uuid4()
    return {
        "id": str(inbound), "mailbox": "acme", "tag": tag, "token": None, "kind": kind,
        "auto_submitted": auto_submitted, "message_id": message_id or f"<{inbound.hex}@mail.example.com>",
        "in_reply_to": in_reply_to, "references": references or [], "from": person(sender, sender.split("@")[0].title()),
        "to": [person(a) for a in (to if to is not None else ["me@ourco.example"])],
        "cc": [person(a) for a in (cc or [])], "reply_to": [],
        "subject": subject, "date": date, "text": text, "html": html, "attachments": [], "size": 1234,
        "recipient": f"acme+log@{INBOUND}", **extra,
    }


def publish(svc: ServiceHarness, tenant: str, *datas: dict[str, Any], event_id: str | None = None) -> list[Event]:
    """Events as the mail service's relay puts them on the log (topic crm.mail.mail, subject the inbound id)."""
    events = []
    for data in datas:
        kwargs = {"id": event_id} if event_id else {}
        events.append(Event(type="crm.mail.received", source="mail", tenant_id=str(svc.tenant(tenant)),
                            subject=data["id"], data=data, **kwargs))
    publisher = open_publisher(svc.settings)
    try:
        publisher.publish([OutgoingRecord(MAIL_EVENTS_TOPIC, e.subject, e.to_json().encode(),
                                          {"event_id": e.id, "event_type": e.type}) for e in events])
    finally:
        publisher.close()
    return events


def consume(svc: ServiceHarness, group: str = GROUP) -> int:
    runner = svc.consumer(group, list(TOPICS), handlers())
    try:
        return drain(runner, max_polls=50)
    finally:
        runner.subscriber.close()


def consume_until(svc: ServiceHarness, group: str, done: Any, timeout: float = 60.0) -> None:
    """On Kafka: poll (joining the group takes a while) until `done()` holds, bounded in time, then
    until the log is quiet."""
    runner = svc.consumer(group, list(TOPICS), handlers())
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "timed out waiting for the consumer"
            runner.run_once(0.5)
        drain(runner, idle_polls=2, timeout=0.5, max_polls=20)
    finally:
        runner.subscriber.close()


class Api:
    def __init__(self, svc: ServiceHarness, tenant: str = "a") -> None:
        self.svc, self.tenant = svc, tenant

    def __call__(self, method: str, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        resp = self.svc.client.open(path, method=method, json=body, headers=self.svc.headers(self.tenant))
        assert resp.status_code == status, (method, path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json()

    def contact(self, email: str, **fields: Any) -> dict[str, Any]:
        return self("POST", "/v1/contacts", {"email": email, **fields}, 201)

    def timeline(self, contact_id: str, query: str = "") -> list[dict[str, Any]]:
        return self("GET", f"/v1/contacts/{contact_id}/activities{query}")["data"]

    def logged(self, query: str = "") -> list[dict[str, Any]]:
        return self("GET", f"/v1/logged-emails{query}")["data"]
