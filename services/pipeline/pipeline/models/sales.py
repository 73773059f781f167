"""Sales tables: products and deal line items, deal contacts with roles, exchange rates, the
tenant's pipeline settings (lost reasons, base currency), deal custom-field definitions, and the
deals' change log."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_db.base import JsonType, TenantScoped, utcnow
from pipeline.models.base import Base

CONTACT_ROLES = ("decision_maker", "champion", "influencer", "user", "other")
# The deal fields whose every change the change log keeps (besides stage_id).
LOGGED_FIELDS = ("amount", "expected_close_date", "owner_id", "probability", "forecast_category", "status")
DEFAULT_LOST_REASONS = ("Price", "Lost to a competitor", "No budget", "No decision", "Timing", "Product fit", "Other")
DEFAULT_BASE_CURRENCY = "EUR"
DEFAULT_FOLLOW_UP_DAYS = 30


def _deal_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id", "deal_id"], ["deals.tenant_id", "deals.id"], ondelete="CASCADE",
                                name=f"{table}_deal_fkey")


class DealContact(TenantScoped, Base):
    """A contact on a deal with its role; the first (lowest position) is the deal's contact_id."""

    __tablename__ = "deal_contacts"
    __table_args__ = (
        _deal_fk("deal_contacts"),
        UniqueConstraint("tenant_id", "deal_id", "contact_id", name="deal_contacts_deal_contact_key"),
        Index("deal_contacts_tenant_contact_idx", "tenant_id", "contact_id"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid())  # lives in the contacts service
    role: Mapped[str] = mapped_column(String(32), default="other")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Product(TenantScoped, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sku", name="products_tenant_sku_key"),  # NULLs are distinct: sku is optional
        Index("products_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("products_tenant_name_idx", "tenant_id", "name", "id"),
        CheckConstraint("tax_percent between 0 and 100", name="products_tax_percent_check"),
    )

    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str | None] = mapped_column(String(100))
    unit_price: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    tax_percent: Mapped[decimal.Decimal] = mapped_column(Numeric(5, 2), default=decimal.Decimal(0))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text)


class LineItem(TenantScoped, Base):
    """A product (or free text) on a deal. net and tax are stored, computed on write, so the deal's
    amount is a SUM and reports read them without recomputing."""

    __tablename__ = "deal_line_items"
    __table_args__ = (
        _deal_fk("deal_line_items"),
        Index("deal_line_items_tenant_deal_idx", "tenant_id", "deal_id", "position", "id"),
        CheckConstraint("discount_percent between 0 and 100", name="deal_line_items_discount_percent_check"),
        CheckConstraint("tax_percent between 0 and 100", name="deal_line_items_tax_percent_check"),
        CheckConstraint("quantity > 0", name="deal_line_items_quantity_check"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    # No foreign key: a line item keeps its own name and price when its product goes.
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 4))
    unit_price: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    discount_percent: Mapped[decimal.Decimal] = mapped_column(Numeric(5, 2), default=decimal.Decimal(0))
    tax_percent: Mapped[decimal.Decimal] = mapped_column(Numeric(5, 2), default=decimal.Decimal(0))
    net_amount: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 2))  # quantity x unit price - discount
    tax_amount: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 2))  # net x tax percent
    position: Mapped[float] = mapped_column(Float, default=0.0)


class ExchangeRate(TenantScoped, Base):
    """How many units of the tenant's base currency one unit of `currency` is worth."""

    __tablename__ = "exchange_rates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "currency", name="exchange_rates_tenant_currency_key"),
        Index("exchange_rates_tenant_created_idx", "tenant_id", "created_at", "id"),
        CheckConstraint("rate > 0", name="exchange_rates_rate_check"),
    )

    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[decimal.Decimal] = mapped_column(Numeric(24, 10))


class PipelineSettings(TenantScoped, Base):
    """One row per tenant, written on its first PATCH; until then the defaults apply."""

    __tablename__ = "pipeline_settings"
    __table_args__ = (UniqueConstraint("tenant_id", name="pipeline_settings_tenant_key"),)

    base_currency: Mapped[str] = mapped_column(String(3), default=DEFAULT_BASE_CURRENCY)
    lost_reasons: Mapped[list[str]] = mapped_column(JsonType, default=lambda: list(DEFAULT_LOST_REASONS))
    # Whether losing a deal needs one of lost_reasons (a given one must still be one of them).
    lost_reason_required: Mapped[bool] = mapped_column(Boolean, default=True)
    # Contacts nobody talked to for longer than this show up in /v1/follow-ups.
    follow_up_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_FOLLOW_UP_DAYS)


class DealPropertyDefinition(TenantScoped, Base):
    """A custom field of deals (crm_properties types); its values live under the deal's `properties`."""

    __tablename__ = "deal_property_definitions"
    __table_args__ = (UniqueConstraint("tenant_id", "key", name="deal_property_definitions_key"),)

    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    options: Mapped[list[str] | None] = mapped_column(JsonType)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def object(self) -> str:
        return "deal"


class DealChange(TenantScoped, Base):
    """The deals' immutable change log: one row per stage change (field "stage_id", with from/to
    stage) and per change of a LOGGED_FIELDS field (old and new value as shown by the API).

    Rows are only ever inserted: when a stage was left (exited_at, duration) is read from the
    next stage change at read time. Reporting computes cycle length, conversion and time in
    stage from these rows (or from the events published with them)."""

    __tablename__ = "deal_changes"
    __table_args__ = (
        _deal_fk("deal_changes"),
        Index("deal_changes_tenant_deal_idx", "tenant_id", "deal_id", "changed_at", "id"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[Any] = mapped_column(JsonType, nullable=True)
    new_value: Mapped[Any] = mapped_column(JsonType, nullable=True)
    # No foreign keys to stages: history outlives the stages it mentions.
    from_stage_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    to_stage_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid())
