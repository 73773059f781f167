"""Test helpers for workflow actions on the whole platform: tenants signed up through the gateway,
records made through the public API, and StepContexts as the engine builds them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from automation.models import metadata
from automation.workflows.client import ServiceApi
from automation.workflows.steps import StepContext
from automation.workflows.tables import round_robin_table
from crm_core import context
from crm_db.database import Database
from crm_events.outbox import Outbox
from crm_testing.platform import Platform

NOW = dt.datetime(2027, 3, 1, 9, 30, tzinfo=dt.UTC)


@dataclass
class Tenant:
    platform: Platform
    token: str
    tenant_id: uuid.UUID
    user_id: str
    email: str

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        resp = self.platform.request(method, path, body, token=self.token, headers=headers)
        parsed = resp.json() if resp.data and resp.headers.get("Content-Type", "").endswith("json") else None
        return resp.status, parsed, resp.headers

    def ok(self, method: str, path: str, body: Any = None, status: int | tuple[int, ...] = (200, 201)) -> Any:
        got, parsed, _ = self.call(method, path, body)
        assert got in ((status,) if isinstance(status, int) else status), (method, path, got, parsed)
        return parsed

    def contact(self, **fields: Any) -> dict[str, Any]:
        body = {"first_name": "Ada", "last_name": "Lovelace", "email": f"ada-{uuid.uuid4().hex[:8]}@example.com",
                "owner_id": self.user_id, **fields}
        return self.ok("POST", "/v1/contacts", body)


def signup(platform: Platform, company: str = "Acme") -> Tenant:
    account = platform.signup(company)
    return Tenant(platform, account["access_token"], uuid.UUID(str(account["tenant"]["id"])), str(account["user"]["id"]),
                  account["email"])


@dataclass
class Steps:
    """StepContexts for one workflow of a tenant, built the way the engine builds them."""

    api: ServiceApi
    tenant: Tenant
    workflow_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def ctx(self, record_type: str | None = None, record_id: str | None = None, *, run_id: uuid.UUID | None = None,
            step_id: str = "step", tenant_id: uuid.UUID | None = None, trigger: dict[str, Any] | None = None,
            now: dt.datetime = NOW, dry_run: bool = False) -> StepContext:
        tenant = tenant_id or self.tenant.tenant_id
        run = run_id or uuid.uuid4()
        record = self.api.record(tenant, record_type, record_id) if record_type and record_id else None
        return StepContext(tenant_id=tenant, workflow_id=self.workflow_id, run_id=run, step_id=step_id,
                           idempotency_key=f"wf:{run}:{step_id}", causation=[str(run)], record_type=record_type,
                           record_id=record_id, record=record, trigger=trigger or {"type": "manual"}, api=self.api,
                           now=now, dry_run=dry_run)


def automation_db(platform: Platform) -> Database:
    """Automation's database as the service connects to it (the app role, under RLS)."""
    return Database(platform.services["automation"].settings.database_url, pool_size=2)


def create_round_robin_table(platform: Platform) -> None:
    """The table the lead's migration adds (tables.round_robin_table), made here as its owner, with
    the tenant policy every tenant table has."""
    owner = Database(platform.services["automation"].settings.database_owner_url, pool_size=1)
    try:
        table = round_robin_table(metadata())
        table.create(owner.engine, checkfirst=True)
        if owner.engine.dialect.name == "postgresql":
            with owner.engine.begin() as conn:
                conn.execute(text(f'ALTER TABLE "{table.name}" ENABLE ROW LEVEL SECURITY'))
                conn.execute(text(f'ALTER TABLE "{table.name}" FORCE ROW LEVEL SECURITY'))
                conn.execute(text(f'DROP POLICY IF EXISTS tenant_isolation ON "{table.name}"'))
                conn.execute(text(
                    f'CREATE POLICY tenant_isolation ON "{table.name}" '
                    "USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid) "
                    "WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)"))
    finally:
        owner.dispose()


def commit_events(db: Database, ctx: StepContext) -> None:
    """What the engine does with a step's events: into automation's outbox, in one transaction."""
    outbox = Outbox("automation", metadata())
    with context.tenant_context(ctx.tenant_id), db.transaction() as session:
        for event_type, subject, data in ctx.events:
            outbox.emit(session, event_type, subject, data)
