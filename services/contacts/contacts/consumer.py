"""Consumers of contacts.

contacts.timeline: mail to <mailbox>+log@ or +deal-<n>@ (crm.mail.received from the mail service)
becomes email activities on the tenant's contacts and deals, or unmatched logged mail
(service/mail_log.py); a meeting reply to +t-<token>@ sets an attendee's status (service/meetings.py).

contacts.ticket-requesters: a ticket's requester address without a contact becomes one, or is
matched to the existing one (service/requesters.py).

contacts.deals: the replica of the pipeline's deals (service/deal_refs.py), which deal timelines and
+deal-<n>@ routing look up; a deal arriving late adopts the mail that waited for its number.

The runner has set the event's tenant context and dedupes by event id."""

from __future__ import annotations

from sqlalchemy.orm import Session

from contacts.models import metadata
from contacts.service.deal_refs import DEAL_EVENTS, DEAL_TOPIC, apply_deal_event
from contacts.service.mail_log import adopt_for_deal, on_mail_received
from contacts.service.meetings import on_reply
from contacts.service.requesters import GROUP as REQUESTERS_GROUP
from contacts.service.requesters import TICKET_TOPIC, requester_handlers
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
DEALS_GROUP = "contacts.deals"
DEALS_TOPICS = [DEAL_TOPIC]


def handlers(outbox: Outbox | None = None) -> dict[str, Handler]:
    box = outbox or Outbox("contacts", metadata())

    def received(session: Session, event: Event) -> None:
        on_mail_received(session, box, event)
        on_reply(session, box, event)

    return {RECEIVED: received}  # sent, bounced, ... on the same topic are not for us


def deal_handlers(outbox: Outbox | None = None) -> dict[str, Handler]:
    box = outbox or Outbox("contacts", metadata())

    def deal_changed(session: Session, event: Event) -> None:
        deal = apply_deal_event(session, event)
        if deal is not None:
            adopt_for_deal(session, box, deal)

    return dict.fromkeys(DEAL_EVENTS, deal_changed)  # stage_changed, won, ... follow an updated


def consumers(_settings: Settings, _db: Database) -> list[ConsumerSpec]:
    return [ConsumerSpec(GROUP, list(TOPICS), handlers()), ConsumerSpec(DEALS_GROUP, list(DEALS_TOPICS), deal_handlers()),
            ConsumerSpec(REQUESTERS_GROUP, [TICKET_TOPIC], ticket_requester_handlers())]


def ticket_requester_handlers(outbox: Outbox | None = None) -> dict[str, Handler]:
    from contacts.schemas.contacts import ContactSchema
    from contacts.service.contacts import ContactService

    box = outbox or Outbox("contacts", metadata())
    return requester_handlers(ContactService(box, ContactSchema().dump))
