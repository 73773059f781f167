"""Reminder tables: the users and contacts replicas (e-mail, time zone; owner, last contacted),
notifications, and the timers (crm_db.timers) reminders are fired from."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_db.base import JsonType, TenantScoped
from crm_db.timers import timer_table
from pipeline.models.base import Base

# The kinds known so far; other services may request more (pipeline.notification_requests).
NOTIFICATION_KINDS = ("task_reminder", "task_assigned", "deal_assigned", "ticket_mention", "ticket_assigned",
                      "ticket_sla_warning", "ticket_sla_breached")

# Not under RLS, like the outbox: the scheduler claims due rows across tenants (crm_db.timers).
timers = timer_table(Base.metadata)


class UserReplica(TenantScoped, Base):
    """The gateway's users as its crm.user.* events describe them (id = the user's id): whom to
    mail a reminder, and in which time zone a user's day starts."""

    __tablename__ = "users"

    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The event time of the state held: an older event arriving late changes nothing.
    event_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ContactReplica(TenantScoped, Base):
    """The contacts service's contacts as far as follow-ups need them (id = the contact's id)."""

    __tablename__ = "contact_replicas"
    __table_args__ = (
        # Follow-ups: an owner's contacts by the last time anybody talked to them.
        Index("contact_replicas_tenant_owner_idx", "tenant_id", "owner_id", "last_contacted_at", "id"),
    )

    name: Mapped[str | None] = mapped_column(String(400))
    email: Mapped[str | None] = mapped_column(String(320))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    last_contacted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # When the contact appeared: one never contacted is due for follow-up counted from here.
    contact_created_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    event_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Notification(TenantScoped, Base):
    """Something a user should see: a reminder fired, a task or deal assigned to them."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("notifications_tenant_user_created_idx", "tenant_id", "user_id", "created_at", "id"),
        Index("notifications_tenant_user_unread_idx", "tenant_id", "user_id",
              postgresql_where=text("read_at IS NULL"), sqlite_where=text("read_at IS NULL")),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(String(16))  # task | deal | ticket | ...
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
