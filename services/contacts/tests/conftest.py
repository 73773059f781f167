from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import contacts
from contacts.app import create_app
from contacts.models import metadata
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database, libpq_url


@pytest.fixture
def contacts_service(tmp_path: Path) -> ServiceHarness:
    return make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path)


@pytest.fixture
def pg_contacts(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    """The contacts service on its own throwaway PostgreSQL database (app role, RLS on)."""
    name = f"contacts_{uuid.uuid4().hex[:10]}"
    owner_url, app_url = create_service_database(pg_admin_url, name)
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path,
                       database_url=app_url, owner_url=owner_url)
    yield svc
    svc.db.dispose()
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
