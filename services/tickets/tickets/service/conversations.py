"""Use cases of a ticket's conversation: adding replies, notes and customer messages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from crm_core.settings import Settings
from crm_db.base import utcnow
from crm_db.database import Database
from crm_runtime.cli import BackgroundLoop, ConsumerSpec
from tickets.models import Ticket
from tickets.models.conversations import TicketMessage

if TYPE_CHECKING:
    from tickets.service.desk import Desk

MESSAGE_ADDED = "crm.ticket.message_added"


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
                in_reply_to: str | None = None) -> TicketMessage:
    """Writes the message, stamps the ticket's last customer message / agent reply, runs the
    message hooks (SLA responses, ...) and emits crm.ticket.message_added, in the caller's
    transaction. Mail out, status changes and mentions are the callers' (see the API and consumer)."""
    now = utcnow()
    message = TicketMessage(ticket_id=ticket.id, kind=kind, author_type=author_type, channel=channel,
                            body_text=text, body_html=html, author_id=author_id, author_email=author_email,
                            author_name=author_name, to=list(to), cc=list(cc), attachments=list(attachments),
                            mentions=list(mentions), message_id=message_id, in_reply_to=in_reply_to,
                            created_at=now, updated_at=now)
    session.add(message)
    if kind == "customer":
        ticket.last_customer_message_at = now
    elif kind == "reply":
        ticket.last_agent_reply_at = now
    session.flush()
    desk.hooks.on_message(session, ticket, message)
    desk.outbox.emit(session, MESSAGE_ADDED, ticket.id, {"ticket_number": ticket.number, **message_body(message)})
    return message


def install(desk: Desk) -> None:
    """Registers the area's ticket hooks (desk.hooks)."""


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """The area's event consumers (run by the worker)."""
    return []


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The area's background loops (run by the worker)."""
    return []
