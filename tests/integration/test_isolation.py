"""Tenant isolation on PostgreSQL with RLS: tenant B can never see, change or infer tenant A's data."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from crm_testing.platform import Platform, wait_for, wait_for_json

pytestmark = pytest.mark.integration


def _body(resp: Any) -> Any:
    return resp.json() if resp.data else None


def _create(platform: Platform, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = platform.request("POST", path, body, token=token)
    assert resp.status == 201, (path, resp.status, resp.data[:500])
    return resp.json()


@pytest.fixture(scope="module")
def tenants(pg_platform: Platform) -> dict[str, Any]:
    a, b = pg_platform.signup("Tenant A"), pg_platform.signup("Tenant B")
    ta = a["access_token"]
    pipelines = wait_for(lambda: pg_platform.request("GET", "/v1/pipelines", token=ta).json()["data"],
                         what="default pipeline for A")
    contact = _create(pg_platform, ta, "/v1/contacts", {"first_name": "Alice", "email": "alice@a.example"})
    deal = _create(pg_platform, ta, "/v1/deals", {"name": "Big deal", "amount": {"amount": "1000.00", "currency": "EUR"},
                                                 "contact_id": contact["id"]})
    records = {
        "contacts": contact,
        "pipelines": pipelines[0],
        "deals": deal,
        "tasks": _create(pg_platform, ta, "/v1/tasks", {"title": "Call Alice", "deal_id": deal["id"]}),
        "tickets": _create(pg_platform, ta, "/v1/tickets", {"subject": "Broken", "contact_id": contact["id"]}),
        "campaigns": _create(pg_platform, ta, "/v1/campaigns", {"name": "Spring", "subject": "Hi"}),
        "webhooks": _create(pg_platform, ta, "/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}),
    }
    return {"a": a, "b": b, "records": records}


RESOURCES = ["contacts", "pipelines", "deals", "tasks", "tickets", "campaigns", "webhooks"]
PATCHES = {"contacts": {"first_name": "Mallory"}, "pipelines": {"name": "Hijacked"}, "deals": {"name": "Mine"},
           "tasks": {"title": "Mine"}, "tickets": {"subject": "Mine"}, "campaigns": {"name": "Mine"},
           "webhooks": {"description": "Mine"}}


@pytest.mark.parametrize("resource", RESOURCES)
def test_other_tenant_cannot_read_list_update_delete(pg_platform: Platform, tenants: dict[str, Any], resource: str) -> None:
    record = tenants["records"][resource]
    tb = tenants["b"]["access_token"]
    path = f"/v1/{resource}/{record['id']}"
    assert pg_platform.request("GET", path, token=tb).status == 404
    listed = pg_platform.request("GET", f"/v1/{resource}?limit=200", token=tb).json()["data"]
    assert record["id"] not in {r["id"] for r in listed}
    assert pg_platform.request("PATCH", path, PATCHES[resource], token=tb).status == 404
    assert pg_platform.request("DELETE", path, token=tb).status == 404
    # A still has it, untouched
    mine = pg_platform.request("GET", path, token=tenants["a"]["access_token"])
    assert mine.status == 200 and mine.json()["version"] == record["version"]


def test_filters_never_cross_tenants(pg_platform: Platform, tenants: dict[str, Any]) -> None:
    tb, rec = tenants["b"]["access_token"], tenants["records"]
    for path in (f"/v1/deals?contact_id={rec['contacts']['id']}", f"/v1/deals?pipeline_id={rec['pipelines']['id']}",
                 f"/v1/tasks?deal_id={rec['deals']['id']}", f"/v1/tickets?contact_id={rec['contacts']['id']}"):
        resp = pg_platform.request("GET", path, token=tb)
        assert resp.status == 200, (path, resp.data[:300])
        assert resp.json()["data"] == [], path


def test_cannot_attach_to_other_tenants_records(pg_platform: Platform, tenants: dict[str, Any]) -> None:
    tb, rec = tenants["b"]["access_token"], tenants["records"]
    pipeline = rec["pipelines"]
    deal_in_a = pg_platform.request("POST", "/v1/deals", {"name": "x", "pipeline_id": pipeline["id"],
                                                          "stage_id": pipeline["stages"][0]["id"]}, token=tb)
    assert deal_in_a.status in (404, 422)
    task_on_a = pg_platform.request("POST", "/v1/tasks", {"title": "x", "deal_id": rec["deals"]["id"]}, token=tb)
    assert task_on_a.status in (404, 422)
    assert pg_platform.request("GET", f"/v1/deals/{rec['deals']['id']}/history", token=tb).status == 404
    assert pg_platform.request("GET", f"/v1/webhooks/{rec['webhooks']['id']}/deliveries", token=tb).status == 404


def test_email_uniqueness_does_not_leak(pg_platform: Platform, tenants: dict[str, Any]) -> None:
    resp = pg_platform.request("POST", "/v1/contacts", {"email": "alice@a.example"}, token=tenants["b"]["access_token"])
    assert resp.status == 201


def test_reports_are_per_tenant(pg_platform: Platform, tenants: dict[str, Any]) -> None:
    ta, tb = tenants["a"]["access_token"], tenants["b"]["access_token"]
    summary_a = wait_for_json(pg_platform, "/v1/reports/summary", ta,
                              lambda s: s.get("open_tickets") == 1 and s.get("campaigns") == 1 and s.get("open_deals") == 1
                              and s.get("contacts", 0) >= 1)
    assert summary_a["contacts"] >= 1 and summary_a["open_deals"] == 1
    assert summary_a["pipeline_value"] == [{"currency": "EUR", "amount": "1000.00"}]
    summary_b = pg_platform.request("GET", "/v1/reports/summary", token=tb).json()
    assert summary_b["open_deals"] == 0 and summary_b["open_tickets"] == 0 and summary_b["campaigns"] == 0
    assert summary_b["pipeline_value"] == []


def test_api_keys_and_users_are_per_tenant(pg_platform: Platform, tenants: dict[str, Any]) -> None:
    ta, tb = tenants["a"]["access_token"], tenants["b"]["access_token"]
    key = _create(pg_platform, ta, "/v1/api-keys", {"name": "a-key", "scopes": ["contacts:read"]})
    assert key["id"] not in {k["id"] for k in pg_platform.request("GET", "/v1/api-keys", token=tb).json()["data"]}
    assert pg_platform.request("DELETE", f"/v1/api-keys/{key['id']}", token=tb).status == 404
    users_b = pg_platform.request("GET", "/v1/users", token=tb).json()["data"]
    assert {u["tenant_id"] for u in users_b} == {tenants["b"]["tenant"]["id"]}
    # A's key still works: B's delete did nothing
    assert pg_platform.request("GET", "/v1/contacts", token=key["key"]).status == 200


def test_direct_service_calls_need_the_gateway_token(pg_platform: Platform, tenants: dict[str, Any]) -> None:
    tenant_a = tenants["a"]["tenant"]["id"]
    for name, handle in pg_platform.services.items():
        if name == "gateway":
            continue
        for headers in ({}, {"X-Tenant-Id": tenant_a}, {"X-Internal-Token": "forged", "X-Tenant-Id": tenant_a}):
            resp = pg_platform.http.request("GET", handle.url + "/v1/contacts", headers=headers, retries=False)
            assert resp.status == 401, (name, headers, resp.status)


def test_client_supplied_internal_headers_are_stripped(pg_platform: Platform, tenants: dict[str, Any]) -> None:
    tb = tenants["b"]["access_token"]
    forged = {"X-Internal-Token": "forged", "X-Tenant-Id": tenants["a"]["tenant"]["id"]}
    resp = pg_platform.request("GET", "/v1/contacts?limit=200", token=tb, headers=forged)
    assert resp.status == 200
    assert tenants["records"]["contacts"]["id"] not in {c["id"] for c in resp.json()["data"]}


def test_webhooks_only_receive_own_tenants_events(pg_platform: Platform, tenants: dict[str, Any]) -> None:
    tb = tenants["b"]["access_token"]
    hook_b = _create(pg_platform, tb, "/v1/webhooks", {"url": "http://127.0.0.1:9/b", "event_types": ["crm.contact.created"]})
    from_a = _create(pg_platform, tenants["a"]["access_token"], "/v1/contacts", {"first_name": "After B subscribed"})
    own = _create(pg_platform, tb, "/v1/contacts", {"first_name": "B's own"})

    def delivered() -> set[str]:
        rows = pg_platform.request("GET", f"/v1/webhooks/{hook_b['id']}/deliveries?limit=200", token=tb).json()["data"]
        return {d["payload"]["subject"] for d in rows}

    def until_own_delivered() -> set[str] | None:
        found = delivered()
        return found if own["id"] in found else None

    subjects = wait_for(until_own_delivered, what="B's delivery")
    assert from_a["id"] not in subjects
    b_contacts = {c["id"] for c in pg_platform.request("GET", "/v1/contacts?limit=200", token=tb).json()["data"]}
    assert subjects <= b_contacts  # only B's own records, never A's


def _tenant_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' "
        "where n.nspname = 'public' and c.relkind = 'r' order by 1").fetchall()
    return [r[0] for r in rows]


# Without RLS on purpose (see their migrations): worker queues and schedules (ids and due times only) read
# across tenants, identity before a tenant is known.
# Read before a tenant is known, holding ids and due times (queues) or routing keys (mailboxes), no content.
# Read across tenants by design: queues and schedules claimed by workers (timers: reminders;
# forecast_schedule: weekly snapshots), lookups by a secret (calendar_feed_tokens: a feed URL's
# hash names its tenant), the gateway's accounts. Every statement on them names its tenant.
PLATFORM_TABLES = {"outbox", "delivery_queue", "job_queue", "job_schedule", "users", "api_keys", "refresh_tokens",
                   "mail_queue", "mailboxes", "timers", "forecast_schedule", "calendar_feed_tokens",
                   # tickets: the open /portal/{mailbox}/ paths find their tenant here (no tenant yet)
                   "portal_mailboxes",
                   # automation: the workflow run loop's queue (ids and due times), and incoming-webhook
                   # secrets (a hash naming the workflow's tenant: the URL is the credential)
                   "workflow_run_queue", "workflow_hook_secrets",
                   # tickets: the KB search index; under RLS PostgreSQL never uses its GIN index (`@@` is not
                   # leakproof), so every statement on it names its tenant and matches are read back from
                   # kb_articles, which is under RLS (tests: services/tickets/tests/test_kb_api.py)
                   "kb_search"}


def test_row_level_security_as_the_app_role(pg_platform: Platform, tenants: dict[str, Any]) -> None:
    tenant_a = tenants["a"]["tenant"]["id"]
    checked = 0
    for name, handle in pg_platform.services.items():
        url = handle.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            role = conn.execute("select rolsuper, rolbypassrls from pg_roles where rolname = current_user").fetchone()
            assert role == (False, False), name
            for table in _tenant_tables(conn):
                if table in PLATFORM_TABLES:
                    continue
                forced = conn.execute("select relrowsecurity, relforcerowsecurity from pg_class where relname = %s",
                                      (table,)).fetchone()
                assert forced == (True, True), f"{name}.{table} lacks forced RLS"
                with conn.transaction():
                    assert conn.execute(f'select count(*) from "{table}"').fetchone()[0] == 0, f"{name}.{table} visible"
                    conn.execute("select set_config('app.tenant_id', %s, true)", (tenant_a,))
                    others = conn.execute(f'select count(*) from "{table}" where tenant_id <> %s', (tenant_a,)).fetchone()[0]
                    assert others == 0, f"{name}.{table} shows other tenants"
                with conn.transaction():
                    conn.execute("select set_config('app.tenant_id', %s, true)", (str(uuid.uuid4()),))
                    assert conn.execute(f'select count(*) from "{table}"').fetchone()[0] == 0
                checked += 1
            if name == "contacts":
                with conn.transaction():
                    conn.execute("select set_config('app.tenant_id', %s, true)", (tenant_a,))
                    assert conn.execute("select count(*) from contacts").fetchone()[0] >= 1
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        conn.execute("insert into contacts (tenant_id, id, created_at, updated_at, version) "
                                     "values (%s, %s, now(), now(), 1)", (str(uuid.uuid4()), str(uuid.uuid4())))
    assert checked >= 8
