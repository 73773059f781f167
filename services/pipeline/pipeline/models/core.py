"""The pipeline service's core tables: pipelines and their stages, deals, tasks (the deals' change log is
models.sales.DealChange)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
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
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_db.base import JsonType, TenantScoped, utcnow
from pipeline.models.base import Base

if TYPE_CHECKING:
    from pipeline.models.sales import DealContact

STAGE_KINDS = ("open", "won", "lost")  # a deal's status is the kind of its stage
KIND_CHECK = "in ('open', 'won', 'lost')"
FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "closed", "omitted")
FORECAST_CHECK = "in ('pipeline', 'best_case', 'commit', 'closed', 'omitted')"
TASK_TYPES = ("call", "email", "meeting", "todo", "deadline")
TASK_PRIORITIES = ("low", "normal", "high")


@dataclass(frozen=True)
class StageSpec:
    """One stage of a validated stage list; `id` names an existing stage to keep."""

    name: str
    probability: int
    kind: str
    id: uuid.UUID | None = None
    rotten_days: int | None = None
    forecast_category: str | None = None  # None: from kind and probability (default_forecast_category)
    archived_at: dt.datetime | None = None


def default_forecast_category(kind: str, probability: int) -> str:
    """A stage's category unless it names one: closed stages are closed, the likeliest open ones commit / best case."""
    if kind != "open":
        return "closed"
    return "commit" if probability >= 75 else "best_case" if probability >= 50 else "pipeline"


class Pipeline(TenantScoped, Base):
    __tablename__ = "pipelines"
    __table_args__ = (
        Index("pipelines_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("pipelines_tenant_name_idx", "tenant_id", "name", "id"),
        # One default per tenant: two racing provisioning consumers cannot both create one.
        Index("pipelines_tenant_default_key", "tenant_id", unique=True,
              sqlite_where=text("is_default"), postgresql_where=text("is_default")),
    )

    name: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    stages: Mapped[list[PipelineStage]] = relationship(
        order_by="PipelineStage.position", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin",
    )

    def _set_stage_plan(self, specs: list[StageSpec]) -> None:
        """Replace the stage list: stages named by id are kept and edited, others are new, the rest deleted.

        A setter rather than a method because RecordService applies values with setattr after taking
        its before-snapshot; that way `stages` shows up in the update event's changes.
        """
        current = {s.id: s for s in self.stages}

        def state(stages: list[PipelineStage]) -> list[tuple[Any, ...]]:
            return [(s.id, s.name, s.position, s.probability, s.kind, s.rotten_days, s.forecast_category, s.archived_at)
                    for s in stages]

        before = state(self.stages)
        rows = []
        for position, spec in enumerate(specs):
            row = current.get(spec.id) if spec.id else None
            row = row or PipelineStage()
            row.name, row.position, row.probability, row.kind = spec.name, position, spec.probability, spec.kind
            row.rotten_days, row.archived_at = spec.rotten_days, spec.archived_at
            row.forecast_category = spec.forecast_category or default_forecast_category(spec.kind, spec.probability)
            rows.append(row)
        self.stages = rows
        if inspect(self).persistent and state(rows) != before:
            # Stages are part of the pipeline's representation: touching the row bumps its version,
            # so ETag and If-Match cover stage edits too.
            self.updated_at = utcnow()

    stage_plan = property(fset=_set_stage_plan)

    def first_stage(self, kind: str) -> PipelineStage | None:
        return next((s for s in self.stages if s.kind == kind and s.archived_at is None), None)


class PipelineStage(TenantScoped, Base):
    __tablename__ = "pipeline_stages"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "pipeline_id"], ["pipelines.tenant_id", "pipelines.id"],
                             ondelete="CASCADE", name="pipeline_stages_pipeline_fkey"),
        # Target of the deals' (pipeline, stage) key: a deal's stage always belongs to its pipeline.
        UniqueConstraint("tenant_id", "pipeline_id", "id", name="pipeline_stages_tenant_pipeline_id_key"),
        CheckConstraint("probability between 0 and 100", name="pipeline_stages_probability_check"),
        CheckConstraint(f"kind {KIND_CHECK}", name="pipeline_stages_kind_check"),
        CheckConstraint(f"forecast_category {FORECAST_CHECK}", name="pipeline_stages_forecast_category_check"),
        CheckConstraint("rotten_days is null or rotten_days > 0", name="pipeline_stages_rotten_days_check"),
    )

    pipeline_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    probability: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10), default="open")
    # A deal with no activity for this many days in the stage is rotten; none: never.
    rotten_days: Mapped[int | None] = mapped_column(Integer)
    # The forecast category a deal in this stage gets unless it sets its own.
    forecast_category: Mapped[str] = mapped_column(String(16), default="pipeline")
    # An archived stage takes no new deals and is left off the board; its deals stay where they are.
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Deal(TenantScoped, Base):
    __tablename__ = "deals"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "pipeline_id", "stage_id"],
            ["pipeline_stages.tenant_id", "pipeline_stages.pipeline_id", "pipeline_stages.id"],
            name="deals_stage_fkey",
        ),
        CheckConstraint(f"status {KIND_CHECK}", name="deals_status_check"),
        CheckConstraint(f"forecast_category {FORECAST_CHECK}", name="deals_forecast_category_check"),
        CheckConstraint("probability between 0 and 100", name="deals_probability_check"),
        UniqueConstraint("tenant_id", "number", name="deals_tenant_number_key"),
        Index("deals_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("deals_tenant_name_idx", "tenant_id", "name", "id"),
        Index("deals_tenant_expected_close_date_idx", "tenant_id", "expected_close_date", "id"),
        Index("deals_tenant_amount_idx", "tenant_id", "amount", "id"),
        Index("deals_tenant_pipeline_stage_idx", "tenant_id", "pipeline_id", "stage_id"),
        Index("deals_tenant_stage_idx", "tenant_id", "stage_id"),
        Index("deals_tenant_contact_idx", "tenant_id", "contact_id"),
        Index("deals_tenant_company_idx", "tenant_id", "company_id"),
        Index("deals_tenant_owner_idx", "tenant_id", "owner_id"),
        # A stage's cards in board order.
        Index("deals_tenant_stage_position_idx", "tenant_id", "stage_id", "position", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[decimal.Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    pipeline_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    stage_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())  # lives in the contacts service
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    status: Mapped[str] = mapped_column(String(10), default="open")
    expected_close_date: Mapped[dt.date | None] = mapped_column(Date)
    # The stage's probability, kept in step by the services (lists and reports read it without a
    # join), unless the deal set its own (probability_is_manual).
    probability: Mapped[int] = mapped_column(Integer, default=0)
    probability_is_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    # The stage's default category unless the deal set its own; won and lost deals are "closed".
    forecast_category: Mapped[str] = mapped_column(String(16), default="pipeline")
    forecast_category_is_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    # The tenant-visible deal number (per tenant, from 1): "+deal-<number>" in a log address.
    number: Mapped[int] = mapped_column(BigInteger)
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())  # lives in the contacts service
    lost_reason: Mapped[str | None] = mapped_column(String(200))
    lost_note: Mapped[str | None] = mapped_column(Text)
    won_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    lost_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # amount converted to the tenant's base currency at its exchange rates when last written.
    amount_in_base: Mapped[decimal.Decimal | None] = mapped_column(Numeric(18, 2))
    has_line_items: Mapped[bool] = mapped_column(Boolean, default=False)  # then amount is their sum
    next_activity_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    stage_entered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # When the deal turns rotten: the later of its last activity and entering its stage, plus the
    # stage's rotten_days; none for a closed deal or a stage without rotten_days. Stored, so
    # `rotten` filters and board flags are an index-friendly comparison with now.
    rots_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Order of the cards within a stage (ascending); a new deal goes to the end.
    position: Mapped[float] = mapped_column(Float, default=0.0)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # custom fields
    # The deal's contacts with their roles (models.sales.DealContact); contact_id is the first.
    contacts: Mapped[list[DealContact]] = relationship(
        order_by="DealContact.position", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")


class Task(TenantScoped, Base):
    __tablename__ = "tasks"
    __table_args__ = (
        # No cascade: deleting a deal unlinks or deletes its tasks through the task use cases (with events).
        ForeignKeyConstraint(["tenant_id", "deal_id"], ["deals.tenant_id", "deals.id"], name="tasks_deal_fkey"),
        Index("tasks_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("tasks_tenant_due_at_idx", "tenant_id", "due_at", "id"),
        Index("tasks_tenant_title_idx", "tenant_id", "title", "id"),
        Index("tasks_tenant_deal_idx", "tenant_id", "deal_id"),
        Index("tasks_tenant_contact_idx", "tenant_id", "contact_id"),
        Index("tasks_tenant_company_idx", "tenant_id", "company_id"),
        Index("tasks_tenant_ticket_idx", "tenant_id", "ticket_id"),
        # The agenda: a user's open tasks by due time.
        Index("tasks_tenant_assignee_open_idx", "tenant_id", "assignee_id", "done", "due_at", "id"),
    )

    type: Mapped[str] = mapped_column(String(16), default="todo")
    title: Mapped[str] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    # Either a moment (due_at) or an all-day due_date; for an all-day task due_at holds the start
    # of that day in time_zone (the assignee's when it was set), so ordering and reminders use one column.
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # RFC 5545 RRULE ("FREQ=WEEKLY;BYDAY=MO"): completing this occurrence creates the next one,
    # which shares series_id (the first occurrence's id).
    recurrence: Mapped[str | None] = mapped_column(String(500))
    series_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    # [{"minutes_before": 15, "channels": ["in_app", "email"]}]; each is a timer row while pending.
    reminders: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    snoozed_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DealCounter(Base):
    """The last deal number handed out in a tenant (numbers are per tenant, from 1, never reused)."""

    __tablename__ = "deal_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class TenantProvisioning(Base):
    """One row per tenant once its default pipeline was provisioned: provisioning happens exactly
    once, whichever comes first (the tenant.created event, the first list, the first deal), and a
    tenant who later deletes that pipeline does not get it back."""

    __tablename__ = "tenant_provisioning"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    provisioned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
