"""Projection tables: one fact row per record of another service, keyed by that record's id.

A row holds the record's latest state as of `event_time` (the time of the last event applied to
it), so handlers can refuse events older than what they already hold. A deleted record keeps
its row as a tombstone (`deleted`), so an update delivered after the delete cannot bring it
back. The facts never hold personal data: ids, statuses and amounts only.
"""

from __future__ import annotations

import datetime as dt
import decimal

from sqlalchemy import Boolean, DateTime, Index, MetaData, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_db.base import TenantScoped
from crm_events.tables import event_tables
from crm_http.idempotency import idempotency_table


class Base(DeclarativeBase):
    metadata = MetaData()


class Fact(TenantScoped):
    """Mixin: the columns every fact table shares. `id` is the source record's id."""

    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    event_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ContactFact(Fact, Base):
    __tablename__ = "contact_facts"


class DealFact(Fact, Base):
    __tablename__ = "deal_facts"
    __table_args__ = (Index("deal_facts_tenant_status_idx", "tenant_id", "status"),)

    # Nullable: a tombstone may be the first thing we learn about a record.
    status: Mapped[str | None] = mapped_column(String(20))
    amount: Mapped[decimal.Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))


class TicketFact(Fact, Base):
    __tablename__ = "ticket_facts"
    __table_args__ = (Index("ticket_facts_tenant_status_idx", "tenant_id", "status"),)

    status: Mapped[str | None] = mapped_column(String(20))


class CampaignFact(Fact, Base):
    __tablename__ = "campaign_facts"


def metadata() -> MetaData:
    """Projections plus the standard tables: processed_events dedupes consumption; the outbox
    stays (empty) because the shared runtime builds an Outbox from every service's metadata."""
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    return Base.metadata
