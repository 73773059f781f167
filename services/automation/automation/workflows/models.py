"""Workflow tables: definitions and their versions, runs and their steps, waits, and two
cross-tenant lookups (the run queue and the incoming-webhook secrets).

Versions, runs and steps hang off their workflow with composite foreign keys (tenant_id, id).
Deleting a workflow keeps nothing running: its runs and their history go with it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from automation.models import Base
from crm_db.base import JsonType, TenantScoped
from crm_db.fair_queue import queue_table

# Run statuses: running (queued or executing a step), waiting (a delay or wait_for_event),
# then one of completed, failed, cancelled.
RUNNING, WAITING, COMPLETED, FAILED, CANCELLED = "running", "waiting", "completed", "failed", "cancelled"
RUN_STATUSES = (RUNNING, WAITING, COMPLETED, FAILED, CANCELLED)
FINISHED = frozenset({COMPLETED, FAILED, CANCELLED})


class Workflow(TenantScoped, Base):
    __tablename__ = "workflows"
    __table_args__ = (
        Index("workflows_tenant_created_idx", "tenant_id", "created_at", "id"),
        # The trigger consumer's lookup: the enabled workflows an event type starts.
        Index("workflows_tenant_trigger_idx", "tenant_id", "trigger_event", "enabled"),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger_type: Mapped[str] = mapped_column(String(20))
    trigger_event: Mapped[str | None] = mapped_column(String(100))  # event triggers, and waits' types
    version_number: Mapped[int] = mapped_column(Integer, default=1)  # the current definition's
    definition: Mapped[dict[str, Any]] = mapped_column(JsonType)  # {"trigger": ..., "steps": [...]}
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    # sha256 of the incoming-webhook secret (webhook triggers); the secret is shown in the create answer.
    hook_secret_hash: Mapped[str | None] = mapped_column(String(64))
    hook_signing_secret: Mapped[str | None] = mapped_column(String(100))  # kept: verifying needs it


class WorkflowVersion(TenantScoped, Base):
    """Append-only: every saved change of trigger or steps; runs point at theirs."""

    __tablename__ = "workflow_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "workflow_id", "number", name="workflow_versions_tenant_workflow_number_key"),
        ForeignKeyConstraint(["tenant_id", "workflow_id"], ["workflows.tenant_id", "workflows.id"],
                             ondelete="CASCADE", name="workflow_versions_workflow_fkey"),
    )

    workflow_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid())


class WorkflowRun(TenantScoped, Base):
    __tablename__ = "workflow_runs"
    __table_args__ = (
        # One run per workflow and cause (an event id, a schedule time and record, a webhook
        # delivery, an idempotency key): a redelivered event starts nothing twice.
        UniqueConstraint("tenant_id", "workflow_id", "trigger_key", name="workflow_runs_tenant_workflow_trigger_key"),
        Index("workflow_runs_tenant_workflow_created_idx", "tenant_id", "workflow_id", "created_at", "id"),
        Index("workflow_runs_tenant_created_idx", "tenant_id", "created_at"),  # runs per minute
        Index("workflow_runs_tenant_record_idx", "tenant_id", "record_id", "status"),  # stop_workflow
        ForeignKeyConstraint(["tenant_id", "workflow_id"], ["workflows.tenant_id", "workflows.id"],
                             ondelete="CASCADE", name="workflow_runs_workflow_fkey"),
    )

    workflow_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    workflow_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=RUNNING)
    trigger_key: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[dict[str, Any]] = mapped_column(JsonType)  # the event / webhook body / manual start
    record_type: Mapped[str | None] = mapped_column(String(20))
    record_id: Mapped[str | None] = mapped_column(String(100))
    # The record as templates see it: read when the run starts and again after each delay or wait,
    # kept so that every attempt of a step renders the same request (its idempotency key holds).
    record: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    record_stale: Mapped[bool] = mapped_column(Boolean, default=True)
    causation: Mapped[list[Any]] = mapped_column(JsonType)  # run ids, oldest first, ending with this one
    current_step: Mapped[str | None] = mapped_column(String(100))
    step_count: Mapped[int] = mapped_column(Integer, default=0)
    wait_token: Mapped[int] = mapped_column(Integer, default=0)  # a timer or wait fires only for the wait it was made for
    waiting_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(String(2000))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    started_by: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    event_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # the cause's time: latency metric


class WorkflowRunStep(TenantScoped, Base):
    """One step of one run; a retried step keeps its row and counts attempts."""

    __tablename__ = "workflow_run_steps"
    __table_args__ = (
        UniqueConstraint("tenant_id", "run_id", "step_id", name="workflow_run_steps_tenant_run_step_key"),
        ForeignKeyConstraint(["tenant_id", "run_id"], ["workflow_runs.tenant_id", "workflow_runs.id"],
                             ondelete="CASCADE", name="workflow_run_steps_run_fkey"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    step_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(40))
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # running, retrying, waiting, succeeded, failed, cancelled
    input: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    output: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    error: Mapped[str | None] = mapped_column(String(2000))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Part of the step's idempotency key after the first: a step that failed for good (the
    # service refused it: nothing was done) gets a fresh key when the run is retried, so the
    # service does not replay its stored refusal. A step that failed without an answer keeps its
    # key: it may have been done, and the retry must not do it twice.
    key_generation: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WorkflowWait(TenantScoped, Base):
    """A run waiting for an event about a record (wait_for_event); gone once it fires or times out."""

    __tablename__ = "workflow_waits"
    __table_args__ = (
        Index("workflow_waits_tenant_record_event_idx", "tenant_id", "record_id", "event_type"),
        ForeignKeyConstraint(["tenant_id", "run_id"], ["workflow_runs.tenant_id", "workflow_runs.id"],
                             ondelete="CASCADE", name="workflow_waits_run_fkey"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    record_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(100))
    condition: Mapped[str | None] = mapped_column(Text)
    wait_token: Mapped[int] = mapped_column(Integer)


# Not under RLS, like delivery_queue (models.py): the run loop finds runnable runs of every tenant
# before it knows the tenant, then works on each inside tenant_context. Ids and due times only.
run_queue = queue_table("workflow_run_queue", Base.metadata, "run_id", "workflow_runs")

# Not under RLS: an incoming webhook names only its secret, and the tenant comes from this lookup
# (like mail's inbound secrets). Holds a hash, never the secret.
hook_secrets = Table(
    "workflow_hook_secrets", Base.metadata,
    Column("secret_hash", String(64), primary_key=True),
    Column("tenant_id", Uuid(), nullable=False),
    Column("workflow_id", Uuid(), nullable=False),
    ForeignKeyConstraint(["tenant_id", "workflow_id"], ["workflows.tenant_id", "workflows.id"],
                         ondelete="CASCADE", name="workflow_hook_secrets_workflow_fkey"),
)
