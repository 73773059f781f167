"""Ticket requesters become contacts: a ticket (crm.ticket.created, or an update that changed its
requester_email) with a requester address and no contact gets one. An existing contact with that
address (primary or additional email) is announced as crm.contact.requester_matched (its body,
plus the ticket's id) so the tickets service links it even if its projection never saw the contact;
otherwise a contact is created (source 'ticket', lifecycle stage 'customer': people asking for
support are mostly customers) and its ordinary crm.contact.created does the linking.

The runner has set the event's tenant context and dedupes by event id.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from contacts import normalise
from contacts.service.contacts import ContactService
from contacts.service.mail_log import matching_contacts
from crm_core.errors import Conflict, UnprocessableEntity
from crm_events.envelope import Event

log = logging.getLogger(__name__)

TICKET_TOPIC = "crm.tickets.ticket"
GROUP = "contacts.ticket-requesters"
MATCHED = "crm.contact.requester_matched"
SOURCE, LIFECYCLE_STAGE = "ticket", "customer"


def _names(name: Any) -> dict[str, str]:
    """'Ada Lovelace' -> first and last name; one word is a first name."""
    parts = str(name or "").split()
    if not parts:
        return {}
    first, last = parts[0][:200], " ".join(parts[1:])[:200]
    return {"first_name": first, **({"last_name": last} if last else {})}


def on_ticket(session: Session, contacts: ContactService, event: Event) -> None:
    data = event.data
    if event.type == "crm.ticket.updated" and "requester_email" not in (data.get("changes") or {}):
        return
    raw = data.get("requester_email")
    if not raw or data.get("contact_id"):
        return
    email = normalise.email(str(raw))
    found = matching_contacts(session, [email])
    if found:
        contact = found[0]
        contacts.outbox.emit(session, MATCHED, contact.id,
                             {**contacts.body(session, contact), "ticket_id": str(event.subject)})
        return
    values: dict[str, Any] = {"email": email, "source": SOURCE, "lifecycle_stage": LIFECYCLE_STAGE,
                              **_names(data.get("requester_name"))}
    try:
        with session.begin_nested():
            contacts.create(session, values)
    except Conflict:
        # Another ticket's event created it just now (the email is unique per tenant): link that one.
        found = matching_contacts(session, [email])
        if found:
            contacts.outbox.emit(session, MATCHED, found[0].id,
                                 {**contacts.body(session, found[0]), "ticket_id": str(event.subject)})
    except UnprocessableEntity as exc:
        # E.g. a required custom field the requester can't fill in: the ticket stays unlinked
        # (an agent links it by hand); nothing a retry would change.
        log.warning("ticket %s: no contact created for its requester: %s", event.subject, exc.errors or exc)


def requester_handlers(contacts: ContactService) -> dict[str, Any]:
    def handle(session: Session, event: Event) -> None:
        on_ticket(session, contacts, event)

    return {"crm.ticket.created": handle, "crm.ticket.updated": handle}


