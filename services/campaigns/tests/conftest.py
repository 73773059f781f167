from __future__ import annotations

from pathlib import Path

import pytest

import campaigns
from campaigns.app import create_app
from campaigns.models import metadata
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness


@pytest.fixture
def campaigns_service(tmp_path: Path) -> ServiceHarness:
    return make_harness("campaigns", create_app, metadata(), migrations_dir(campaigns.__file__), tmp_path)
