"""Replicas of other services' records the pipeline needs: users (gateway: e-mail, time zone) and
contacts (contacts: owner, last contacted), kept from their events.

Each handler writes the record's state as of the event's time, unless the row already holds a
newer one, so a late or redelivered event never rolls a record back (crm_events.replicas).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.timezones import DEFAULT_TIME_ZONE, is_time_zone
from crm_events.consumer import Handler
from crm_events.envelope import Event
from crm_events.replicas import apply_state as _apply
from crm_events.replicas import event_time
from crm_events.replicas import parse_time as _time
from crm_events.replicas import parse_uuid as _uuid
from pipeline import calendar_feed
from pipeline.models.reminders import ContactReplica, UserReplica

USER_TOPIC = "crm.gateway.user"
CONTACT_TOPIC = "crm.contacts.contact"


def _user_values(data: dict[str, Any]) -> dict[str, Any]:
    zone = data.get("time_zone")
    return {"email": data.get("email"), "name": data.get("name"),
            "time_zone": zone if is_time_zone(zone) else DEFAULT_TIME_ZONE,
            "active": bool(data.get("active", True))}


def user_handlers() -> dict[str, Handler]:
    def upsert(session: Session, event: Event) -> None:
        values = _user_values(event.data)
        if _apply(session, UserReplica, uuid.UUID(event.subject), event_time(event), values) and values["active"] is False:
            # An offboarded user's secret calendar URL stops serving their tasks and meetings.
            calendar_feed.revoke(session, uuid.UUID(event.subject))

    return {"crm.user.created": upsert, "crm.user.updated": upsert}


def _contact_values(data: dict[str, Any]) -> dict[str, Any]:
    name = " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p) or data.get("email")
    return {"name": (name or None) and str(name)[:400], "email": data.get("email"), "owner_id": _uuid(data.get("owner_id")),
            "last_contacted_at": _time(data.get("last_contacted_at")), "contact_created_at": _time(data.get("created_at")),
            "deleted": False}


def contact_handlers() -> dict[str, Handler]:
    def upsert(session: Session, event: Event) -> None:
        _apply(session, ContactReplica, uuid.UUID(event.subject), event_time(event), _contact_values(event.data))

    def merged(session: Session, event: Event) -> None:
        # merged / unmerged carry the primary's body under "primary" (the secondary's comes as
        # crm.contact.deleted / created beside it).
        _apply(session, ContactReplica, uuid.UUID(event.subject), event_time(event),
               _contact_values(event.data.get("primary") or {}))

    def gone(session: Session, event: Event) -> None:
        # erased: every id of the person (merged ones too) is gone.
        for record_id in dict.fromkeys([event.subject, *(event.data.get("merged_ids") or [])]):
            if (rid := _uuid(record_id)) is not None:
                _apply(session, ContactReplica, rid, event_time(event), {"deleted": True, "owner_id": None})

    return {"crm.contact.created": upsert, "crm.contact.updated": upsert, "crm.contact.merged": merged,
            "crm.contact.unmerged": merged, "crm.contact.deleted": gone, "crm.contact.erased": gone}


def user_time_zone(session: Session, user_id: uuid.UUID | None) -> str | None:
    """The user's time zone from the replica; None for an unknown user."""
    if user_id is None:
        return None
    return session.scalar(select(UserReplica.time_zone).where(UserReplica.id == user_id))
