from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from inbound_fixtures import inbound, mail_topic  # noqa: F401  (the inbound tests' PostgreSQL + Kafka + SMTP)

import mail
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.smtp import SmtpSink
from mail.app import create_app
from mail.models import metadata


@pytest.fixture
def mail_service(tmp_path: Path) -> ServiceHarness:
    return make_harness("mail", create_app, metadata(), migrations_dir(mail.__file__), tmp_path)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A real SMTP server on 127.0.0.1 (the relay of the sending tests)."""
    with SmtpSink() as server:
        yield server


@pytest.fixture
def relayed(tmp_path: Path, sink: SmtpSink) -> ServiceHarness:
    """The mail service on SQLite with CRM_SMTP_URL pointing at `sink`, retrying at once."""
    return make_harness("mail", create_app, metadata(), migrations_dir(mail.__file__), tmp_path,
                        CRM_SMTP_URL=sink.url, CRM_MAIL_RETRY_BASE_SECONDS="0", CRM_MAIL_MAX_ATTEMPTS="3")


@pytest.fixture
def pg_relayed(pg_admin_url: str, tmp_path: Path, sink: SmtpSink) -> Iterator[ServiceHarness]:
    """`relayed` on its own throwaway PostgreSQL database (app role, RLS on)."""
    import psycopg
    from psycopg import sql

    from crm_testing.db import create_service_database, libpq_url

    name = f"mail_{uuid.uuid4().hex[:10]}"
    owner_url, app_url = create_service_database(pg_admin_url, name)
    svc = make_harness("mail", create_app, metadata(), migrations_dir(mail.__file__), tmp_path,
                       database_url=app_url, owner_url=owner_url, CRM_SMTP_URL=sink.url,
                       CRM_MAIL_RETRY_BASE_SECONDS="0", CRM_MAIL_MAX_ATTEMPTS="3")
    yield svc
    svc.db.dispose()
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
