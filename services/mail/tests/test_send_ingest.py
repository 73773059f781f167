"""The ingest path on real Kafka and PostgreSQL: a service writes crm.mail.send_requested through
its outbox, the relay publishes it, the mail.send consumer queues it, the send loop delivers it to
the SMTP sink. Repeats are one message; an invalid request is dead-lettered alone."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from send_helpers import drain, settings_of, worker
from sqlalchemy import select

import mail
from crm_core.context import tenant_context
from crm_events.consumer import ConsumerRunner
from crm_events.envelope import Event, topic_for
from crm_events.kafka_log import ensure_topics
from crm_events.log import open_publisher, open_subscriber
from crm_events.outbox import Outbox
from crm_events.relay import OutboxRelay
from crm_mail.requests import SEND_REQUESTED, request_mail
from crm_mail.topics import send_request_topics
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.smtp import SmtpSink
from mail.app import create_app
from mail.models import MailMessage, mail_queue, metadata
from mail.service.requests import Ingest

pytestmark = pytest.mark.integration
TOPIC = topic_for("tickets", SEND_REQUESTED)


def test_a_request_from_a_service_outbox_is_queued_once_and_sent(pg_relayed: ServiceHarness, sink: SmtpSink,
                                                                 kafka_bootstrap: str, tmp_path: Path) -> None:
    ensure_topics(kafka_bootstrap, send_request_topics() + [f"{TOPIC}.dlq"])
    # The requesting service: its own database and outbox (tickets' shape; any service's works).
    tickets = make_harness("mail", create_app, metadata(), migrations_dir(mail.__file__), tmp_path / "tickets",
                           kafka_bootstrap=kafka_bootstrap)
    tenant = pg_relayed.tenant("a")
    outbox = Outbox("tickets", metadata())
    mid = uuid.uuid4()
    with tenant_context(tenant), tickets.db.transaction() as session:
        for _ in range(2):  # the same request twice (a retried use case)
            request_mail(outbox, session, to=[{"address": "ana@example.com", "name": "Ana Ñúñez"}], subject="Ticket #7 ✓",
                         purpose="transactional", text="We answered.", refers_to={"type": "ticket", "id": "7"},
                         message_id=mid)
        # An invalid request (a producer that skipped build_request): dead-lettered, not crashed on.
        outbox.emit(session, SEND_REQUESTED, "bad", {"message_id": str(uuid.uuid4()), "purpose": "spam", "to": []})
        other = request_mail(outbox, session, to=["bo@example.com"], subject="Second", purpose="notification", text="x")
    dlq = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None, auto_offset_reset="earliest",
                        enable_auto_commit=False)
    parts = [TopicPartition(f"{TOPIC}.dlq", p) for p in dlq.partitions_for_topic(f"{TOPIC}.dlq") or {0}]
    dlq.assign(parts)
    for tp, offset in dlq.end_offsets(parts).items():
        dlq.seek(tp, offset)
    relay = OutboxRelay("tickets", tickets.db, open_publisher(tickets.settings), metadata())
    while relay.publish_batch():
        pass
    relay.publisher.close()

    settings = pg_relayed.settings
    ingest = Ingest(settings_of(pg_relayed), Outbox("mail", metadata()))
    group = f"mail.send.test-{uuid.uuid4().hex[:8]}"
    kafka_settings = type(settings).from_env("mail", database_url=settings.database_url, kafka_bootstrap=kafka_bootstrap,
                                             var_dir=settings.var_dir, extra={})

    def handle(session: object, events: list[Event]) -> None:
        # Only this test's tenant: the topic holds every earlier run's requests too.
        mine = [(e.data, e.source) for e in events if e.tenant_id == str(tenant)]
        if mine:
            ingest.queue(session, mine)  # type: ignore[arg-type]

    runner = ConsumerRunner("mail", group, pg_relayed.db, metadata(),
                            open_subscriber(kafka_settings, group, send_request_topics()),
                            open_publisher(kafka_settings), {}, batch_handlers={SEND_REQUESTED: handle},
                            retry_delay=0.01)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            runner.run_once(0.5)
            with tenant_context(tenant), pg_relayed.db.transaction() as session:
                found = session.scalars(select(MailMessage.id)).all()
            if len(found) == 2:
                break
    finally:
        runner.subscriber.close()
    assert sorted(found) == sorted([mid, other])
    with tenant_context(tenant), pg_relayed.db.transaction() as session:
        assert len(session.execute(select(mail_queue).where(mail_queue.c.tenant_id == tenant)).all()) == 2
    letters = []
    deadline = time.monotonic() + 20
    while not letters and time.monotonic() < deadline:
        for records in dlq.poll(timeout_ms=500).values():
            letters += [r for r in records if json.loads(r.value)["tenant_id"] == str(tenant)]
    dlq.close()
    # Dead letters are at least once (a producer retry under load may write one twice): one event.
    assert len({json.loads(r.value)["id"] for r in letters}) == 1 and b"purpose" in dict(letters[0].headers)["error"]

    assert drain(worker(pg_relayed)) == 2
    assert sink.wait_for(2)
    assert sorted(r for m in sink.messages for r in m.rcpt_tos) == ["ana@example.com", "bo@example.com"]
    listed = pg_relayed.client.get("/v1/mail/messages?refers_to_type=ticket&refers_to_id=7",
                                   headers=pg_relayed.headers("a")).get_json()["data"]
    assert [(m["id"], m["status"], m["source"]) for m in listed] == [(str(mid), "sent", "tickets")]
