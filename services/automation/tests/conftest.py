from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from webhook_helpers import Receiver, make_handler
from workflow_action_helpers import Steps, Tenant, create_round_robin_table, signup

import automation
from automation.app import create_app
from automation.models import metadata
from automation.workflows.client import ServiceApi
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database, libpq_url
from crm_testing.platform import Platform, start_platform


@pytest.fixture
def automation_service(tmp_path: Path) -> ServiceHarness:
    """The default: webhook URLs must resolve to public addresses."""
    return make_harness("automation", create_app, metadata(), migrations_dir(automation.__file__), tmp_path)


@pytest.fixture
def open_service(tmp_path: Path) -> ServiceHarness:
    """The operator allows private addresses (local receivers) and retries at once (base delay 0)."""
    return make_harness("automation", create_app, metadata(), migrations_dir(automation.__file__), tmp_path,
                        CRM_WEBHOOK_ALLOW_PRIVATE="true", CRM_WEBHOOK_RETRY_BASE_SECONDS="0")


@pytest.fixture
def pg_open_service(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    """open_service on its own throwaway PostgreSQL database (app role, RLS on)."""
    name = f"automation_{uuid.uuid4().hex[:10]}"
    owner_url, app_url = create_service_database(pg_admin_url, name)
    svc = make_harness("automation", create_app, metadata(), migrations_dir(automation.__file__), tmp_path,
                       database_url=app_url, owner_url=owner_url,
                       CRM_WEBHOOK_ALLOW_PRIVATE="true", CRM_WEBHOOK_RETRY_BASE_SECONDS="0")
    yield svc
    svc.db.dispose()
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    rec = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks")
    server.RequestHandlerClass = make_handler(rec)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def wf_platform(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str) -> Iterator[Platform]:
    """The whole platform on PostgreSQL (RLS on, the embedded event log, workers as threads), shared
    by the workflow action tests; each test signs up tenants of its own."""
    # Every test signs up tenants of its own: more signups from one address than the gateway allows by default.
    platform = start_platform(Path(tmp_path_factory.mktemp("workflow-actions")), pg_admin_url=pg_admin_url,
                              service_extra={"mail": {"CRM_MAIL_RETRY_BASE_SECONDS": "0"}},
                              CRM_RATE_LIMIT_ANONYMOUS_RATE="1000", CRM_RATE_LIMIT_ANONYMOUS_BURST="1000")
    try:
        create_round_robin_table(platform)
        platform.start_workers()
        yield platform
    finally:
        platform.close()


@pytest.fixture(scope="session")
def wf_api(wf_platform: Platform) -> Iterator[ServiceApi]:
    """The services' APIs as the workflow engine calls them (automation's settings: its key, their URLs)."""
    api = ServiceApi(wf_platform.services["automation"].settings)
    yield api
    api.close()


@pytest.fixture
def tenant_a(wf_platform: Platform) -> Tenant:
    return signup(wf_platform, "Alpha")


@pytest.fixture
def tenant_b(wf_platform: Platform) -> Tenant:
    return signup(wf_platform, "Beta")


@pytest.fixture
def steps(wf_api: ServiceApi, tenant_a: Tenant) -> Steps:
    return Steps(wf_api, tenant_a)
