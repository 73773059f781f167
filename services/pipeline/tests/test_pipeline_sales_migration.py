"""Migration 0004 on PostgreSQL: the stage history becomes the change log (rows copied, old table
gone), a deal's contact becomes its first deal contact, the log refuses updates, and it downgrades."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import pipeline
from crm_db.migrate import upgrade
from crm_runtime.service import migrations_dir
from crm_testing.db import create_service_database, libpq_url

TENANT, PIPELINE, LEAD, DEMO, DEAL, CONTACT = (uuid.uuid4() for _ in range(6))
FIRST, SECOND = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def owner_url(pg_admin_url: str, tmp_path: Path) -> Iterator[str]:
    name = f"pipeline_mig_{uuid.uuid4().hex[:10]}"
    owner, _app = create_service_database(pg_admin_url, name)
    yield owner
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _connect(url: str) -> psycopg.Connection:
    conn = psycopg.connect(libpq_url(url), autocommit=True)
    conn.execute("select set_config('app.tenant_id', %s, false)", (str(TENANT),))  # RLS is forced, even for the owner
    return conn


def test_stage_history_becomes_the_change_log(owner_url: str) -> None:
    versions = migrations_dir(pipeline.__file__)
    upgrade(versions, owner_url, "0003")
    stamps = "now(), now(), 1"
    with _connect(owner_url) as conn:
        conn.execute(f"insert into pipelines (tenant_id, id, name, is_default, created_at, updated_at, version) "
                     f"values (%s, %s, 'Sales', true, {stamps})", (TENANT, PIPELINE))
        for stage_id, name, position in ((LEAD, "Lead", 0), (DEMO, "Demo", 1)):
            conn.execute(f"insert into pipeline_stages (tenant_id, id, pipeline_id, name, position, probability, kind, "
                         f"created_at, updated_at, version) values (%s, %s, %s, %s, %s, 10, 'open', {stamps})",
                         (TENANT, stage_id, PIPELINE, name, position))
        conn.execute(f"insert into deals (tenant_id, id, name, pipeline_id, stage_id, contact_id, status, probability, number, "
                     f"stage_entered_at, created_at, updated_at, version) values "
                     f"(%s, %s, 'Old deal', %s, %s, %s, 'open', 10, 1, now(), {stamps})", (TENANT, DEAL, PIPELINE, DEMO, CONTACT))
        for row_id, source, target, at in ((FIRST, None, LEAD, "2026-01-01T00:00:00Z"), (SECOND, LEAD, DEMO, "2026-01-03T00:00:00Z")):
            conn.execute(f"insert into deal_stage_history (tenant_id, id, deal_id, from_stage_id, to_stage_id, changed_at, "
                         f"created_at, updated_at, version) values (%s, %s, %s, %s, %s, %s, {stamps})",
                         (TENANT, row_id, DEAL, source, target, at))
    upgrade(versions, owner_url, "0004")
    with _connect(owner_url) as conn:
        rows = conn.execute("select id, field, old_value, new_value, from_stage_id, to_stage_id from deal_changes "
                            "order by changed_at").fetchall()
        assert rows == [(FIRST, "stage_id", None, str(LEAD), None, LEAD), (SECOND, "stage_id", str(LEAD), str(DEMO), LEAD, DEMO)]
        assert conn.execute("select contact_id, role, position from deal_contacts").fetchall() == [(CONTACT, "other", 0)]
        assert conn.execute("select to_regclass('deal_stage_history')").fetchone() == (None,)
        with pytest.raises(psycopg.errors.RaiseException):
            conn.execute("update deal_changes set field = 'amount'")
    upgrade_down(versions, owner_url)
    with _connect(owner_url) as conn:
        assert conn.execute("select id, from_stage_id, to_stage_id from deal_stage_history order by changed_at").fetchall() == [
            (FIRST, None, LEAD), (SECOND, LEAD, DEMO)]


def upgrade_down(versions: Path, url: str) -> None:
    from alembic import command

    from crm_db.migrate import alembic_config

    command.downgrade(alembic_config(versions, url), "0003")


def test_existing_deals_are_numbered_and_closed_by_0003(owner_url: str) -> None:
    """Deals written before 0003 get numbers per tenant, a deal counter, closed dates and a stage
    entry time, although RLS (forced, even for the owner) hides every row while migrating."""
    versions = migrations_dir(pipeline.__file__)
    upgrade(versions, owner_url, "0002")
    stamps = "now(), now(), 1"
    with _connect(owner_url) as conn:
        conn.execute(f"insert into pipelines (tenant_id, id, name, is_default, created_at, updated_at, version) "
                     f"values (%s, %s, 'Sales', true, {stamps})", (TENANT, PIPELINE))
        conn.execute(f"insert into pipeline_stages (tenant_id, id, pipeline_id, name, position, probability, kind, "
                     f"created_at, updated_at, version) values (%s, %s, %s, 'Won', 0, 100, 'won', {stamps})",
                     (TENANT, LEAD, PIPELINE))
        for n, deal_id in enumerate((DEAL, uuid.uuid4())):
            conn.execute("insert into deals (tenant_id, id, name, pipeline_id, stage_id, status, probability, close_date, "
                         "created_at, updated_at, version) values (%s, %s, %s, %s, %s, 'won', 100, '2026-05-01', "
                         "now() + make_interval(secs => %s), now(), 1)", (TENANT, deal_id, f"Old {n}", PIPELINE, LEAD, n))
    upgrade(versions, owner_url, "0003")
    with _connect(owner_url) as conn:
        rows = conn.execute("select number, forecast_category, won_at is not null, closed_at is not null, "
                            "stage_entered_at is not null, expected_close_date::text from deals order by number").fetchall()
        assert rows == [(1, "closed", True, True, True, "2026-05-01"), (2, "closed", True, True, True, "2026-05-01")]
        assert conn.execute("select last_number from deal_counters").fetchall() == [(2,)]
