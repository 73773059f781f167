"""Tickets tables. Every table is tenant-scoped: tenant_id leads keys and indexes."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, Index, MetaData, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from crm_db.base import TenantScoped
from crm_events.tables import event_tables
from crm_http.idempotency import idempotency_table

# Order matters: it is the sort order (stored as a rank). Reordering or inserting needs a
# migration that recomputes status_rank / priority_rank.
STATUSES = ("new", "open", "pending", "resolved", "closed")
DONE_STATUSES = frozenset({"resolved", "closed"})  # a ticket in these carries resolved_at
PRIORITIES = ("low", "normal", "high", "urgent")
DEFAULT_STATUS, DEFAULT_PRIORITY = "new", "normal"


class Base(DeclarativeBase):
    metadata = MetaData()


class Ticket(TenantScoped, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("tickets_tenant_created_idx", "tenant_id", "created_at", "id"),
        # One index per list filter / sort key; each ends in id for keyset pagination. Status and
        # priority are filtered and sorted through their ranks, so one index serves both.
        Index("tickets_tenant_status_idx", "tenant_id", "status_rank", "id"),
        Index("tickets_tenant_priority_idx", "tenant_id", "priority_rank", "id"),
        Index("tickets_tenant_subject_idx", "tenant_id", "subject", "id"),
        Index("tickets_tenant_assignee_idx", "tenant_id", "assignee_id", "id"),
        Index("tickets_tenant_contact_idx", "tenant_id", "contact_id", "id"),
    )

    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=DEFAULT_STATUS)
    priority: Mapped[str] = mapped_column(String(20), nullable=False, default=DEFAULT_PRIORITY)
    # Ids in other services' databases: no foreign keys across service boundaries.
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Sorting by priority means by urgency (low < normal < high < urgent) and by status means
    # workflow order, not alphabetical; the ranks follow their labels through @validates.
    status_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=STATUSES.index(DEFAULT_STATUS))
    priority_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=PRIORITIES.index(DEFAULT_PRIORITY))

    @validates("status")
    def _rank_status(self, _key: str, value: str) -> str:
        self.status_rank = STATUSES.index(value)
        return value

    @validates("priority")
    def _rank_priority(self, _key: str, value: str) -> str:
        self.priority_rank = PRIORITIES.index(value)
        return value


def metadata() -> MetaData:
    """The service's full metadata: its records plus outbox, processed events and idempotency keys."""
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    return Base.metadata
