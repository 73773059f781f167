"""Use cases of a ticket's conversation: public replies (emailed), internal notes (with @mentions),
customer messages (email in, the portal), and the status rules messages drive.

Status rules (the desk's, applied here so the API, the email consumer and the portal agree):
- an agent's public reply on a `new` ticket makes it `open` (unless the reply sets a status);
- a customer message on a `pending` (waiting on the customer) or `resolved` ticket makes it
  `open`; `new`, `open` and `on_hold` stay as they are;
- a customer message on a `closed` ticket opens a new ticket linked to it (linked_ticket_id).
Status changes go through desk.tickets.update, so every area's hooks see them.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import nh3
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import validation_error
from crm_core.ids import uuid7
from crm_core.settings import Settings
from crm_db.base import utcnow
from crm_db.database import Database
from crm_events.envelope import Event
from crm_events.outbox import Outbox
from crm_mail.requests import inbound_domain, message_id_domain, new_message_id, new_reply_token, request_mail
from crm_mail.topics import MAIL_EVENTS_TOPIC
from crm_runtime.cli import BackgroundLoop, ConsumerSpec
from tickets.models import Ticket
from tickets.models.conversations import TicketAttachment, TicketMessage
from tickets.service.notify import request_notifications

if TYPE_CHECKING:
    from tickets.service.desk import Desk

log = logging.getLogger(__name__)

MESSAGE_ADDED = "crm.ticket.message_added"
MAIL_RECEIVED = "crm.mail.received"
MAIL_GROUP = "tickets.mail-in"
# Mail the desk takes: to <mailbox>+support@ (a new request, or an answer whose client dropped the
# Reply-To) and to <mailbox>+t-<token>@ (the Reply-To of a public reply).
SUPPORT_TAG, TOKEN_TAG = "support", "t"
# `@[Ana Lopez](0190f1c2-...)`: what a mention picker inserts; the id is the user's (gateway) id.
MENTION = re.compile(r"@\[([^\]\n]{1,200})\]\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12})\)")
TICKET_NUMBER = re.compile(r"\[#(\d{1,9})\]")
# Prefixes mail clients put before a subject ("Re:", "AW:", "Fwd:", ...) and our own "[#1001]".
SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|antw|fwd?|wg|tr)\s*(?:\[\d+\])?\s*:\s*|\[#\d{1,9}\]\s*)+",
                            re.IGNORECASE)
MAX_REFERENCES = 20  # the thread's root and its latest ids (RFC 5322 3.6.4 lets the middle go)
MAX_DESCRIPTION = 100_000


@functools.cache
def _cleaner() -> nh3.Cleaner:
    # The same rules as the mail service's inbound HTML: basic formatting, no scripts, styles,
    # handlers or unknown URL schemes; cid: for inline images.
    return nh3.Cleaner(url_schemes=nh3.ALLOWED_URL_SCHEMES | {"cid"}, link_rel="noopener noreferrer nofollow")


def sanitise_html(html: str | None) -> str | None:
    return _cleaner().clean(html) if html else None


def message_body(message: TicketMessage) -> dict[str, Any]:
    return {
        "id": str(message.id), "ticket_id": str(message.ticket_id), "kind": message.kind,
        "author_type": message.author_type, "author_id": str(message.author_id) if message.author_id else None,
        "author_email": message.author_email, "author_name": message.author_name, "channel": message.channel,
        "text": message.body_text, "html": message.body_html, "to": list(message.to), "cc": list(message.cc),
        "attachments": list(message.attachments), "mentions": list(message.mentions),
        "message_id": message.message_id, "in_reply_to": message.in_reply_to,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


def add_message(session: Session, desk: Desk, ticket: Ticket, *, kind: str, author_type: str, channel: str,
                text: str, html: str | None = None, author_id: uuid.UUID | None = None,
                author_email: str | None = None, author_name: str | None = None,
                to: Sequence[str] = (), cc: Sequence[str] = (), attachments: Sequence[dict[str, Any]] = (),
                mentions: Sequence[str] = (), message_id: str | None = None,
                in_reply_to: str | None = None, id: uuid.UUID | None = None,  # noqa: A002 (the column's name)
                reply_token: str | None = None, inbound_message_id: uuid.UUID | None = None) -> TicketMessage:
    """Writes the message, stamps the ticket's last customer message / agent reply, runs the
    message hooks (SLA responses, ...) and emits crm.ticket.message_added, in the caller's
    transaction. Mail out, status changes and mentions are the callers' (post_agent_message,
    add_customer_message). `id`: the row's id when the caller needs it first (the Message-ID of
    a reply is made from it)."""
    now = utcnow()
    message = TicketMessage(id=id or uuid7(), ticket_id=ticket.id, kind=kind, author_type=author_type,
                            channel=channel, body_text=text, body_html=html, author_id=author_id,
                            author_email=author_email, author_name=author_name, to=list(to), cc=list(cc),
                            attachments=list(attachments), mentions=list(mentions), message_id=message_id,
                            in_reply_to=in_reply_to, reply_token=reply_token,
                            inbound_message_id=inbound_message_id, created_at=now, updated_at=now)
    session.add(message)
    if kind == "customer":
        ticket.last_customer_message_at = now
    elif kind == "reply":
        ticket.last_agent_reply_at = now
    session.flush()
    desk.hooks.on_message(session, ticket, message)
    desk.outbox.emit(session, MESSAGE_ADDED, ticket.id, {"ticket_number": ticket.number, **message_body(message)})
    return message


# --- the thread -------------------------------------------------------------------------------

def timeline(session: Session, ticket_id: uuid.UUID) -> list[TicketMessage]:
    return list(session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket_id)
                                .order_by(TicketMessage.created_at, TicketMessage.id)))


def _own(address: str, domain: str) -> bool:
    return address.lower().rpartition("@")[2] == domain


def participants(session: Session, ticket: Ticket, domain: str) -> list[str]:
    """The ticket's cc's: every address cc'd on its messages and every customer who wrote on it,
    but the requester and the platform's own addresses, lower-cased, first seen first."""
    rows = session.execute(select(TicketMessage.cc, TicketMessage.author_email, TicketMessage.kind)
                           .where(TicketMessage.ticket_id == ticket.id)
                           .order_by(TicketMessage.created_at, TicketMessage.id)).all()
    seen: dict[str, None] = {}
    for cc, author, kind in rows:
        for address in [*(cc or []), *([author] if kind == "customer" and author else [])]:
            address = str(address).strip().lower()
            if address and address != (ticket.requester_email or "").lower() and not _own(address, domain):
                seen.setdefault(address, None)
    return list(seen)


def may_write(session: Session, ticket: Ticket, sender: str, domain: str) -> bool:
    """Whether mail from `sender` may thread onto the ticket: its requester or one of its cc's."""
    sender = sender.strip().lower()
    return bool(sender) and (sender == (ticket.requester_email or "").lower()
                             or sender in participants(session, ticket, domain))


def thread_ids(messages: Sequence[TicketMessage]) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) of the next reply: the latest customer email (else the latest
    message with an id) and the thread's ids, root first."""
    ids = [m.message_id for m in messages if m.message_id]
    customer = [m.message_id for m in messages if m.message_id and m.kind == "customer"]
    in_reply_to = customer[-1] if customer else (ids[-1] if ids else None)
    references = list(dict.fromkeys(ids))
    if len(references) > MAX_REFERENCES:
        references = [references[0], *references[-(MAX_REFERENCES - 1):]]
    return in_reply_to, references


def base_subject(subject: str | None) -> str:
    return SUBJECT_PREFIX.sub("", subject or "").strip()


def reply_subject(ticket: Ticket, threaded: bool) -> str:
    """`[#1001] Printer on fire`, or `Re: [#1001] Printer on fire` answering a customer's email."""
    subject = f"[#{ticket.number}] {base_subject(ticket.subject) or ticket.subject}"
    return f"Re: {subject}" if threaded else subject


def mentioned(text: str | None, html: str | None, explicit: Iterable[uuid.UUID | str] = ()) -> list[str]:
    """User ids mentioned as `@[Name](user-id)` in the text or html, plus the explicit ones."""
    found = [m.group(2).lower() for body in (text or "", html or "") for m in MENTION.finditer(body)]
    return list(dict.fromkeys([*(str(u).lower() for u in explicit), *found]))


# --- attachments ------------------------------------------------------------------------------

def attachment_url(ticket_id: uuid.UUID, attachment_id: uuid.UUID | str) -> str:
    return f"/v1/tickets/{ticket_id}/attachments/{attachment_id}"


def save_attachments(session: Session, ticket: Ticket, uploads: Sequence[dict[str, Any]]
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Stores uploaded files ({filename, content_type, content_base64}) on the ticket: (what the
    message lists, what a mail request attaches)."""
    listed, mailed = [], []
    for upload in uploads:
        data = base64.b64decode(upload["content_base64"])
        row = TicketAttachment(id=uuid7(), ticket_id=ticket.id, filename=upload["filename"],
                               content_type=upload["content_type"], size=len(data), data=data)
        session.add(row)
        listed.append({"id": str(row.id), "filename": row.filename, "content_type": row.content_type,
                       "size": row.size, "source": "ticket", "url": attachment_url(ticket.id, row.id)})
        mailed.append({"filename": row.filename, "content_type": row.content_type,
                       "content_base64": upload["content_base64"]})
    return listed, mailed


def inbound_attachments(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A received email's files as the mail service keeps them (linked, not copied)."""
    inbound = data.get("id")
    out = []
    for a in data.get("attachments") or []:
        if not isinstance(a, dict) or not a.get("id"):
            continue
        out.append({"id": str(a["id"]), "filename": a.get("filename"), "content_type": a.get("content_type"),
                    "size": a.get("size"), "inline": bool(a.get("inline")), "content_id": a.get("content_id"),
                    "source": "mail", "inbound_message_id": inbound,
                    "url": f"/v1/mail/inbound/{inbound}/attachments/{a['id']}"})
    return out


# --- agents: replies and notes ----------------------------------------------------------------

def post_agent_message(session: Session, desk: Desk, ticket: Ticket, *, kind: str, text: str | None = None,
                       html: str | None = None, cc: Sequence[str] | None = None,
                       attachments: Sequence[dict[str, Any]] = (), status: str | None = None,
                       mentions: Sequence[uuid.UUID | str] = (), author_id: uuid.UUID | None = None,
                       channel: str | None = None) -> TicketMessage:
    """An agent's public reply (emailed to the requester and cc's from the support address) or
    internal note (never emailed; its @mentions notify the users), with an optional status."""
    settings = desk.settings
    domain = inbound_domain(settings)
    html = sanitise_html(html)
    if status is not None and ticket.status == "closed" and status != "closed":
        desk.tickets.update(session, ticket.id, {"status": status})  # reopen first: a closed ticket is final
        status = None
    if kind == "reply":
        if ticket.status == "closed":
            raise validation_error({"kind": ["A closed ticket is final: reopen it (status 'open') to reply."]},
                                   detail="Cannot reply on a closed ticket.")
        if not ticket.requester_email:
            raise validation_error({"kind": ["The ticket has no requester email to send a reply to."]},
                                   detail="Cannot email a reply: the ticket has no requester_email.")
        requester = ticket.requester_email.strip().lower()
        messages = timeline(session, ticket.id)
        copies = list(cc) if cc is not None else participants(session, ticket, domain)
        copies = [c for c in dict.fromkeys(c.lower() for c in copies) if c != requester and not _own(c, domain)]
        listed, mailed = save_attachments(session, ticket, attachments)
        mid, token = uuid7(), new_reply_token()
        in_reply_to, references = thread_ids(messages)
        threaded = any(m.kind == "customer" and m.message_id for m in messages)
        message = add_message(session, desk, ticket, id=mid, kind="reply", author_type="agent",
                              channel=channel or "email", text=text or "", html=html, author_id=author_id,
                              to=[requester], cc=copies, attachments=listed,
                              message_id=new_message_id(mid, message_id_domain(settings)),
                              in_reply_to=in_reply_to, reply_token=token)
        request_mail(desk.outbox, session, message_id=mid, purpose="transactional", from_support=True,
                     to=[{"address": requester, "name": ticket.requester_name}] if ticket.requester_name
                     else [requester], cc=copies, subject=reply_subject(ticket, threaded),
                     text=text or None, html=html, reply_token=token, in_reply_to=in_reply_to,
                     references=references, attachments=mailed, refers_to={"type": "ticket", "id": str(ticket.id)})
        if status is None and ticket.status == "new":
            status = "open"
    else:
        listed, _ = save_attachments(session, ticket, attachments)
        users = mentioned(text, html, mentions)
        message = add_message(session, desk, ticket, kind="note", author_type="agent", channel=channel or "api",
                              text=text or "", html=html, author_id=author_id, attachments=listed, mentions=users)
        request_notifications(
            session, desk.outbox, [uuid.UUID(u) for u in users], kind="ticket_mention",
            title=f"You were mentioned on #{ticket.number}: {ticket.subject}"[:500], subject_type="ticket",
            subject_id=ticket.id, body=(text or "")[:1000] or None, actor_id=author_id,
            data={"ticket_number": ticket.number, "message_id": str(message.id)})
    if status is not None and status != ticket.status:
        desk.tickets.update(session, ticket.id, {"status": status})
    return message


# --- customers: email in, the portal ----------------------------------------------------------

def add_customer_message(session: Session, desk: Desk, ticket: Ticket, *, text: str, channel: str,
                         author_email: str | None, author_name: str | None = None, html: str | None = None,
                         to: Sequence[str] = (), cc: Sequence[str] = (), attachments: Sequence[dict[str, Any]] = (),
                         message_id: str | None = None, in_reply_to: str | None = None,
                         inbound_message_id: uuid.UUID | None = None) -> tuple[Ticket, TicketMessage]:
    """A customer's message with the status rules (module docstring): on a closed ticket it opens
    a new ticket linked to it. (the ticket it landed on, the message)."""
    if ticket.status == "closed":
        ticket = desk.tickets.create(session, {
            "subject": ticket.subject, "channel": channel, "requester_email": ticket.requester_email,
            "requester_name": ticket.requester_name, "contact_id": ticket.contact_id,
            "linked_ticket_id": ticket.id, "description": text[:MAX_DESCRIPTION] or None})
    message = add_message(session, desk, ticket, kind="customer", author_type="customer", channel=channel,
                          text=text, html=sanitise_html(html), author_email=author_email, author_name=author_name,
                          to=to, cc=cc, attachments=attachments, message_id=message_id, in_reply_to=in_reply_to,
                          inbound_message_id=inbound_message_id)
    if ticket.status in ("pending", "resolved"):
        desk.tickets.update(session, ticket.id, {"status": "open"})
    return ticket, message


def _addresses(entries: Any) -> list[str]:
    out = []
    for entry in entries or []:
        address = entry.get("address") if isinstance(entry, dict) else entry
        if isinstance(address, str) and "@" in address:
            out.append(address.strip().lower())
    return out


def find_ticket(session: Session, desk: Desk, data: dict[str, Any], sender: str, domain: str) -> Ticket | None:
    """The ticket an email answers, by (1) the reply token of the address it came to, (2) its
    In-Reply-To / References against the Message-IDs on tickets, (3) `[#1001]` in its subject; a
    candidate counts only if the sender is its requester or one of its cc's. Everything is read
    in the current tenant (the event's), so nothing of another tenant can match."""
    def fits(ticket_id: uuid.UUID | None) -> Ticket | None:
        if ticket_id is None:
            return None
        ticket = session.scalars(select(Ticket).where(Ticket.id == ticket_id)).first()
        return ticket if ticket is not None and may_write(session, ticket, sender, domain) else None

    token = data.get("token")
    if data.get("tag") == TOKEN_TAG and isinstance(token, str) and token:
        found = session.scalars(select(TicketMessage.ticket_id).where(TicketMessage.reply_token == token)).first()
        if (ticket := fits(found)) is not None:
            return ticket
    ids = [i for i in dict.fromkeys([data.get("in_reply_to"), *reversed(data.get("references") or [])])
           if isinstance(i, str) and i]
    if ids:
        rows = session.execute(select(TicketMessage.message_id, TicketMessage.ticket_id)
                               .where(TicketMessage.message_id.in_(ids[:100]))).all()
        by_id = {r.message_id: r.ticket_id for r in rows}
        for mid in ids:
            if (ticket := fits(by_id.get(mid))) is not None:
                return ticket
    match = TICKET_NUMBER.search(data.get("subject") or "")
    if match:
        numbered = desk.tickets.by_number(session, int(match.group(1)))
        if (ticket := fits(numbered.id if numbered else None)) is not None:
            return ticket
    return None


def receive_mail(session: Session, desk: Desk, data: dict[str, Any]) -> TicketMessage | None:
    """crm.mail.received for the desk: threads the email onto its ticket or, sent to +support,
    opens one (channel email, requester from From). Automatic mail (auto-replies, bounces,
    complaints, loops) never opens or touches a ticket. The message written, or None."""
    if data.get("tag") not in (SUPPORT_TAG, TOKEN_TAG):
        return None
    if data.get("kind") != "message" or data.get("auto_submitted"):
        return None
    sender_entry = data.get("from") if isinstance(data.get("from"), dict) else {}
    sender = str(sender_entry.get("address") or "").strip().lower()
    if "@" not in sender:
        return None
    domain = inbound_domain(desk.settings)
    if _own(sender, domain):
        return None  # our own addresses never write to the desk (a forwarding loop)
    message_id = data.get("message_id") if isinstance(data.get("message_id"), str) else None
    if message_id and session.scalars(select(TicketMessage.id).where(TicketMessage.message_id == message_id)).first():
        return None  # the same email again (to +support and the reply address, a retried delivery)
    name = str(sender_entry.get("name") or "").strip()[:200] or None
    inbound = _uuid(data.get("id"))
    fields: dict[str, Any] = {
        "text": data.get("text") or "", "html": data.get("html"), "channel": "email", "author_email": sender,
        "author_name": name, "to": _addresses(data.get("to")), "cc": _addresses(data.get("cc")),
        "attachments": inbound_attachments(data), "message_id": message_id,
        "in_reply_to": data.get("in_reply_to") if isinstance(data.get("in_reply_to"), str) else None,
        "inbound_message_id": inbound}
    ticket = find_ticket(session, desk, data, sender, domain)
    if ticket is None:
        if data.get("tag") != SUPPORT_TAG:
            # An unknown reply token (another tenant's, a stale or forged one): not a request to
            # +support, so it opens nothing; the mail service keeps the email (/v1/mail/inbound).
            log.info("inbound mail to a reply address matched no ticket; left in the mail service")
            return None
        ticket = desk.tickets.create(session, {
            "subject": (base_subject(data.get("subject")) or "(no subject)")[:300], "channel": "email",
            "requester_email": sender, "requester_name": name,
            "description": (fields["text"] or "")[:MAX_DESCRIPTION] or None})
        return add_message(session, desk, ticket, kind="customer", author_type="customer",
                           **{**fields, "html": sanitise_html(fields["html"])})
    return add_customer_message(session, desk, ticket, **fields)[1]


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def mail_handlers(desk: Desk) -> dict[str, Any]:
    def on_received(session: Session, event: Event) -> None:
        if isinstance(event.data, dict):
            receive_mail(session, desk, event.data)

    return {MAIL_RECEIVED: on_received}


def install(desk: Desk) -> None:
    """Registers the area's ticket hooks (desk.hooks): none; messages drive the status rules."""


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """tickets.mail-in: crm.mail.received (the mail service's events) -> tickets and their messages."""
    from tickets.models import metadata
    from tickets.service.desk import build_desk

    desk = build_desk(settings, Outbox(settings.service, metadata()))
    return [ConsumerSpec(MAIL_GROUP, [MAIL_EVENTS_TOPIC], mail_handlers(desk))]


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The area's background loops (run by the worker)."""
    return []
