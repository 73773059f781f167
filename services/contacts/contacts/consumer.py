"""Consumer contacts.timeline: mail to <mailbox>+log@ (crm.mail.received from the mail service)
becomes email activities on the tenant's contacts, or unmatched logged mail (service/mail_log.py).
The runner has set the event's tenant context and dedupes by event id."""

from __future__ import annotations

from sqlalchemy.orm import Session

from contacts.models import metadata
from contacts.service.mail_log import on_mail_received
from crm_core.settings import Settings
from crm_db.database import Database
from crm_events.consumer import Handler
from crm_events.envelope import Event
from crm_events.outbox import Outbox
from crm_mail.topics import MAIL_EVENTS_TOPIC
from crm_runtime.cli import ConsumerSpec

GROUP = "contacts.timeline"
TOPICS = [MAIL_EVENTS_TOPIC]
RECEIVED = "crm.mail.received"


def handlers(outbox: Outbox | None = None) -> dict[str, Handler]:
    box = outbox or Outbox("contacts", metadata())

    def received(session: Session, event: Event) -> None:
        on_mail_received(session, box, event)

    return {RECEIVED: received}  # sent, bounced, ... on the same topic are not for us


def consumers(_settings: Settings, _db: Database) -> list[ConsumerSpec]:
    return [ConsumerSpec(GROUP, list(TOPICS), handlers())]
