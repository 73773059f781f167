"""crm.notification.requested (any service's outbox) -> /v1/notifications rows, once per event id,
for the recipients only, never the actor, never a deactivated user, and only in the event's tenant."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from crm_core.context import tenant_context
from crm_events.envelope import Event, topic_for
from crm_events.log import OutgoingRecord, open_publisher
from crm_events.outbox import Outbox
from crm_testing.apps import ServiceHarness, drain
from pipeline import notification_requests
from pipeline.models import metadata
from pipeline.models.reminders import UserReplica

TOPIC = topic_for("tickets", notification_requests.NOTIFICATION_REQUESTED)


def _request(svc: ServiceHarness, tenant: str, users: list[uuid.UUID], **data: Any) -> Event:
    body = {"user_ids": [str(u) for u in users], "kind": "ticket_mention", "title": "You were mentioned on #1001",
            "body": "have a look", "subject_type": "ticket", "subject_id": str(uuid.uuid4()), "actor_id": None,
            "data": {"ticket_number": 1001}, **data}
    return Event(type=notification_requests.NOTIFICATION_REQUESTED, source="tickets",
                 tenant_id=str(svc.tenant(tenant)), subject=body["subject_id"], data=body)


def _publish(svc: ServiceHarness, *events: Event) -> None:
    publisher = open_publisher(svc.settings)
    try:
        publisher.publish([OutgoingRecord(TOPIC, e.subject, e.to_json().encode(),
                                          {"event_id": e.id, "event_type": e.type}) for e in events])
    finally:
        publisher.close()


def _consume(svc: ServiceHarness) -> None:
    runner = svc.consumer(notification_requests.GROUP, notification_requests.request_topics(),
                          notification_requests.handlers(Outbox("pipeline", metadata())))
    try:
        drain(runner, max_polls=50)
    finally:
        runner.subscriber.close()


def _inbox(svc: ServiceHarness, tenant: str, user: uuid.UUID) -> dict[str, Any]:
    resp = svc.client.get("/v1/notifications", headers=svc.headers(tenant, user_id=user))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_requests_become_notifications_once(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    ana, ben, gone, actor = (uuid.uuid4() for _ in range(4))
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        session.add(UserReplica(id=gone, email="gone@example.com", active=False,
                                event_time=dt.datetime.now(dt.UTC)))
    event = _request(svc, "a", [ana, ben, ben, gone, actor], actor_id=str(actor))
    _publish(svc, event)
    _consume(svc)
    _publish(svc, event)  # redelivered: the runner has it as processed
    _consume(svc)
    for user in (ana, ben):
        [note] = _inbox(svc, "a", user)["data"]
        assert (note["kind"], note["subject_type"], note["subject_id"]) == ("ticket_mention", "ticket",
                                                                           event.data["subject_id"])
        assert note["title"] == "You were mentioned on #1001" and note["actor_id"] == str(actor)
        assert note["data"] == {"ticket_number": 1001} and note["read"] is False
    for user in (gone, actor):
        assert _inbox(svc, "a", user)["data"] == []
    assert _inbox(svc, "b", ana)["data"] == []  # the event's tenant only


def test_malformed_requests_write_nothing(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    ana = uuid.uuid4()
    bad = [_request(svc, "a", [ana], kind="Bad Kind!"), _request(svc, "a", [ana], subject_id="nope"),
           _request(svc, "a", [ana], title=" "), _request(svc, "a", [ana], subject_type="x" * 40),
           _request(svc, "a", [], kind="ticket_mention"), _request(svc, "a", [ana], user_ids=["nope"])]
    _publish(svc, *bad)
    _consume(svc)
    assert _inbox(svc, "a", ana)["data"] == []
    _publish(svc, _request(svc, "a", [ana], kind="ticket_sla_breached", body=None, data=None))
    _consume(svc)
    assert [n["kind"] for n in _inbox(svc, "a", ana)["data"]] == ["ticket_sla_breached"]


def test_topics_are_every_other_services() -> None:
    topics = notification_requests.request_topics()
    assert TOPIC in topics and "crm.pipeline.notification" not in topics
