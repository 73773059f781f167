"""The customer portal: which tenant a mailbox name belongs to (the help centre and portal live at
/portal/{mailbox}/), plus the portal's sign-in links and sessions."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from crm_db.base import utcnow
from tickets.models.base import Base


class PortalMailbox(Base):
    """A platform table (no RLS, like mail's mailboxes): the open /portal/{mailbox}/ paths find
    their tenant here before any tenant is known. Fed by the mail service's crm.mailbox.* events;
    a renamed mailbox keeps its old name only until the rename arrives."""

    __tablename__ = "portal_mailboxes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False, unique=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
