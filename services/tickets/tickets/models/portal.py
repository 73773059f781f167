"""The customer portal: which tenant a mailbox name belongs to (the help centre and portal live at
/portal/{mailbox}/), plus the portal's sign-in links, sessions and the files customers attach."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from crm_db.base import TenantScoped, utcnow
from tickets.models.base import Base


class PortalMailbox(Base):
    """A platform table (no RLS, like mail's mailboxes): the open /portal/{mailbox}/ paths find
    their tenant here before any tenant is known. Fed by the mail service's crm.mailbox.* events;
    a renamed mailbox keeps its old name only until the rename arrives."""

    __tablename__ = "portal_mailboxes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False, unique=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class PortalLoginLink(TenantScoped, Base):
    """A sign-in link mailed to a requester: single use, short-lived; only the secret's hash is
    kept. The rows of one email in the last window are also the login rate limit's counter."""

    __tablename__ = "portal_login_links"
    __table_args__ = (
        Index("portal_login_links_tenant_token_key", "tenant_id", "token_hash", unique=True),
        Index("portal_login_links_tenant_email_idx", "tenant_id", "email", "created_at"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)  # lower-cased
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PortalSession(TenantScoped, Base):
    """A signed-in customer: a credential of its own (never a staff token), for one tenant and
    one requester email, valid only on that tenant's /portal/{mailbox}/ paths."""

    __tablename__ = "portal_sessions"
    __table_args__ = (
        Index("portal_sessions_tenant_token_key", "tenant_id", "token_hash", unique=True),
        Index("portal_sessions_tenant_email_idx", "tenant_id", "email"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PortalAttachment(TenantScoped, Base):
    """A file a customer attached in the portal. The message's `attachments` lists its id; the
    bytes are served back only to a portal session that may see the ticket (and to staff)."""

    __tablename__ = "portal_attachments"
    __table_args__ = (Index("portal_attachments_tenant_ticket_idx", "tenant_id", "ticket_id"),)

    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    uploaded_by: Mapped[str | None] = mapped_column(String(320))  # the session's email
