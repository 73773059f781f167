"""SLA tables: business-hours calendars, SLA policies, and each ticket's SLA clock state.

A ticket's clock state keeps its anchors (when it was created, every status change, every
customer message and agent reply) so that its due times are a pure function of anchors, policy
and calendar: changing a calendar or policy recomputes them, the anchors never change.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from crm_db.base import JsonType, TenantScoped
from tickets.models.base import Base

TARGETS = ("first_response", "next_response", "resolution")


class BusinessHours(TenantScoped, Base):
    __tablename__ = "business_hours"
    __table_args__ = (Index("business_hours_tenant_name_idx", "tenant_id", "name", "id"),)

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False)
    # {"mon": [{"start": "09:00", "end": "12:00"}, ...], ...}: days left out are closed.
    frames: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    holidays: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, nullable=False, default=list)  # [{date, name}]
    holiday_feed_url: Mapped[str | None] = mapped_column(String(2000))
    # What the last successful fetch of the feed found ([{date, name}]); the math uses these.
    feed_holidays: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, nullable=False, default=list)
    feed_refreshed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    feed_error: Mapped[str | None] = mapped_column(Text)
    # The tenant's default calendar: policies without one use it (none: around the clock, UTC).
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class SlaPolicy(TenantScoped, Base):
    __tablename__ = "sla_policies"
    __table_args__ = (Index("sla_policies_tenant_position_idx", "tenant_id", "position", "id"),)

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # The filter language of /v1/tickets?filter= (empty: every ticket).
    condition: Mapped[str | None] = mapped_column(Text)
    business_hours_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    next_response_minutes: Mapped[int | None] = mapped_column(Integer)
    resolution_minutes: Mapped[int | None] = mapped_column(Integer)
    # Percent of a target's business minutes elapsed when its warning fires.
    warning_threshold: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=80)
    # Lower first; the first policy (by position, then creation) whose condition matches applies.
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class TicketSla(TenantScoped, Base):
    """One row per ticket (every ticket, with or without a policy: a policy added later finds
    the anchors it needs)."""

    __tablename__ = "ticket_sla"
    __table_args__ = (
        Index("ticket_sla_tenant_ticket_key", "tenant_id", "ticket_id", unique=True),
        Index("ticket_sla_tenant_policy_idx", "tenant_id", "policy_id", "ticket_id"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    policy_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    # {"created": iso, "statuses": [[iso, status], ...], "messages": [[iso, "customer"|"agent"], ...]}
    anchors: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False)
    # The targets as last computed (service/sla.py TargetState.as_json), for reading without math.
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, nullable=False, default=list)
    # What already happened, never recomputed: {"breach:first_response:0": iso, "warning:...": iso}.
    # A replanned timer finds its occurrence here and stays quiet (exactly once per target instance).
    fired: Mapped[dict[str, str]] = mapped_column(JsonType, nullable=False, default=dict)
    # Whether the ticket is done with SLA work (closed): recomputes skip it.
    closed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class SlaRecompute(TenantScoped, Base):
    """A recompute of many open tickets' SLA clocks after a calendar or policy change, done by the
    worker in chunks (timer kind sla_recompute) so the change's request stays short; its counts
    are the progress GET /v1/sla-recomputes/{id} shows."""

    __tablename__ = "sla_recomputes"
    __table_args__ = (Index("sla_recomputes_tenant_created_idx", "tenant_id", "created_at", "id"),)

    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")  # queued|running|completed|failed
    reason: Mapped[str] = mapped_column(String(300), nullable=False)
    # {"policy_ids": [...] (null inside: tickets without a policy) or null for every open ticket, "rematch": bool}
    scope: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    tickets_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tickets_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The last ticket done (chunks go in ticket id order): where the next chunk starts.
    after_ticket_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Why the worker gave the job up (a chunk failed every retry); its tickets keep their last clocks.
    error: Mapped[str | None] = mapped_column(Text)
