"""Forecast tables: sales targets (quota per owner and period) and weekly forecast snapshots."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_db.base import TenantScoped
from pipeline.models.base import Base

PERIODS = ("month", "quarter")
PERIOD_CHECK = "in ('month', 'quarter')"


class SalesTarget(TenantScoped, Base):
    """An owner's quota for one month or quarter, in the tenant's base currency."""

    __tablename__ = "sales_targets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "owner_id", "period", "period_start", name="sales_targets_owner_period_key"),
        CheckConstraint(f"period {PERIOD_CHECK}", name="sales_targets_period_check"),
        CheckConstraint("amount >= 0", name="sales_targets_amount_check"),
        Index("sales_targets_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("sales_targets_tenant_period_idx", "tenant_id", "period", "period_start"),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    period: Mapped[str] = mapped_column(String(8))
    # The first day of the month or quarter.
    period_start: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 2))


class ForecastSnapshot(TenantScoped, Base):
    """One forecast snapshot of a tenant: at most one per week (week_start, a Monday)."""

    __tablename__ = "forecast_snapshots"
    __table_args__ = (
        UniqueConstraint("tenant_id", "week_start", name="forecast_snapshots_tenant_week_key"),
    )

    week_start: Mapped[dt.date] = mapped_column(Date)
    taken_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The months covered: open deals expected to close in [horizon_start, horizon_end).
    horizon_start: Mapped[dt.date] = mapped_column(Date)
    horizon_end: Mapped[dt.date] = mapped_column(Date)
    deal_count: Mapped[int] = mapped_column(Integer, default=0)


class ForecastSnapshotDeal(Base):
    """A deal as a snapshot saw it. Immutable rows written in bulk (INSERT ... SELECT from deals),
    keyed naturally by (tenant, snapshot, deal): no id, version or timestamps of their own, which
    TenantScoped would add to tens of thousands of rows a week for a big tenant. RLS as usual."""

    __tablename__ = "forecast_snapshot_deals"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "snapshot_id"], ["forecast_snapshots.tenant_id", "forecast_snapshots.id"],
                             ondelete="CASCADE", name="forecast_snapshot_deals_snapshot_fkey"),
        # No foreign key to deals: a snapshot outlives the deals it saw (a deleted deal slipped).
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    snapshot_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    # The first day of the month of expected_close_date (quarters are derived from it).
    period_start: Mapped[dt.date] = mapped_column(Date)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    pipeline_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    forecast_category: Mapped[str] = mapped_column(String(16))
    amount_in_base: Mapped[decimal.Decimal | None] = mapped_column(Numeric(18, 2))
    probability: Mapped[int] = mapped_column(Integer)
    expected_close_date: Mapped[dt.date] = mapped_column(Date)


class ForecastSchedule(Base):
    """When each tenant's next weekly snapshot is due. No RLS (like contacts' job_schedule): the
    worker finds due tenants before it knows which tenant to act as; tenant ids and times only.
    A tenant enters it with its first deal (a trigger on deals, migration 0005)."""

    __tablename__ = "forecast_schedule"
    __table_args__ = (Index("forecast_schedule_due_idx", "due_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


def _deal_indexes() -> None:
    """Indexes on deals that the board and the forecast read (created by migration 0005), declared
    here beside their readers rather than in core.py. Covering on PostgreSQL (index-only scans)."""
    from pipeline.models.core import Deal

    Index("deals_board_totals_idx", Deal.tenant_id, Deal.pipeline_id, Deal.stage_id,
          postgresql_include=["currency", "amount", "amount_in_base", "probability"])
    Index("deals_forecast_open_idx", Deal.tenant_id, Deal.expected_close_date,
          postgresql_include=["forecast_category", "owner_id", "pipeline_id", "amount_in_base", "probability"],
          postgresql_where=Deal.status == "open", sqlite_where=Deal.status == "open")
    Index("deals_forecast_won_idx", Deal.tenant_id, Deal.won_at,
          postgresql_include=["owner_id", "pipeline_id", "amount_in_base", "expected_close_date"],
          postgresql_where=Deal.status == "won", sqlite_where=Deal.status == "won")


_deal_indexes()


class DealBoardTotals(Base):
    """Per (pipeline, stage, currency): the count and sums the unfiltered board shows, kept by a
    trigger on deals (PostgreSQL, migration 0005) in the same transaction as each deal write, so the
    board reads a few rows instead of aggregating every deal. A filtered board aggregates deals.
    currency '' stands for deals without one (a key column cannot be null). RLS as usual."""

    __tablename__ = "deal_board_totals"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    stage_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    deal_count: Mapped[int] = mapped_column(BigInteger, default=0)
    amount: Mapped[decimal.Decimal] = mapped_column(Numeric(24, 2), default=0)
    amount_weighted: Mapped[decimal.Decimal] = mapped_column(Numeric(26, 2), default=0)  # Σ amount × probability
    base: Mapped[decimal.Decimal] = mapped_column(Numeric(24, 2), default=0)
    base_weighted: Mapped[decimal.Decimal] = mapped_column(Numeric(26, 2), default=0)


NO_OWNER = uuid.UUID(int=0)  # deal_forecast_totals.owner_key of deals without an owner


class DealForecastTotals(Base):
    """The unfiltered forecast's sums per (won or open, month number, owner, pipeline, category),
    kept by a trigger on deals (PostgreSQL, migration 0005) like DealBoardTotals. Open deals count
    in the month of expected_close_date, won ones in that of won_at (UTC; else their close date);
    lost deals and open ones without a close date nowhere. A filtered forecast aggregates deals."""

    __tablename__ = "deal_forecast_totals"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(4), primary_key=True)  # open | won
    month: Mapped[int] = mapped_column(Integer, primary_key=True)  # year × 12 + month − 1
    owner_key: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)  # NO_OWNER for none
    pipeline_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    forecast_category: Mapped[str] = mapped_column(String(16), primary_key=True)
    deal_count: Mapped[int] = mapped_column(BigInteger, default=0)
    base: Mapped[decimal.Decimal] = mapped_column(Numeric(24, 2), default=0)
    base_weighted: Mapped[decimal.Decimal] = mapped_column(Numeric(26, 2), default=0)  # Σ base × probability
