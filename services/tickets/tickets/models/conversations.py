"""A ticket's conversation: public replies, internal notes and the customer's messages, in order."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from crm_db.base import JsonType, TenantScoped
from tickets.models.base import Base

# reply: an agent's public answer (emailed to the requester and cc's; counts as an SLA response);
# note: internal, never emailed; customer: what the requester (or a cc) wrote, by email or portal.
MESSAGE_KINDS = ("reply", "note", "customer")
AUTHOR_TYPES = ("agent", "customer", "system")


class TicketMessage(TenantScoped, Base):
    __tablename__ = "ticket_messages"
    __table_args__ = (
        Index("ticket_messages_tenant_ticket_idx", "tenant_id", "ticket_id", "created_at", "id"),
        # Threading: a reply's In-Reply-To / References against the Message-IDs sent or received.
        # Unique: one email is one message, even when it came to +support and the reply address
        # at once and two workers took the two copies (the loser retries and finds it).
        Index("ticket_messages_tenant_message_id_idx", "tenant_id", "message_id", unique=True),
        # Threading: the reply token of the address a customer's answer was sent to.
        Index("ticket_messages_tenant_reply_token_idx", "tenant_id", "reply_token"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    author_type: Mapped[str] = mapped_column(String(16), nullable=False)
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())  # the agent (a user id)
    author_email: Mapped[str | None] = mapped_column(String(320))
    author_name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20), nullable=False)  # email, portal, api, phone
    body_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    body_html: Mapped[str | None] = mapped_column(Text)  # sanitised
    to: Mapped[list[str]] = mapped_column(JsonType, nullable=False, default=list)
    cc: Mapped[list[str]] = mapped_column(JsonType, nullable=False, default=list)
    # [{"id", "filename", "content_type", "size"}]
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, nullable=False, default=list)
    mentions: Mapped[list[str]] = mapped_column(JsonType, nullable=False, default=list)  # user ids
    # The RFC 5322 Message-ID this message was sent or received with (with angle brackets).
    message_id: Mapped[str | None] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    # A public reply's reply token (<mailbox>+t-<token>@ in its Reply-To), new per message.
    reply_token: Mapped[str | None] = mapped_column(String(64))
    # A received email: its id in the mail service (/v1/mail/inbound/{id}, its attachments).
    inbound_message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())


class TicketAttachment(TenantScoped, Base):
    """A file an agent (or the portal) attached to a message; sent with a public reply and served
    at /v1/tickets/{id}/attachments/{attachment_id}. Files of received email stay in the mail
    service (inbound_attachments) and are linked, not copied."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (Index("ticket_attachments_tenant_ticket_idx", "tenant_id", "ticket_id", "id"),)

    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
