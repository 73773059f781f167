"""ConsumerRunner's batch mode (crm_events.consumer.batch_handlers) on the embedded log: a tenant's
run of send requests is one transaction; a redelivery changes nothing; a bad event in a batch is
dead-lettered alone while the others are queued."""

from __future__ import annotations

import uuid

from send_helpers import settings_of
from sqlalchemy import func, select

from crm_core.context import tenant_context
from crm_events.consumer import ConsumerRunner
from crm_events.envelope import Event
from crm_events.log import OutgoingRecord, open_publisher, open_subscriber
from crm_events.outbox import Outbox
from crm_events.tables import event_tables
from crm_mail.requests import SEND_REQUESTED, request_mail
from crm_testing.apps import ServiceHarness, drain
from mail.models import MailMessage, metadata
from mail.service.requests import Ingest


def runner(svc: ServiceHarness, calls: list[int]) -> ConsumerRunner:
    ingest = Ingest(settings_of(svc), Outbox("mail", metadata()))

    def handle(session: object, events: list[Event]) -> None:
        calls.append(len(events))
        ingest.queue(session, [(e.data, e.source) for e in events])  # type: ignore[arg-type]

    return ConsumerRunner("mail", "mail.send", svc.db, metadata(),
                          open_subscriber(svc.settings, "mail.send", ["crm.tickets.mail"]),
                          open_publisher(svc.settings), {}, batch_handlers={SEND_REQUESTED: handle}, retry_delay=0.01)


def count(svc: ServiceHarness, tenant: uuid.UUID) -> int:
    with tenant_context(tenant), svc.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(MailMessage)) or 0


def test_a_batch_is_one_call_and_a_bad_event_goes_alone(mail_service: ServiceHarness) -> None:
    a, b = mail_service.tenant("a"), mail_service.tenant("b")
    outbox = Outbox("tickets", metadata())
    for tenant in (a, b):
        with tenant_context(tenant), mail_service.db.transaction() as session:
            for i in range(20):
                request_mail(outbox, session, to=[f"u{i}@example.com"], subject=f"#{i}", purpose="notification", text="x")
    with tenant_context(a), mail_service.db.transaction() as session:
        outbox.emit(session, SEND_REQUESTED, "bad", {"message_id": "nope"})
        request_mail(outbox, session, to=["last@example.com"], subject="last", purpose="notification", text="x")
    mail_service.publish_outbox()
    calls: list[int] = []
    drain(runner(mail_service, calls))
    assert count(mail_service, a) == 21 and count(mail_service, b) == 20
    assert 20 in calls  # tenant B's run went in one call
    processed = event_tables(metadata()).processed_events
    with tenant_context(a), mail_service.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(processed).where(processed.c.tenant_id == a)) == 21  # the bad one was dead-lettered
    # Delivered again from the start (a new consumer position): nothing changes.
    calls.clear()
    again = ConsumerRunner("mail", "mail.send", mail_service.db, metadata(),
                           open_subscriber(mail_service.settings, "mail.send-again", ["crm.tickets.mail"]),
                           open_publisher(mail_service.settings), {}, batch_handlers=runner(mail_service, calls).batch_handlers)
    again.group = "mail.send"  # the same consumer's processed_events, read under a fresh position
    drain(again)
    assert count(mail_service, a) == 21 and count(mail_service, b) == 20


def test_a_run_of_events_without_a_tenant_is_dead_lettered_not_a_crash(mail_service: ServiceHarness) -> None:
    """Review: the batch path parsed the tenant id outside its try, so two such events in a row
    raised out of run_once (the consumer restarting on them for ever) where one alone is dead-lettered."""
    a = mail_service.tenant("a")
    outbox = Outbox("tickets", metadata())
    with tenant_context(a), mail_service.db.transaction() as session:
        request_mail(outbox, session, to=["before@example.com"], subject="before", purpose="notification", text="x")
    publisher = open_publisher(mail_service.settings)
    mail_service.publish_outbox()
    bad = [Event(SEND_REQUESTED, "tickets", "not-a-tenant", "x", {"message_id": str(uuid.uuid4())}) for _ in range(2)]
    publisher.publish([OutgoingRecord("crm.tickets.mail", "x", e.to_json().encode(), {}) for e in bad])
    with tenant_context(a), mail_service.db.transaction() as session:
        request_mail(outbox, session, to=["after@example.com"], subject="after", purpose="notification", text="x")
    mail_service.publish_outbox()
    drain(runner(mail_service, []))
    assert count(mail_service, a) == 2
