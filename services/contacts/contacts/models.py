"""Contacts tables. Every table is tenant-scoped: tenant_id leads keys and indexes."""

from __future__ import annotations

from sqlalchemy import Index, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_db.base import TenantScoped
from crm_events.tables import event_tables
from crm_http.idempotency import idempotency_table


class Base(DeclarativeBase):
    metadata = MetaData()


class Contact(TenantScoped, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email", name="contacts_tenant_email_key"),
        Index("contacts_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("contacts_tenant_last_name_idx", "tenant_id", "last_name", "id"),
    )

    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    company_name: Mapped[str | None] = mapped_column(String(200))


def metadata() -> MetaData:
    """The service's full metadata: its records plus outbox, processed events and idempotency keys."""
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    return Base.metadata
