"""The mail service's consumers: send requests from every service; tenants (their mailboxes)."""

from __future__ import annotations

from crm_core.settings import Settings
from crm_db.database import Database
from crm_events.outbox import Outbox
from crm_mail.requests import SEND_REQUESTED
from crm_mail.topics import send_request_topics
from crm_runtime.cli import ConsumerSpec
from mail.config import MailSettings
from mail.models import metadata
from mail.service import mailboxes, support
from mail.service.requests import Ingest

SEND_GROUP = "mail.send"


def send_consumer(settings: Settings) -> ConsumerSpec:
    """mail.send: every service's crm.mail.send_requested, a tenant's run of them per transaction."""
    ingest = Ingest(MailSettings.from_settings(settings), Outbox("mail", metadata()))
    return ConsumerSpec(SEND_GROUP, send_request_topics(), {}, batch_handlers={
        SEND_REQUESTED: lambda session, events: ingest.queue(session, [(e.data, e.source) for e in events])})


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """mail.send (above) and mail.tenants (a mailbox for every new tenant)."""
    return [send_consumer(settings),
            ConsumerSpec(mailboxes.TENANT_GROUP, [mailboxes.TENANT_TOPIC], support.tenant_handlers())]
