"""Accepting one inbound message: parse once, then for each tenant it was addressed to store a
copy (with attachments), act on reports, and announce crm.mail.received, in that tenant's own
transaction. Used by the SMTP server (before its 250) and the raw-MIME webhook."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.ids import uuid7
from crm_db.base import utc_iso
from crm_db.database import Database
from crm_events.outbox import Outbox
from mail.config import MailSettings
from mail.models import InboundAttachment, InboundMessage
from mail.service import bounces
from mail.service.headers import clean
from mail.service.mailboxes import DEAL_TAG
from mail.service.parsing import Parsed, parse
from mail.service.routing import Route, distinct, route_recipient

log = logging.getLogger(__name__)

RECEIVED = "crm.mail.received"
EVENT_BODY_LIMIT = 256 * 1024  # bytes of UTF-8 per body in the event; the API serves it whole
# A meeting reply (METHOD:REPLY) is a few KiB; a bigger calendar part is no reply of ours.
EVENT_CALENDAR_LIMIT = 64 * 1024
CALENDAR_TYPES = ("text/calendar", "application/ics")


def _cut(value: str | None) -> tuple[str | None, bool]:
    if value is None:
        return None, False
    encoded = value.encode("utf-8")
    if len(encoded) <= EVENT_BODY_LIMIT:
        return value, False
    return encoded[:EVENT_BODY_LIMIT].decode("utf-8", "ignore"), True



def attachment_summary(a: InboundAttachment) -> dict[str, Any]:
    return {"id": str(a.id), "filename": a.filename, "content_type": a.content_type, "content_id": a.content_id,
            "size": a.size, "inline": a.inline}


def calendar_text(attachments: Iterable[InboundAttachment]) -> str | None:
    """The first iCalendar part (an invitation's answer), as text, when it fits the event."""
    for a in attachments:
        if a.content_type.lower() in CALENDAR_TYPES and a.data:
            if len(a.data) > EVENT_CALENDAR_LIMIT:
                return None
            return a.data.decode("utf-8", "replace")
    return None


def deal_number(row: InboundMessage) -> int | None:
    return int(row.token) if row.tag == DEAL_TAG and row.token and row.token.isdigit() else None


def event_data(row: InboundMessage, attachments: Iterable[InboundAttachment]) -> dict[str, Any]:
    """The crm.mail.received contract (helper notes / API.md). `deal_number` is set for mail to
    <mailbox>+deal-<n>@ (logged mail for that deal); `calendar` is the first text/calendar part."""
    attachments = list(attachments)
    text, text_cut = _cut(row.text)
    html, html_cut = _cut(row.html)
    return {
        "id": str(row.id), "mailbox": row.mailbox, "tag": row.tag, "token": row.token, "kind": row.kind,
        "auto_submitted": row.auto_submitted, "message_id": row.message_id_header, "in_reply_to": row.in_reply_to,
        "references": row.references, "from": {"address": row.from_address, "name": row.from_name},
        "to": row.to, "cc": row.cc, "reply_to": row.reply_to, "subject": row.subject, "date": utc_iso(row.sent_date),
        "text": text, "html": html, "truncated": text_cut or html_cut,
        "attachments": [attachment_summary(a) for a in attachments], "size": row.size,
        "recipient": row.recipient, "envelope_from": row.envelope_from,
        "reports_on": str(row.reports_on_id) if row.reports_on_id else None,
        "deal_number": deal_number(row), "calendar": calendar_text(attachments),
    }


def _duplicate(session: Session, parsed: Parsed, route: Route) -> uuid.UUID | None:
    """The copy already stored when a sender retries a message we took (our 250 got lost)."""
    if not parsed.message_id:
        return None
    return session.scalars(select(InboundMessage.id).where(
        InboundMessage.message_id_header == parsed.message_id, InboundMessage.recipient == route.recipient)).first()


def store(session: Session, outbox: Outbox, parsed: Parsed, raw: bytes, route: Route,
          envelope_from: str | None) -> uuid.UUID:
    """Store one tenant's copy and announce it; the current tenant must be route.tenant_id."""
    if context.current_tenant() != route.tenant_id:
        raise RuntimeError("an inbound message is stored only in the tenant its mailbox belongs to")
    existing = _duplicate(session, parsed, route)
    if existing is not None:
        return existing
    sender = parsed.from_ or {}
    row = InboundMessage(
        id=uuid7(), mailbox=route.mailbox, tag=route.tag, token=route.token, kind=parsed.kind,
        envelope_from=clean(envelope_from, 320), recipient=route.recipient, message_id_header=parsed.message_id,
        in_reply_to=parsed.in_reply_to, references=parsed.references, from_address=sender.get("address"),
        from_name=sender.get("name"), to=parsed.to, cc=parsed.cc, reply_to=parsed.reply_to, subject=parsed.subject,
        sent_date=parsed.date, auto_submitted=parsed.auto_submitted, text=parsed.text, html=parsed.html,
        size=parsed.size, raw=raw,
    )
    session.add(row)
    attachments = [InboundAttachment(id=uuid7(), inbound_message_id=row.id, filename=a.filename,
                                     content_type=a.content_type, content_id=a.content_id, inline=a.inline,
                                     size=len(a.data), data=a.data) for a in parsed.attachments]
    if attachments:
        session.flush()  # the message before its attachments (foreign key; no ORM relationship)
        session.add_all(attachments)
    if parsed.kind in ("bounce", "complaint"):
        bounces.apply_report(session, outbox, row, parsed, raw, route.token if route.tag == "b" else None)
    # Sent with the COMMIT (one round trip with the rows it announces).
    outbox.emit(session, RECEIVED, row.id, event_data(row, attachments), defer=True)
    return row.id


class Receiver:
    """What the SMTP server and the webhook share: routing lookups and the per-tenant stores."""

    def __init__(self, db: Database, outbox: Outbox, settings: MailSettings) -> None:
        self.db = db
        self.outbox = outbox
        self.settings = settings

    def route(self, recipient: str) -> Route | str:
        with self.db.transaction() as session:  # mailboxes is a platform table: no tenant needed
            return route_recipient(session, recipient, self.settings.inbound_domain)

    def parse(self, raw: bytes, envelope_from: str | None) -> Parsed:
        return parse(raw, envelope_from=envelope_from, own_domain=self.settings.message_id_domain)

    def deliver(self, raw: bytes, envelope_from: str | None, routes: Iterable[Route],
                parsed: Parsed | None = None) -> list[uuid.UUID]:
        """One stored copy per route (distinct), each committed in its tenant; raises if any fails
        (the SMTP client then retries, and the copies already stored are found as duplicates)."""
        parsed = parsed or self.parse(raw, envelope_from)
        ids = []
        for route in distinct(routes):
            with context.tenant_context(route.tenant_id), self.db.transaction() as session:
                ids.append(store(session, self.outbox, parsed, raw, route, envelope_from))
        return ids
