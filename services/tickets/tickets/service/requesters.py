"""The requesters' contact projection (ticket_contacts), kept from the contacts service's events,
and the linking of tickets to the contacts that appear for their requester's address.

crm.contact.created / updated (and the contacts service's crm.contact.requester_matched, sent when
it found an existing contact for a ticket's address, perhaps one of its additional ones: that
ticket, by id) hold the contact here and link the tickets that are not closed, have that
requester_email and no contact; a contact's new company follows to
its open tickets. merged moves the secondary's tickets to the primary; deleted / erased drop the
contact from matching (tickets keep their history).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.settings import Settings
from crm_db.database import Database
from crm_events.consumer import Handler
from crm_events.envelope import Event
from crm_events.outbox import Outbox
from crm_events.replicas import apply_state, event_time, parse_uuid
from crm_runtime.cli import ConsumerSpec
from tickets.models import Ticket, TicketContact, metadata

if TYPE_CHECKING:
    from tickets.service.desk import Desk

CONTACT_TOPIC = "crm.contacts.contact"
GROUP = "tickets.requesters"
MATCHED = "crm.contact.requester_matched"
MAX_LINKED = 500  # tickets linked per event: a flood of mail from one address still gets linked, in bounded work


def _values(data: dict[str, Any]) -> dict[str, Any]:
    name = " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p) or data.get("email")
    email = data.get("email")
    return {"email": str(email).strip().lower() if email else None, "name": (name or None) and str(name)[:400],
            "company_id": parse_uuid(data.get("company_id")), "deleted": False}


def link_requester(session: Session, desk: Desk, contact: TicketContact) -> int:
    """Tickets not closed with this contact's address and no contact get it (and its company);
    tickets of this contact that are not closed follow a change of its company."""
    if contact.deleted:
        return 0
    found: dict[uuid.UUID, dict[str, Any]] = {}
    if contact.email:
        for ticket_id in session.scalars(select(Ticket.id).where(
                Ticket.requester_email == contact.email, Ticket.contact_id.is_(None), Ticket.status != "closed")
                .order_by(Ticket.id).limit(MAX_LINKED)):
            found[ticket_id] = {"contact_id": contact.id}
    for ticket_id in session.scalars(select(Ticket.id).where(
            Ticket.contact_id == contact.id, Ticket.status != "closed",
            Ticket.company_id.is_distinct_from(contact.company_id)).order_by(Ticket.id).limit(MAX_LINKED)):
        found.setdefault(ticket_id, {"contact_id": contact.id})
    for ticket_id, values in found.items():
        desk.tickets.update(session, ticket_id, values)  # sets company_id from the projection too
    return len(found)


def requester_handlers(desk: Desk) -> dict[str, Handler]:
    def upsert(session: Session, event: Event) -> None:
        contact_id = uuid.UUID(event.subject)
        apply_state(session, TicketContact, contact_id, event_time(event), _values(event.data))
        session.flush()
        contact = session.scalars(select(TicketContact).where(TicketContact.id == contact_id)).first()
        if contact is None:
            return
        link_requester(session, desk, contact)
        # Matched by one of the contact's other addresses: the ticket it was matched for, by id.
        ticket_id = parse_uuid(event.data.get("ticket_id")) if event.type == MATCHED else None
        if ticket_id is not None and not contact.deleted:
            ticket = session.scalars(select(Ticket).where(Ticket.id == ticket_id)).first()
            if ticket is not None and ticket.contact_id is None and ticket.status != "closed":
                desk.tickets.update(session, ticket.id, {"contact_id": contact.id})

    def merged(session: Session, event: Event) -> None:
        # The primary's body comes under "primary"; its secondary's tickets become the primary's.
        primary = parse_uuid(event.data.get("primary_id")) or uuid.UUID(event.subject)
        apply_state(session, TicketContact, primary, event_time(event), _values(event.data.get("primary") or {}))
        secondary = parse_uuid(event.data.get("secondary_id"))
        if event.type == "crm.contact.merged" and secondary is not None:
            for ticket_id in session.scalars(select(Ticket.id).where(Ticket.contact_id == secondary).order_by(Ticket.id)):
                desk.tickets.update(session, ticket_id, {"contact_id": primary})

    def gone(session: Session, event: Event) -> None:
        for record_id in dict.fromkeys([event.subject, *(event.data.get("merged_ids") or [])]):
            if (rid := parse_uuid(record_id)) is not None:
                apply_state(session, TicketContact, rid, event_time(event), {"deleted": True})

    return {"crm.contact.created": upsert, "crm.contact.updated": upsert, MATCHED: upsert,
            "crm.contact.merged": merged, "crm.contact.unmerged": merged, "crm.contact.deleted": gone,
            "crm.contact.erased": gone}


def requester_consumers(settings: Settings, _db: Database) -> list[ConsumerSpec]:
    from tickets.service.desk import build_desk  # desk.py imports the service modules

    desk = build_desk(settings, Outbox(settings.service, metadata()))
    return [ConsumerSpec(GROUP, [CONTACT_TOPIC], requester_handlers(desk))]
