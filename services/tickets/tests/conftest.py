from __future__ import annotations

from pathlib import Path

import pytest

import tickets
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from tickets.app import create_app
from tickets.models import metadata


@pytest.fixture
def tickets_service(tmp_path: Path) -> ServiceHarness:
    return make_harness("tickets", create_app, metadata(), migrations_dir(tickets.__file__), tmp_path)
