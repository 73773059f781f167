"""Tenant mailboxes: <name>@<CRM_INBOUND_DOMAIN>. Minimal version written by the sending work so a
message's Reply-To and envelope sender can name the tenant's mailbox; the inbound work owns this
module (allocation rules, secrets) and may replace it, keeping `mailbox_for`."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mail.models import Mailbox


def candidate_names(tenant_id: uuid.UUID) -> list[str]:
    # The id's random tail (a UUIDv7's head is its timestamp, shared by tenants made in the same
    # millisecond), then the whole id, which cannot collide.
    return [f"t{tenant_id.hex[-12:]}", f"t{tenant_id.hex}"]


def mailbox_for(session: Session, tenant_id: uuid.UUID) -> Mailbox:
    """The tenant's mailbox, made on first use."""
    query = select(Mailbox).where(Mailbox.tenant_id == tenant_id)
    found = session.scalars(query).first()
    if found is not None:
        return found
    for name in candidate_names(tenant_id):
        box = Mailbox(tenant_id=tenant_id, name=name)
        try:
            with session.begin_nested():
                session.add(box)
                session.flush()
            return box
        except IntegrityError:  # a concurrent first use made it (take theirs), or the name is taken
            found = session.scalars(query).first()
            if found is not None:
                return found
    raise RuntimeError(f"no free mailbox name for tenant {tenant_id}")
