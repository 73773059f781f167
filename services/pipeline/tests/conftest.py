from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import pipeline
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness, pg_harness
from pipeline.app import create_app
from pipeline.models import metadata


@pytest.fixture
def pipeline_service(tmp_path: Path) -> ServiceHarness:
    return make_harness("pipeline", create_app, metadata(), migrations_dir(pipeline.__file__), tmp_path)


@pytest.fixture
def pg_pipeline(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    """The pipeline service on its own throwaway PostgreSQL database (app role, RLS on)."""
    yield from pg_harness("pipeline", create_app, metadata(), migrations_dir(pipeline.__file__), tmp_path, pg_admin_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_pipeline(request: pytest.FixtureRequest) -> ServiceHarness:
    """The test runs on SQLite and on PostgreSQL (SQL that differs per dialect: dates, JSON, rounding)."""
    return request.getfixturevalue("pipeline_service" if request.param == "sqlite" else "pg_pipeline")


@pytest.fixture
def both_databases(any_pipeline: ServiceHarness) -> ServiceHarness:
    return any_pipeline
