"""Pipeline tables. Every table is tenant-scoped: tenant_id leads keys, foreign keys and indexes.

One module per area; import a table from its module. This package re-exports the core tables
(pipelines, stages, deals, tasks) that most of the service uses.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from crm_events.tables import event_tables
from crm_http.idempotency import idempotency_table

# The area modules register their tables on Base.metadata when imported.
from pipeline.models import calendar, forecast, reminders, sales  # noqa: F401
from pipeline.models.base import Base
from pipeline.models.core import (
    FORECAST_CATEGORIES,
    KIND_CHECK,
    STAGE_KINDS,
    TASK_PRIORITIES,
    TASK_TYPES,
    Deal,
    DealCounter,
    Pipeline,
    PipelineStage,
    StageSpec,
    Task,
    TenantProvisioning,
)

__all__ = ["FORECAST_CATEGORIES", "KIND_CHECK", "STAGE_KINDS", "TASK_PRIORITIES", "TASK_TYPES", "Base", "Deal",
           "DealCounter", "Pipeline", "PipelineStage", "StageSpec", "Task", "TenantProvisioning", "metadata"]


def metadata() -> MetaData:
    """The service's full metadata: its records plus outbox, processed events and idempotency keys."""
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    return Base.metadata
