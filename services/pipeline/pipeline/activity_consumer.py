"""Consumer pipeline.activities: the contacts service's activity events (crm.activity.*, topic
crm.contacts.activity), for two things.

- A deal's last_activity_at follows what is logged on its timeline (deal_activity.refresh_deal_activity):
  a call, email or meeting that has happened; a meeting in the future is no activity yet.
- The meetings replica (models/calendar.Meeting) the calendar feed serves: a meeting's time,
  place, attendees, organiser and SEQUENCE, kept from the same events.

The runner sets the event's tenant and dedupes by event id; an older version arriving late is ignored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm_core.settings import Settings
from crm_db.base import utcnow
from crm_db.database import Database
from crm_events.consumer import Handler
from crm_events.envelope import Event, topic_for
from crm_runtime.cli import ConsumerSpec
from pipeline.deal_activity import refresh_deal_activity
from pipeline.models.calendar import Meeting

GROUP = "pipeline.activities"
ACTIVITY_TOPIC = topic_for("contacts", "crm.activity.created")  # crm.contacts.activity
ACTIVITY_EVENTS = ("crm.activity.created", "crm.activity.updated", "crm.activity.deleted")
COUNTED_TYPES = ("call", "email", "meeting")  # as contacts counts last_contacted_at: a note is no activity
Clock = Callable[[], dt.datetime]


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _deals(event: Event) -> set[uuid.UUID]:
    """The deals whose timeline this event changed: now and, for a move, before."""
    found = {_uuid(event.data.get("deal_id"))}
    moved = (event.data.get("changes") or {}).get("deal_id")
    if isinstance(moved, list) and moved:
        found.add(_uuid(moved[0]))
    return {d for d in found if d is not None}


def _on_deals(session: Session, event: Event, now: dt.datetime) -> None:
    deals = _deals(event)
    if not deals:
        return
    at = _time(event.data.get("occurred_at"))
    counted = event.type != "crm.activity.deleted" and event.data.get("type") in COUNTED_TYPES
    logged_at = at if counted and at is not None and at <= now else None
    refresh_deal_activity(session, sorted(deals), logged_at=logged_at, now=now)


def _attendees(value: Any) -> list[str]:
    out = []
    for item in value if isinstance(value, list) else ():
        email = item.get("email") if isinstance(item, dict) else item
        if isinstance(email, str) and email:
            out.append(email.lower()[:320])
    return out[:200]


def _on_meetings(session: Session, event: Event) -> None:
    data = event.data
    meeting_id = _uuid(data.get("id") or event.subject)
    if meeting_id is None:
        return
    row = session.scalars(select(Meeting).where(Meeting.id == meeting_id).with_for_update()).first()
    version = data.get("version") if isinstance(data.get("version"), int) else 0
    if row is not None and row.activity_version > version:
        return  # an older state than we hold
    starts = _time(data.get("starts_at")) or _time(data.get("occurred_at"))
    if event.type == "crm.activity.deleted" or data.get("type") != "meeting" or starts is None:
        session.execute(delete(Meeting).where(Meeting.id == meeting_id))
        return
    values = {
        "author_id": _uuid(data.get("author_id")), "deal_id": _uuid(data.get("deal_id")),
        "contact_id": _uuid(data.get("contact_id")), "title": (data.get("subject") or None),
        "description": data.get("body"), "starts_at": starts, "ends_at": _time(data.get("ends_at")),
        "time_zone": data.get("time_zone"), "location": data.get("location"),
        "attendees": _attendees(data.get("attendees")), "cancelled": bool(data.get("cancelled")),
        "sequence": data.get("sequence") if isinstance(data.get("sequence"), int) else 0, "activity_version": version,
    }
    if row is None:
        session.add(Meeting(id=meeting_id, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.flush()


def activity_handlers(now: Clock = utcnow) -> dict[str, Handler]:
    def changed(session: Session, event: Event) -> None:
        _on_meetings(session, event)  # first: a scheduled meeting is the deal's next activity
        _on_deals(session, event, now())

    return dict.fromkeys(ACTIVITY_EVENTS, changed)


def activity_consumers(_settings: Settings, _db: Database) -> list[ConsumerSpec]:
    return [ConsumerSpec(GROUP, [ACTIVITY_TOPIC], activity_handlers())]
