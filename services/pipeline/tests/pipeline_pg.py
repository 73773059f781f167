"""A pipeline service on its own PostgreSQL database, and a fixture running a test on both
databases (a unique module name: test dirs share sys.path). Import the *_fixture functions into a
test module to use the fixtures there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import pipeline
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database, libpq_url
from pipeline.app import create_app
from pipeline.models import metadata


@pytest.fixture(name="pg_pipeline")
def pg_pipeline_fixture(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    """The pipeline service on its own throwaway PostgreSQL database (app role, RLS on)."""
    name = f"pipeline_{uuid.uuid4().hex[:10]}"
    owner_url, app_url = create_service_database(pg_admin_url, name)
    svc = make_harness("pipeline", create_app, metadata(), migrations_dir(pipeline.__file__), tmp_path,
                       database_url=app_url, owner_url=owner_url)
    yield svc
    svc.db.dispose()
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(name="both_databases", params=["sqlite", "postgresql"])
def both_databases_fixture(request: pytest.FixtureRequest) -> ServiceHarness:
    """The test runs on SQLite and on PostgreSQL (SQL that differs per dialect: dates, JSON, rounding)."""
    return request.getfixturevalue("pipeline_service" if request.param == "sqlite" else "pg_pipeline")
