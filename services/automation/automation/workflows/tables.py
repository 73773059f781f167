"""Automation's tables for workflow actions (the engine's own tables live beside it).

workflow_round_robin: where each assign_owner step with `method: round_robin` is in its list of
users: the user it gave the last record to, and the idempotency key of that step run, so a
retry of the same step run picks the same user again instead of moving on.
"""

from __future__ import annotations

import functools

from sqlalchemy import Column, DateTime, MetaData, String, Table, Uuid

from crm_db.base import utcnow


@functools.cache
def round_robin_table(metadata: MetaData) -> Table:
    """Tenant-owned (tenant_id leads the key; RLS in the migration), one row per workflow step."""
    return Table(
        "workflow_round_robin", metadata,
        Column("tenant_id", Uuid(), primary_key=True),
        Column("workflow_id", Uuid(), primary_key=True),
        Column("step_id", String(64), primary_key=True),
        Column("last_user_id", Uuid(), nullable=False),
        Column("last_key", String(200), nullable=False),  # StepContext.idempotency_key of that assignment
        Column("updated_at", DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow),
    )
