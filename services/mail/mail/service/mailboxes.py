"""Tenant mailboxes: <name>@<CRM_INBOUND_DOMAIN>. Minimal version written by the sending work so a
message's Reply-To and envelope sender can name the tenant's mailbox; the inbound work owns this
module (allocation rules, secrets) and may replace it, keeping `mailbox_for`."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mail.models import Mailbox


def allocate_name(tenant_id: uuid.UUID) -> str:
    # Stable and unique per tenant (the tenant id's first 48 bits), no guessing of a company's name.
    return f"t{tenant_id.hex[:12]}"


def mailbox_for(session: Session, tenant_id: uuid.UUID) -> Mailbox:
    """The tenant's mailbox, made on first use."""
    found = session.scalars(select(Mailbox).where(Mailbox.tenant_id == tenant_id)).first()
    if found is not None:
        return found
    box = Mailbox(tenant_id=tenant_id, name=allocate_name(tenant_id))
    try:
        with session.begin_nested():  # a concurrent first use made it: take theirs
            session.add(box)
            session.flush()
    except IntegrityError:
        return session.scalars(select(Mailbox).where(Mailbox.tenant_id == tenant_id)).one()
    return box
