"""Which tenant a /portal/{mailbox}/ path belongs to (models.portal.PortalMailbox)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from tickets.models.portal import PortalMailbox


def tenant_for_mailbox(session: Session, name: str) -> uuid.UUID | None:
    """The tenant whose mailbox is `name` (case-insensitive), or None: an unknown name is a 404
    that says nothing about whether the tenant exists."""
    return session.scalars(select(PortalMailbox.tenant_id).where(PortalMailbox.name == name.strip().lower())).first()
