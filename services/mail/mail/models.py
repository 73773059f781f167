"""Mail tables.

Tenant tables (TenantScoped, under RLS) hold messages, attempts, senders, DKIM keys,
suppressions and inbound mail. Two platform tables are not under RLS because they are read
before any tenant is known, and hold no content: `mailboxes` (the inbound SMTP server routes a
recipient address to its tenant) and `mail_queue` (the send loop claims due messages fairly across
tenants; the message itself is then read inside its tenant's transaction). Every statement on those
two filters by tenant explicitly where it serves one tenant.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_db.base import JsonType, TenantScoped, utcnow
from crm_events.tables import BigId, event_tables
from crm_http.idempotency import idempotency_table

PURPOSES = ("transactional", "notification", "marketing")
# queued: waiting for its first attempt; deferred: an attempt failed temporarily, retried later;
# sent: the relay accepted it; failed: a 5xx or the retries ran out; bounced: accepted, then a
# delivery status notification said it could not be delivered; suppressed: never attempted.
STATUSES = ("queued", "deferred", "sent", "failed", "bounced", "suppressed")
SUPPRESSION_REASONS = ("hard_bounce", "complaint", "unsubscribe", "manual")
# Claim lanes: transactional and notification mail goes ahead of marketing.
LANE_PRIORITY, LANE_BULK = 0, 1


class Base(DeclarativeBase):
    metadata = MetaData()


class Mailbox(Base):
    """A tenant's inbound mailbox name: <name>@<CRM_INBOUND_DOMAIN> and its plus-tags."""

    __tablename__ = "mailboxes"
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # sha256 of the secret in POST /inbound/mime/{secret}; null until one is made (rotatable).
    inbound_secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    inbound_secret_rotated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The tenant's name (crm.tenant.created): the display name of mail from <name>+support@.
    display_name: Mapped[str | None] = mapped_column(String(200))


class Sender(TenantScoped, Base):
    """A From identity of the tenant, usable once a link sent to the address was followed."""

    __tablename__ = "senders"
    __table_args__ = (UniqueConstraint("tenant_id", "address", name="senders_tenant_address_key"),
                      Index("senders_tenant_created_idx", "tenant_id", "created_at", "id"))
    address: Mapped[str] = mapped_column(String(320))  # lower-cased
    name: Mapped[str | None] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    verification_hash: Mapped[str | None] = mapped_column(String(64))  # sha256 of the link's secret
    verification_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DkimKey(TenantScoped, Base):
    """A signing key for one sender domain; messages from that domain are signed with it."""

    __tablename__ = "dkim_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "domain", name="dkim_keys_tenant_domain_key"),)
    domain: Mapped[str] = mapped_column(String(253))  # lower-cased
    selector: Mapped[str] = mapped_column(String(63))
    algorithm: Mapped[str] = mapped_column(String(20), default="rsa-sha256")  # or ed25519-sha256
    private_key: Mapped[str] = mapped_column(Text)  # PEM (rsa) or base64 (ed25519); never served back
    public_key: Mapped[str] = mapped_column(Text)  # the p= value of the DNS TXT record


class Suppression(TenantScoped, Base):
    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("tenant_id", "address", name="suppressions_tenant_address_key"),
                      Index("suppressions_tenant_created_idx", "tenant_id", "created_at", "id"))
    address: Mapped[str] = mapped_column(String(320))  # lower-cased
    reason: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)  # the bounce's diagnostic, a note
    source_message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())  # the message that bounced


class MailMessage(TenantScoped, Base):
    """One requested email: rendered once (mime), then attempted until sent, failed or suppressed."""

    __tablename__ = "mail_messages"
    __table_args__ = (
        Index("mail_messages_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("mail_messages_tenant_status_idx", "tenant_id", "status", "id"),
        Index("mail_messages_tenant_refers_idx", "tenant_id", "refers_to_type", "refers_to_id", "id"),
        # DSNs and replies name the Message-ID the platform sent.
        Index("mail_messages_tenant_message_id_idx", "tenant_id", "message_id_header"),
    )
    purpose: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(40))  # the requesting service
    from_address: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    sender_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    to: Mapped[list[Any]] = mapped_column(JsonType)  # [{"address", "name"?}]
    cc: Mapped[list[Any]] = mapped_column(JsonType)
    bcc: Mapped[list[Any]] = mapped_column(JsonType)
    subject: Mapped[str] = mapped_column(String(998))
    refers_to_type: Mapped[str | None] = mapped_column(String(40))
    refers_to_id: Mapped[str | None] = mapped_column(String(100))
    message_id_header: Mapped[str] = mapped_column(String(255))  # "<...@...>"
    mime: Mapped[bytes | None] = mapped_column(LargeBinary)  # the rendered (and signed) message
    size: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_smtp_code: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Recipients the relay has accepted so far, when it took some and deferred others (4xx per
    # recipient): the retries go only to the rest. Null until that happens.
    delivered_to: Mapped[list[Any] | None] = mapped_column(JsonType)
    bounced_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class MailAttempt(Base):
    __tablename__ = "mail_attempts"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "message_id"], ["mail_messages.tenant_id", "mail_messages.id"],
                                           ondelete="CASCADE", name="mail_attempts_message_fkey"),)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))  # sent | deferred | failed
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)


mail_queue = Table(
    "mail_queue", Base.metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Uuid(), nullable=False),
    Column("message_id", Uuid(), nullable=False),
    Column("lane", SmallInteger, nullable=False),  # LANE_PRIORITY or LANE_BULK
    Column("due_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "message_id", name="mail_queue_tenant_message_key"),
    ForeignKeyConstraint(["tenant_id", "message_id"], ["mail_messages.tenant_id", "mail_messages.id"],
                         ondelete="CASCADE", name="mail_queue_message_fkey"),
    # The fair claim reads, per lane, each tenant's oldest due rows.
    Index("mail_queue_lane_tenant_due_idx", "lane", "tenant_id", "due_at", "id"),
)


class InboundMessage(TenantScoped, Base):
    """One accepted inbound message (SMTP or the raw-MIME webhook), parsed; raw kept as received."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        Index("inbound_messages_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("inbound_messages_tenant_message_id_idx", "tenant_id", "message_id_header"),
    )
    mailbox: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str | None] = mapped_column(String(40))  # support, log, t (reply token), b (bounce), ...
    token: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # message | auto_reply | bounce | complaint | loop
    envelope_from: Mapped[str | None] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))  # the RCPT TO that routed it here
    message_id_header: Mapped[str | None] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    from_address: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    to: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    cc: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    reply_to: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    subject: Mapped[str | None] = mapped_column(Text)
    sent_date: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)  # sanitised
    size: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # A DSN or complaint: the message of ours it reports on, when found in this tenant.
    reports_on_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())


class InboundAttachment(TenantScoped, Base):
    __tablename__ = "inbound_attachments"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "inbound_message_id"], ["inbound_messages.tenant_id", "inbound_messages.id"],
                             ondelete="CASCADE", name="inbound_attachments_message_fkey"),
        Index("inbound_attachments_tenant_message_idx", "tenant_id", "inbound_message_id", "id"),
    )
    inbound_message_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    content_id: Mapped[str | None] = mapped_column(String(255))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


def metadata() -> MetaData:
    """The service's full metadata: its records plus outbox, processed events and idempotency keys."""
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    return Base.metadata
