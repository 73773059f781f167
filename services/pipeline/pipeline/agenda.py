"""The caller's agenda (`GET /v1/tasks/agenda`) and follow-ups (`GET /v1/follow-ups`), in the
caller's time zone (the users replica; UTC for a user it does not know yet)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from crm_core.timezones import DEFAULT_TIME_ZONE, local_date, start_of_day
from pipeline.models import Deal, Task
from pipeline.models.reminders import ContactReplica
from pipeline.replicas import user_time_zone
from pipeline.settings import current_settings

SECTION_LIMIT = 200  # tasks per agenda section; records per follow-up list


def agenda(session: Session, user_id: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    """Open tasks assigned to the user: overdue (past due; an all-day task is overdue from the day
    after its date), today, and the next 7 days after today, each by due time."""
    zone = user_time_zone(session, user_id) or DEFAULT_TIME_ZONE
    today = local_date(now, zone)
    start, tomorrow = start_of_day(today, zone), start_of_day(today + dt.timedelta(days=1), zone)
    week_end = start_of_day(today + dt.timedelta(days=8), zone)
    mine = select(Task).where(Task.assignee_id == user_id, Task.done.is_(False), Task.due_at.is_not(None))
    late = (Task.due_at < now) & (Task.due_date.is_(None) | (Task.due_date < today))

    def section(stmt: Select[Any]) -> list[Task]:
        return list(session.scalars(stmt.order_by(Task.due_at, Task.id).limit(SECTION_LIMIT)))

    return {"time_zone": zone, "date": today,
            "overdue": section(mine.where(late)),
            "today": section(mine.where(Task.due_at < tomorrow, ~late, (Task.due_at >= start) | Task.due_date.is_not(None))),
            "next_7_days": section(mine.where(Task.due_at >= tomorrow, Task.due_at < week_end))}


def follow_up_days(session: Session) -> int:
    """The tenant's follow-up threshold in days (/v1/settings/pipeline)."""
    return int(current_settings(session).follow_up_days)


def follow_ups(session: Session, user_id: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    """Who the user should follow up with: their open deals with no next activity, their rotten
    deals, and their contacts nobody has talked to for longer than the tenant's threshold."""
    days = follow_up_days(session)
    open_deals = select(Deal).where(Deal.owner_id == user_id, Deal.status == "open")
    idle = open_deals.where(Deal.next_activity_at.is_(None)).order_by(Deal.created_at, Deal.id).limit(SECTION_LIMIT)
    rotten = open_deals.where(Deal.rots_at <= now).order_by(Deal.rots_at, Deal.id).limit(SECTION_LIMIT)
    last = func.coalesce(ContactReplica.last_contacted_at, ContactReplica.contact_created_at)
    quiet = (select(ContactReplica).where(ContactReplica.owner_id == user_id, ContactReplica.deleted.is_(False),
                                          last < now - dt.timedelta(days=days))
             .order_by(last, ContactReplica.id).limit(SECTION_LIMIT))
    return {"follow_up_days": days, "deals_without_next_activity": list(session.scalars(idle)),
            "rotten_deals": list(session.scalars(rotten)), "contacts": list(session.scalars(quiet))}
