"""Each service's migrations build exactly the schema its models describe (on PostgreSQL).

A column, index or table that a model declares but no migration creates (or the other way round)
works in SQLite unit tests built from the models and fails in production: this catches it.
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from crm_db.migrate import upgrade
from crm_runtime.catalog import SERVICES
from crm_runtime.service import migrations_dir
from crm_testing.db import create_service_database

# PostgreSQL-only indexes (GIN, trigram, partial) that migrations create with raw SQL and the
# models leave out, so that SQLite unit-test databases built from the models still work.
MIGRATION_ONLY_INDEXES = {
    "contacts": {"companies_properties_gin", "companies_search_trgm", "companies_tags_gin", "contacts_company_ids_gin",
                 "contacts_emails_gin", "contacts_properties_gin", "contacts_search_trgm", "contacts_tags_gin",
                 "job_schedule_due_idx"},
    "tickets": {"kb_search_gin"},  # GIN (tenant_id, search_vector): PostgreSQL full-text search
}


def _relevant(service: str, diff: Any) -> bool:
    """Differences autogenerate reports that are not real drift."""
    kind = diff[0] if isinstance(diff, tuple) else diff[0][0]
    if kind == "remove_index" and diff[1].name in MIGRATION_ONLY_INDEXES.get(service, set()):
        return False
    # Server defaults are set by migrations for back-filling existing rows; models default in Python.
    return kind != "modify_default"


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_migrations_build_the_models_schema(pg_admin_url: str, service: str) -> None:
    package = importlib.import_module(service)
    models = importlib.import_module(f"{service}.models")
    owner_url, _app = create_service_database(pg_admin_url, f"drift_{service}_{uuid.uuid4().hex[:6]}")
    upgrade(migrations_dir(package.__file__), owner_url)
    engine = create_engine(owner_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = [d for d in compare_metadata(context, models.metadata()) if _relevant(service, d)]
    finally:
        engine.dispose()
    assert diffs == [], f"{service}: models and migrations differ:\n" + "\n".join(map(str, diffs))
