"""Shared steps of the board and forecast tests: the service on SQLite or its own PostgreSQL database,
and direct writes of deal columns the API cannot set yet (amount_in_base, forecast_category, rots_at,
won_at, position, archived stages)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update

from crm_core import context
from crm_testing.apps import ServiceHarness
from pipeline.models import Deal, PipelineStage


def set_deal(svc: ServiceHarness, deal_id: str, tenant: str = "a", **values: Any) -> None:
    """Columns the deals API does not set yet, written straight to the row (as that tenant)."""
    with context.tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        session.execute(update(Deal).where(Deal.id == uuid.UUID(deal_id)).values(**values)
                        .execution_options(synchronize_session=False))


def archive_stage(svc: ServiceHarness, stage_id: str, tenant: str = "a") -> None:
    import datetime as dt

    with context.tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        session.execute(update(PipelineStage).where(PipelineStage.id == uuid.UUID(stage_id))
                        .values(archived_at=dt.datetime.now(dt.UTC)).execution_options(synchronize_session=False))


def get(svc: ServiceHarness, path: str, tenant: str = "a", status: int = 200, **params: Any) -> dict[str, Any]:
    resp = svc.client.get(path, query_string=params, headers=svc.headers(tenant))
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()
