"""The pipeline's deals as contacts knows them: a replica kept from crm.deal.created|updated|deleted
(topic crm.pipeline.deal), so a deal's timeline can refuse unknown deals, and mail to
<mailbox>+deal-<number>@ can find its deal, without asking the pipeline service.

A deal's events carry its version: a late or redelivered older event changes nothing. Rows are
tenant-scoped like every other: one tenant's deal number 7 is never another's."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.models import DealRef
from crm_core.errors import NotFound, validation_error
from crm_events.envelope import Event, topic_for

DEAL_TOPIC = topic_for("pipeline", "crm.deal.created")  # crm.pipeline.deal
DEAL_EVENTS = ("crm.deal.created", "crm.deal.updated", "crm.deal.deleted")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def apply_deal_event(session: Session, event: Event) -> DealRef | None:
    """Upsert the replica row of the event's deal; returns it when it is a live deal now."""
    data = event.data or {}
    try:
        deal_id = uuid.UUID(str(data.get("id") or event.subject))
    except ValueError:
        return None
    version = _int(data.get("version")) or 0
    row = session.scalars(select(DealRef).where(DealRef.id == deal_id).with_for_update()).first()
    if row is None:
        row = DealRef(id=deal_id, deal_version=-1, deleted=False)
        session.add(row)
    elif row.deal_version > version or (row.deleted and event.type != "crm.deal.deleted"):
        return None  # an older state than we hold, or a deal already deleted: deletion is final
    row.deal_version = version
    row.number = _int(data.get("number")) if data.get("number") is not None else row.number
    row.name = str(data["name"])[:500] if data.get("name") is not None else row.name
    row.deleted = event.type == "crm.deal.deleted"
    session.flush()
    return None if row.deleted else row


def live_deal(session: Session, deal_id: uuid.UUID) -> DealRef | None:
    return session.scalars(select(DealRef).where(DealRef.id == deal_id, DealRef.deleted.is_(False))).first()


def deal_for_path(session: Session, deal_id: uuid.UUID) -> DealRef:
    found = live_deal(session, deal_id)
    if found is None:
        raise NotFound(f"No deal with id {deal_id}.")
    return found


def deal_for_field(session: Session, deal_id: uuid.UUID) -> DealRef:
    """A deal_id given in a body: 422 naming the field when it is no deal of this tenant."""
    found = live_deal(session, deal_id)
    if found is None:
        raise validation_error({"deal_id": [f"No deal with id {deal_id}."]})
    return found


def deal_by_number(session: Session, number: int) -> DealRef | None:
    return session.scalars(select(DealRef).where(DealRef.number == number, DealRef.deleted.is_(False))
                           .order_by(DealRef.id).limit(1)).first()
