from __future__ import annotations

from pathlib import Path

import pytest

import reporting
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from reporting.app import create_app
from reporting.models import metadata


@pytest.fixture
def reporting_service(tmp_path: Path) -> ServiceHarness:
    return make_harness("reporting", create_app, metadata(), migrations_dir(reporting.__file__), tmp_path)
