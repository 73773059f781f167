from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import contacts
from contacts.app import create_app
from contacts.models import metadata
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness, pg_harness


@pytest.fixture
def contacts_service(tmp_path: Path) -> ServiceHarness:
    return make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path)


@pytest.fixture
def pg_contacts(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    """The contacts service on its own throwaway PostgreSQL database (app role, RLS on)."""
    yield from pg_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path, pg_admin_url)
