"""A service refuses to start on a database role that row-level security would not bind."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

import contacts
from contacts.app import create_app
from crm_core.internal_token import generate_keypair
from crm_db.migrate import upgrade
from crm_db.roles import UnsafeDatabaseRole, warn_if_owner_is_app
from crm_runtime.service import migrations_dir
from crm_testing.apps import make_settings
from crm_testing.db import create_service_database, libpq_url


@pytest.fixture(scope="module")
def contacts_db(pg_admin_url: str) -> tuple[str, str]:
    owner_url, app_url = create_service_database(pg_admin_url, f"approle_{uuid.uuid4().hex[:8]}")
    upgrade(migrations_dir(contacts.__file__), owner_url)
    return owner_url, app_url


def _app(tmp_path: Path, url: str):
    return create_app(make_settings("contacts", tmp_path, database_url=url, public_key=generate_keypair()[1]))


def test_the_app_role_starts(tmp_path: Path, contacts_db: tuple[str, str]) -> None:
    assert _app(tmp_path, contacts_db[1]) is not None


def test_the_owner_role_is_refused(tmp_path: Path, contacts_db: tuple[str, str]) -> None:
    with pytest.raises(UnsafeDatabaseRole, match="owns .* table"):
        _app(tmp_path, contacts_db[0])


def test_a_superuser_is_refused(tmp_path: Path, contacts_db: tuple[str, str], pg_admin_url: str) -> None:
    owner_url = contacts_db[0]
    superuser = pg_admin_url.rsplit("/", 1)[0] + "/" + owner_url.rsplit("/", 1)[1]
    with pytest.raises(UnsafeDatabaseRole, match="superuser"):
        _app(tmp_path, superuser.replace("postgresql://", "postgresql+psycopg://", 1))


def test_bypassrls_and_membership_of_the_owner_are_refused(tmp_path: Path, contacts_db: tuple[str, str],
                                                          pg_admin_url: str) -> None:
    owner_url, app_url = contacts_db
    app_role, owner_role = app_url.split("://", 1)[1].split(":", 1)[0], owner_url.split("://", 1)[1].split(":", 1)[0]
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{app_role}" BYPASSRLS')
        try:
            with pytest.raises(UnsafeDatabaseRole, match="BYPASSRLS"):
                _app(tmp_path, app_url)
        finally:
            conn.execute(f'ALTER ROLE "{app_role}" NOBYPASSRLS')
        conn.execute(f'GRANT "{owner_role}" TO "{app_role}"')
        try:
            with pytest.raises(UnsafeDatabaseRole, match="member of their owner"):
                _app(tmp_path, app_url)
        finally:
            conn.execute(f'REVOKE "{owner_role}" FROM "{app_role}"')
    assert _app(tmp_path, app_url) is not None


def test_the_worker_process_refuses_too(tmp_path: Path, contacts_db: tuple[str, str]) -> None:
    env = {"CRM_DATABASE_URL": contacts_db[0], "CRM_VAR_DIR": str(tmp_path), "CRM_METRICS_PORT": "0",
           "PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "contacts", "worker"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and "UnsafeDatabaseRole" in result.stderr, result.stderr[-2000:]


def test_migrating_as_the_app_url_warns(caplog: pytest.LogCaptureFixture) -> None:
    url = "postgresql+psycopg://crm_app:pw@db/crm_contacts"
    with caplog.at_level(logging.WARNING):
        warn_if_owner_is_app("contacts", url, url)
        warn_if_owner_is_app("contacts", url, url.replace("crm_app", "crm_owner"))
    assert [r.message for r in caplog.records if "CRM_DATABASE_OWNER_URL is not set" in r.message] != []
    assert len(caplog.records) == 1
