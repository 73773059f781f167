"""Campaigns tables. Every table is tenant-scoped: tenant_id leads keys and indexes."""

from __future__ import annotations

from sqlalchemy import Index, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_db.base import TenantScoped
from crm_events.tables import event_tables
from crm_http.idempotency import idempotency_table

# Sending (scheduled, sending, sent, ...) arrives with the delivery pipeline; the column is
# already a free string so those states need no migration.
STATUSES = ("draft",)


class Base(DeclarativeBase):
    metadata = MetaData()


class Campaign(TenantScoped, Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("campaigns_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("campaigns_tenant_name_idx", "tenant_id", "name", "id"),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft")
    from_name: Mapped[str | None] = mapped_column(String(200))
    from_email: Mapped[str | None] = mapped_column(String(320))


def metadata() -> MetaData:
    """The service's full metadata: its records plus outbox, processed events and idempotency keys."""
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    return Base.metadata
