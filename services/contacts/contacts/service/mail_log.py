"""Logged mail on the timeline: a message a user sent to <mailbox>+log@ becomes an `email` activity
on every contact of the tenant whose address took part; one that matches nobody is kept as an
unmatched LoggedEmail until a contact with one of its addresses is created or changed, or someone
assigns it by hand.

Idempotent by the inbound id: the LoggedEmail's id is the mail service's inbound message id, so a
redelivered (or re-announced) message finds its row and logs nothing twice.

Locks: a contact (and, through ActivityService.add, its companies) before the logged email, as in
every other timeline write, so a contact create adopting a message and an assign of it queue up
instead of deadlocking.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from contacts import normalise
from contacts.models import Activity, Contact, DealRef, LoggedEmail, logged_email_addresses
from contacts.schemas.activities import as_utc
from contacts.service.activities import activity_service
from contacts.service.deal_refs import deal_by_number
from contacts.service.mail_message import LoggedMessage, deal_number, is_loggable, read_message
from crm_core import context
from crm_db.base import utcnow
from crm_db.tenancy import Prefetch
from crm_events.envelope import Event
from crm_events.outbox import Outbox

MATCHED, UNMATCHED = "matched", "unmatched"
NO_SUBJECT = "(no subject)"
_WAITING = "crm_unmatched_mail_waiting"  # session.info: whether the tenant has unmatched mail (read with BEGIN)


def contact_addresses(contact: Contact) -> list[str]:
    return list(dict.fromkeys(normalise.email(e) for e in [contact.email, *(contact.emails or [])] if e))


def matching_contacts(session: Session, addresses: Iterable[str]) -> list[Contact]:
    """Contacts with one of these addresses as their email (unique index) or one of their additional
    emails (GIN index on PostgreSQL), in id order (the order they are locked in)."""
    wanted = sorted(set(addresses))
    if not wanted:
        return []
    found = {c.id: c for c in session.scalars(select(Contact).where(Contact.email.in_(wanted)))}
    if session.get_bind().dialect.name == "postgresql":
        others = type_coerce(Contact.emails, JSONB())
        stmt = select(Contact).where(or_(*(others.contains([a]) for a in wanted)))
    else:
        links = func.json_each(Contact.emails).table_valued("value")
        stmt = select(Contact).join(links, true()).where(links.c.value.in_(wanted))
    for contact in session.scalars(stmt):
        found.setdefault(contact.id, contact)
    return [found[i] for i in sorted(found)]


def thread_of(session: Session, message: LoggedMessage) -> uuid.UUID:
    """The thread of an earlier logged message this one names (References, In-Reply-To), so a reply
    that dropped its References still joins; otherwise the id its own root Message-ID gives."""
    named = [k for k in (*message.references, message.in_reply_to) if k]
    if named:
        known = session.scalars(select(LoggedEmail.thread_id).where(LoggedEmail.message_id.in_(named))
                                .order_by(LoggedEmail.occurred_at).limit(1)).first()
        if known is not None:
            return known
    return message.thread_id()


def _email_values(row: LoggedEmail, direction: str) -> dict[str, Any]:
    return {
        "type": "email", "subject": row.subject or (None if row.body else NO_SUBJECT), "body": row.body,
        "direction": direction, "occurred_at": as_utc(row.occurred_at), "inbound_id": row.id,
        "thread_id": row.thread_id, "message_id": row.message_id, "in_reply_to": row.in_reply_to,
        "references": list(row.references or []), "participants": list(row.participants or []),
    }


def log_on(session: Session, outbox: Outbox, contact: Contact, row: LoggedEmail) -> Activity:
    """The email activity of `row` on this contact: inbound if the contact wrote it, else outbound
    (a user wrote to the contact and BCC'd the CRM)."""
    direction = "inbound" if row.from_address and row.from_address in contact_addresses(contact) else "outbound"
    return activity_service(outbox).add(session, contact, _email_values(row, direction))


def log_on_deal(session: Session, outbox: Outbox, deal: DealRef, row: LoggedEmail) -> Activity:
    """One email activity on the deal's timeline (the contacts' timelines have their own): inbound
    when one of the tenant's contacts wrote it, else outbound (a user BCC'd +deal-<n>@)."""
    sender = matching_contacts(session, [row.from_address] if row.from_address else [])
    activity = activity_service(outbox).add(session, deal, _email_values(row, "inbound" if sender else "outbound"))
    row.deal_id = deal.id
    if row.status != MATCHED:
        mark_matched(session, row, [])
    return activity


def adopt_for_deal(session: Session, outbox: Outbox, deal: DealRef) -> int:
    """Mail sent to +deal-<n>@ before contacts knew deal n (its event came later): onto the deal now."""
    if deal.number is None:
        return 0
    rows = session.scalars(select(LoggedEmail).where(LoggedEmail.deal_number == deal.number, LoggedEmail.deal_id.is_(None))
                           .order_by(LoggedEmail.occurred_at, LoggedEmail.id).with_for_update()).all()
    for row in rows:
        log_on_deal(session, outbox, deal, row)
    return len(rows)


def mark_matched(session: Session, row: LoggedEmail, contact_ids: Iterable[uuid.UUID]) -> None:
    ids = list(dict.fromkeys([*(row.contact_ids or []), *(str(i) for i in contact_ids)]))
    if row.status != MATCHED:
        row.status, row.matched_at = MATCHED, utcnow()
        table = logged_email_addresses
        session.execute(delete(table).where(table.c.tenant_id == context.require_tenant(),
                                            table.c.logged_email_id == row.id))
    if ids != list(row.contact_ids or []):
        row.contact_ids = ids
    session.flush()


def on_mail_received(session: Session, outbox: Outbox, event: Event) -> LoggedEmail | None:
    """crm.mail.received: log a +log@ message on its contacts, or keep it as unmatched."""
    if not is_loggable(event.data):
        return None
    message = read_message(event.data, event.time)
    if session.get(LoggedEmail, (context.require_tenant(), message.inbound_id)) is not None:
        return None  # the same message announced again
    row = LoggedEmail(
        id=message.inbound_id, status=UNMATCHED, message_id=message.message_id, thread_id=thread_of(session, message),
        in_reply_to=message.in_reply_to, references=message.references, from_address=message.from_address,
        from_name=message.from_name, participants=message.participants, subject=message.subject,
        occurred_at=message.occurred_at, snippet=message.snippet, body=message.body, contact_ids=[],
        deal_number=deal_number(event.data),
    )
    session.add(row)
    session.flush()  # the primary key refuses a concurrent twin: the runner retries and finds the row
    contacts = matching_contacts(session, message.addresses)
    for contact in contacts:
        log_on(session, outbox, contact, row)
    if contacts:
        mark_matched(session, row, [c.id for c in contacts])
    deal = deal_by_number(session, row.deal_number) if row.deal_number is not None else None
    if deal is not None:
        log_on_deal(session, outbox, deal, row)
    elif not contacts and message.addresses:
        tenant = context.require_tenant()
        session.execute(insert(logged_email_addresses), [
            {"tenant_id": tenant, "address": a, "logged_email_id": row.id} for a in message.addresses])
    return row


@functools.cache
def _waiting_sql() -> Any:
    table = logged_email_addresses
    return select(table.c.tenant_id).where(table.c.tenant_id == bindparam("t")).limit(1)


def prefetch_waiting() -> Prefetch:
    """Whether the tenant has any unmatched mail, read with BEGIN: almost always not, and then a
    contact create or update looks nothing up (and keeps its one-round-trip path)."""

    def store(session: Session, rows: Any) -> None:
        session.info[_WAITING] = bool(rows)

    return Prefetch(_waiting_sql(), {"t": context.require_tenant()}, store)


def surely_none_waiting(session: Session) -> bool:
    return session.info.get(_WAITING) is False


def maybe_waiting(session: Session) -> bool:
    return bool(session.info.get(_WAITING))


def adopt(session: Session, outbox: Outbox, owners: Mapping[str, uuid.UUID]) -> int:
    """Log the unmatched mail of these addresses (address -> contact id) onto their contacts and
    mark it matched: one indexed lookup for all of them. Returns how many messages matched."""
    if not owners or surely_none_waiting(session):
        return 0
    table = logged_email_addresses
    hits = session.execute(select(table.c.logged_email_id, table.c.address).where(
        table.c.tenant_id == context.require_tenant(), table.c.address.in_(sorted(owners)))).all()
    if not hits:
        return 0
    targets: dict[uuid.UUID, set[uuid.UUID]] = {}
    for email_id, address in hits:
        targets.setdefault(email_id, set()).add(owners[address])
    contacts = {c.id: c for c in session.scalars(select(Contact).where(
        Contact.id.in_(sorted({c for ids in targets.values() for c in ids}))))}
    rows = session.scalars(select(LoggedEmail).where(LoggedEmail.id.in_(sorted(targets)), LoggedEmail.status == UNMATCHED)
                           .order_by(LoggedEmail.occurred_at, LoggedEmail.id).with_for_update()).all()
    for row in rows:
        ids = [i for i in sorted(targets[row.id]) if i in contacts]
        for contact_id in ids:
            log_on(session, outbox, contacts[contact_id], row)
        mark_matched(session, row, ids)
    return len(rows)


def adopt_for(session: Session, outbox: Outbox, contact: Contact) -> int:
    return adopt(session, outbox, {a: contact.id for a in contact_addresses(contact)})


def assign(session: Session, outbox: Outbox, row: LoggedEmail, contact: Contact) -> LoggedEmail:
    """Attach a logged email to a contact by hand (matched or not); once per contact."""
    logged = session.scalars(select(Activity.id).where(Activity.contact_id == contact.id,
                                                       Activity.inbound_id == row.id)).first()
    if logged is None:
        log_on(session, outbox, contact, row)
    mark_matched(session, row, [contact.id])
    return row
