from __future__ import annotations

from pathlib import Path

import pytest
from sales_helpers import any_pipeline, pg_pipeline  # noqa: F401  (board and forecast tests: both engines)

import pipeline
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from pipeline.app import create_app
from pipeline.models import metadata


@pytest.fixture
def pipeline_service(tmp_path: Path) -> ServiceHarness:
    return make_harness("pipeline", create_app, metadata(), migrations_dir(pipeline.__file__), tmp_path)
