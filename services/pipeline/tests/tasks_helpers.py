"""Shared steps of the tasks, reminders and notifications tests: users in the replica, a
controllable clock for the reminder scheduler, the pipeline service on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from crm_core.context import tenant_context
from crm_db.timers import TimerScheduler
from crm_events.envelope import Event
from crm_testing.apps import ServiceHarness
from crm_testing.clock import Clock  # noqa: F401  (the tests import it from here)
from pipeline.models.reminders import Notification, timers
from pipeline.reminders import scheduler
from pipeline.replicas import contact_handlers, user_handlers

CONTACT = "01a2025e-d30d-7000-b597-2cc15812bf3f"


def user_event(svc: ServiceHarness, tenant: str, user_id: uuid.UUID, *, email: str | None = None,
               time_zone: str = "UTC", name: str | None = "Ada", event_type: str = "crm.user.created",
               at: dt.datetime | None = None, **data: Any) -> None:
    """Apply a crm.user.* event to the replica, as the consumer does."""
    tid = svc.tenant(tenant)
    body = {"id": str(user_id), "tenant_id": str(tid), "email": email or f"{user_id.hex[:8]}@example.com", "name": name,
            "role": "member", "time_zone": time_zone, "active": True, **data}
    stamp = {"time": iso(at)} if at is not None else {}
    event = Event(type=event_type, source="gateway", tenant_id=str(tid), subject=str(user_id), data=body, **stamp)
    with tenant_context(tid), svc.db.transaction() as session:
        user_handlers()[event_type](session, event)


def contact_event(svc: ServiceHarness, tenant: str, contact_id: uuid.UUID, event_type: str = "crm.contact.created",
                  **data: Any) -> None:
    tid = svc.tenant(tenant)
    event = Event(type=event_type, source="contacts", tenant_id=str(tid), subject=str(contact_id),
                  data={"id": str(contact_id), **data})
    with tenant_context(tid), svc.db.transaction() as session:
        contact_handlers()[event_type](session, event)


def user_headers(svc: ServiceHarness, tenant: str, user_id: uuid.UUID) -> dict[str, str]:
    return svc.headers(tenant, user_id=user_id)


def reminder_scheduler(svc: ServiceHarness, clock: Clock) -> TimerScheduler:
    return scheduler(svc.settings, svc.db, now=clock)


def notifications_of(svc: ServiceHarness, tenant: str, user_id: uuid.UUID, kind: str | None = None) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if kind is not None:
        stmt = stmt.where(Notification.kind == kind)
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return list(session.scalars(stmt.order_by(Notification.created_at, Notification.id)))


def pending_timers(svc: ServiceHarness) -> list[Any]:
    with svc.db.engine.connect() as conn:
        return list(conn.execute(select(timers).where(timers.c.fired_at.is_(None)).order_by(timers.c.due_at)).all())


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


