"""The tenant's suppression list: addresses marketing mail never goes to (and, after a hard bounce,
no mail at all). Shared by the API, the bounce handler and the send path."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from mail.models import Suppression

# A hard bounce stops every message to the address; complaints and unsubscribes stop marketing.
BLOCKS_ALL = frozenset({"hard_bounce"})


def normalise(address: str) -> str:
    return address.strip().lower()


def add_suppression(session: Session, address: str, reason: str, *, detail: str | None = None,
                    source_message_id: uuid.UUID | None = None) -> Suppression:
    """Suppress `address` in the current tenant; an existing entry keeps its row, and a hard bounce
    outranks a softer reason (it blocks more)."""
    address = normalise(address)
    existing = session.scalars(select(Suppression).where(Suppression.address == address)).first()
    if existing is not None:
        if reason in BLOCKS_ALL and existing.reason not in BLOCKS_ALL:
            existing.reason, existing.detail, existing.source_message_id = reason, detail, source_message_id
        return existing
    row = Suppression(address=address, reason=reason, detail=detail, source_message_id=source_message_id)
    session.add(row)
    session.flush()
    return row
