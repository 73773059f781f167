"""Pipeline tables. Every table is tenant-scoped: tenant_id leads keys, foreign keys and indexes."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    UniqueConstraint,
    Uuid,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from crm_db.base import TenantScoped, utcnow
from crm_events.tables import event_tables
from crm_http.idempotency import idempotency_table

STAGE_KINDS = ("open", "won", "lost")  # a deal's status is the kind of its stage
KIND_CHECK = "in ('open', 'won', 'lost')"


class Base(DeclarativeBase):
    metadata = MetaData()


@dataclass(frozen=True)
class StageSpec:
    """One stage of a validated stage list; `id` names an existing stage to keep."""

    name: str
    probability: int
    kind: str
    id: uuid.UUID | None = None


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
        before = [(s.id, s.name, s.position, s.probability, s.kind) for s in self.stages]
        rows = []
        for position, spec in enumerate(specs):
            row = current.get(spec.id) if spec.id else None
            row = row or PipelineStage()
            row.name, row.position, row.probability, row.kind = spec.name, position, spec.probability, spec.kind
            rows.append(row)
        self.stages = rows
        if inspect(self).persistent and [(s.id, s.name, s.position, s.probability, s.kind) for s in rows] != before:
            # Stages are part of the pipeline's representation: touching the row bumps its version,
            # so ETag and If-Match cover stage edits too.
            self.updated_at = utcnow()

    stage_plan = property(fset=_set_stage_plan)

    def first_stage(self, kind: str) -> PipelineStage | None:
        return next((s for s in self.stages if s.kind == kind), None)


class PipelineStage(TenantScoped, Base):
    __tablename__ = "pipeline_stages"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "pipeline_id"], ["pipelines.tenant_id", "pipelines.id"],
                             ondelete="CASCADE", name="pipeline_stages_pipeline_fkey"),
        # Target of the deals' (pipeline, stage) key: a deal's stage always belongs to its pipeline.
        UniqueConstraint("tenant_id", "pipeline_id", "id", name="pipeline_stages_tenant_pipeline_id_key"),
        CheckConstraint("probability between 0 and 100", name="pipeline_stages_probability_check"),
        CheckConstraint(f"kind {KIND_CHECK}", name="pipeline_stages_kind_check"),
    )

    pipeline_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    probability: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10), default="open")


class Deal(TenantScoped, Base):
    __tablename__ = "deals"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "pipeline_id", "stage_id"],
            ["pipeline_stages.tenant_id", "pipeline_stages.pipeline_id", "pipeline_stages.id"],
            name="deals_stage_fkey",
        ),
        CheckConstraint(f"status {KIND_CHECK}", name="deals_status_check"),
        Index("deals_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("deals_tenant_name_idx", "tenant_id", "name", "id"),
        Index("deals_tenant_close_date_idx", "tenant_id", "close_date", "id"),
        Index("deals_tenant_amount_idx", "tenant_id", "amount", "id"),
        Index("deals_tenant_pipeline_stage_idx", "tenant_id", "pipeline_id", "stage_id"),
        Index("deals_tenant_stage_idx", "tenant_id", "stage_id"),
        Index("deals_tenant_contact_idx", "tenant_id", "contact_id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[decimal.Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    pipeline_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    stage_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())  # lives in the contacts service
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    status: Mapped[str] = mapped_column(String(10), default="open")
    close_date: Mapped[dt.date | None] = mapped_column(Date)
    # A copy of the stage's probability, kept in step by the services, so lists and reports
    # read it without a join.
    probability: Mapped[int] = mapped_column(Integer, default=0)


class DealStageHistory(TenantScoped, Base):
    __tablename__ = "deal_stage_history"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "deal_id"], ["deals.tenant_id", "deals.id"], ondelete="CASCADE",
                             name="deal_stage_history_deal_fkey"),
        Index("deal_stage_history_tenant_deal_idx", "tenant_id", "deal_id", "changed_at", "id"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    # No foreign keys to stages: history outlives the stages it mentions.
    from_stage_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    to_stage_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid())


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
    )

    title: Mapped[str] = mapped_column(String(500))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TenantProvisioning(Base):
    """One row per tenant once its default pipeline was provisioned: provisioning happens exactly
    once, whichever comes first (the tenant.created event, the first list, the first deal), and a
    tenant who later deletes that pipeline does not get it back."""

    __tablename__ = "tenant_provisioning"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    provisioned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def metadata() -> MetaData:
    """The service's full metadata: its records plus outbox, processed events and idempotency keys."""
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    return Base.metadata
