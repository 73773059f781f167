"""Automation tables: webhook subscriptions, their deliveries and attempts, and the delivery queue.

Every tenant table has tenant_id leading its keys and indexes. Deliveries and attempts hang off
their parent with composite foreign keys (tenant_id, id) and ON DELETE CASCADE, so deleting a
subscription takes its delivery history and queue entries with it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_db.base import JsonType, TenantScoped
from crm_db.fair_queue import queue_table
from crm_events.tables import event_tables
from crm_http.idempotency import idempotency_table


class Base(DeclarativeBase):
    metadata = MetaData()


class WebhookSubscription(TenantScoped, Base):
    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("webhook_subscriptions_tenant_created_idx", "tenant_id", "created_at", "id"),)

    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[Any]] = mapped_column(JsonType)
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Kept in clear because signing needs it; the API shows it once, in the create answer.
    secret: Mapped[str] = mapped_column(String(100))


class WebhookDelivery(TenantScoped, Base):
    """One event for one subscription; pending until it succeeds or gives up (failed)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # Redelivery of an event to the consumer must not deliver it twice.
        UniqueConstraint("tenant_id", "subscription_id", "event_id", name="webhook_deliveries_tenant_sub_event_key"),
        Index("webhook_deliveries_tenant_sub_created_idx", "tenant_id", "subscription_id", "created_at", "id"),
        ForeignKeyConstraint(["tenant_id", "subscription_id"],
                             ["webhook_subscriptions.tenant_id", "webhook_subscriptions.id"],
                             ondelete="CASCADE", name="webhook_deliveries_subscription_fkey"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)  # the envelope JSON, sent byte for byte
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(1000))


class WebhookAttempt(TenantScoped, Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "delivery_id", "attempt", name="webhook_attempts_tenant_delivery_attempt_key"),
        ForeignKeyConstraint(["tenant_id", "delivery_id"], ["webhook_deliveries.tenant_id", "webhook_deliveries.id"],
                             ondelete="CASCADE", name="webhook_attempts_delivery_fkey"),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(1000))
    response: Mapped[str | None] = mapped_column(String(500))  # excerpt of the receiver's answer


# Not tenant-scoped and not under RLS, like the outbox: the delivery loop must find due work of
# every tenant before it knows which tenant to act as. On PostgreSQL, RLS would hide every tenant
# row from a query without app.tenant_id. So the loop scans this small table, then handles each
# delivery inside tenant_context(tenant_id), where the scoping and RLS apply as usual. Nothing in
# it is served over the API; it holds ids and due times only.
delivery_queue = queue_table("delivery_queue", Base.metadata, "delivery_id", "webhook_deliveries")


def metadata() -> MetaData:
    """The service's full metadata: its records plus outbox, processed events, idempotency keys,
    the workflow tables and the timers of workflow delays and schedules."""
    from automation.workflows import models as _workflow_tables  # noqa: F401 - registers on Base.metadata
    from automation.workflows.tables import round_robin_table
    from crm_db.timers import timer_table

    timer_table(Base.metadata)
    round_robin_table(Base.metadata)
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    return Base.metadata
