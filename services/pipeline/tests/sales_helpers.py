"""Shared steps of the board and forecast tests: the service on SQLite or its own PostgreSQL database,
and direct writes of deal columns the API cannot set yet (amount_in_base, forecast_category, rots_at,
won_at, position, archived stages)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import update

import pipeline
from crm_core import context
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database, libpq_url
from pipeline.app import create_app
from pipeline.models import Deal, PipelineStage, metadata


def pg_harness(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    """The pipeline service on a throwaway PostgreSQL database (app role, RLS on)."""
    name = f"pipeline_{uuid.uuid4().hex[:10]}"
    owner_url, app_url = create_service_database(pg_admin_url, name)
    svc = make_harness("pipeline", create_app, metadata(), migrations_dir(pipeline.__file__), tmp_path,
                       database_url=app_url, owner_url=owner_url)
    yield svc
    svc.db.dispose()
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_pipeline(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    yield from pg_harness(pg_admin_url, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_pipeline(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceHarness]:
    """The service on both engines: the board and the forecast write dialect-specific SQL."""
    if request.param == "sqlite":
        yield make_harness("pipeline", create_app, metadata(), migrations_dir(pipeline.__file__), tmp_path)
    else:
        yield from pg_harness(request.getfixturevalue("pg_admin_url"), tmp_path)


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
