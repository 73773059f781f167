"""Replicas: a service's local copy of another service's records, kept from their events.

Each handler writes the record's state as of the event's time, unless the row already holds a
newer one, so a late or redelivered event never rolls a record back (the consumer runner dedupes
by event id too). The replica's model is TenantScoped with `id` = the record's id and an
`event_time` column holding the time of the state it holds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_db.base import as_utc
from crm_events.envelope import Event


def event_time(event: Event) -> dt.datetime:
    """The event's time (its envelope's `time`, ISO 8601 with Z) as an aware UTC datetime."""
    return as_utc(dt.datetime.fromisoformat(event.time.replace("Z", "+00:00")))


def parse_time(value: Any) -> dt.datetime | None:
    """A timestamp from an event body; None when absent or malformed."""
    if not value:
        return None
    try:
        return as_utc(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


def parse_uuid(value: Any) -> uuid.UUID | None:
    """An id from an event body; None when absent or malformed."""
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def apply_state(session: Session, model: type[Any], record_id: uuid.UUID, at: dt.datetime,
                values: dict[str, Any]) -> bool:
    """Hold this state of the record unless a newer one is held already; True when it was applied.
    The row is locked first, so two events of one record apply one after the other."""
    row = session.scalars(select(model).where(model.id == record_id).with_for_update()).first()
    if row is None:
        session.add(model(id=record_id, event_time=at, **values))
        return True
    if at < as_utc(row.event_time):
        return False  # an older state than the one held
    row.event_time = at
    for name, value in values.items():
        setattr(row, name, value)
    return True
