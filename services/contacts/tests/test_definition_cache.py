"""Custom field definitions are cached per process; a change made through one process is seen by
another's very next request (the per-tenant version the trigger bumps), and tenants never share.

Two app instances stand for two processes: each has its own engine, hence its own cache.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import contacts
from contacts.app import create_app
from contacts.models import metadata
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database, libpq_url


def _pair(tmp_path: Path, database_url: str | None = None, owner_url: str | None = None) -> tuple[ServiceHarness, ServiceHarness]:
    url = database_url or f"sqlite:///{tmp_path / 'shared.db'}"
    one, two = (make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path / name,
                             database_url=url, owner_url=owner_url or url) for name in ("one", "two"))
    assert one.db.engine is not two.db.engine
    # the same tenant ids in both
    two.tenants = one.tenants
    return one, two


@pytest.fixture(params=["sqlite", "postgresql"])
def processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ServiceHarness, ServiceHarness]]:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    if request.param == "sqlite":
        yield _pair(tmp_path)
        return
    admin = request.getfixturevalue("pg_admin_url")
    name = f"defcache_{uuid.uuid4().hex[:10]}"
    owner_url, app_url = create_service_database(admin, name)
    pair = _pair(tmp_path, app_url, owner_url)
    yield pair
    for svc in pair:
        svc.db.dispose()
    with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _list(svc: ServiceHarness, tenant: str, filter_: str) -> Any:
    return svc.client.get("/v1/contacts", query_string={"filter": filter_}, headers=svc.headers(tenant))


def _create(svc: ServiceHarness, tenant: str, properties: dict[str, Any]) -> Any:
    return svc.client.post("/v1/contacts", json={"email": f"{uuid.uuid4().hex[:8]}@example.com", "properties": properties},
                           headers=svc.headers(tenant))


def test_definition_changes_reach_the_other_process_at_once(processes: tuple[ServiceHarness, ServiceHarness]) -> None:
    one, two = processes
    assert one.client.post("/v1/properties/contacts", json={"key": "plan", "label": "Plan", "type": "enum",
                                                           "options": ["free", "pro"]}, headers=one.headers("a")).status_code == 201
    # created: the other process filters and validates with it (and now holds it in its cache)
    assert _list(two, "a", "plan = 'pro'").status_code == 200
    created = _create(two, "a", {"plan": "pro"})
    assert created.status_code == 201, created.get_json()
    assert _create(two, "a", {"plan": "team"}).status_code == 422
    assert [c["properties"] for c in _list(two, "a", "plan = 'pro'").get_json()["data"]] == [{"plan": "pro"}]

    # changed through one: two validates against the new options on its very next create
    changed = one.client.patch("/v1/properties/contacts/plan", json={"options": ["free", "pro", "team"]},
                               headers=one.headers("a"))
    assert changed.status_code == 200, changed.get_json()
    assert _create(two, "a", {"plan": "team"}).status_code == 201
    assert len(_list(two, "a", "plan in ('pro', 'team')").get_json()["data"]) == 2

    # a new field: filterable and writable in two at once
    assert one.client.post("/v1/properties/contacts", json={"key": "seats", "label": "Seats", "type": "number"},
                           headers=one.headers("a")).status_code == 201
    assert _list(two, "a", "seats >= 3").status_code == 200
    assert _create(two, "a", {"seats": 5}).status_code == 201
    assert len(_list(two, "a", "seats >= 3").get_json()["data"]) == 1

    # archived through one: gone from two's filters, writes and output at once
    assert one.client.delete("/v1/properties/contacts/plan", headers=one.headers("a")).status_code == 204
    unknown = _list(two, "a", "plan = 'pro'")
    assert unknown.status_code == 400 and "plan" in str(unknown.get_json())
    assert _create(two, "a", {"plan": "pro"}).status_code == 422
    read = two.client.get(f"/v1/contacts/{created.get_json()['id']}", headers=two.headers("a")).get_json()
    assert read["properties"] == {}
    # restored: back everywhere
    assert one.client.patch("/v1/properties/contacts/plan", json={"archived": False},
                            headers=one.headers("a")).status_code == 200
    assert two.client.get(f"/v1/contacts/{created.get_json()['id']}", headers=two.headers("a")).get_json()["properties"] == {"plan": "pro"}
    assert len(_list(two, "a", "plan = 'pro'").get_json()["data"]) == 1


def test_tenants_never_share_cached_definitions(processes: tuple[ServiceHarness, ServiceHarness]) -> None:
    one, two = processes
    assert one.client.post("/v1/properties/contacts", json={"key": "plan", "label": "Plan", "type": "enum",
                                                           "options": ["free", "pro"]}, headers=one.headers("a")).status_code == 201
    assert _list(two, "a", "plan = 'pro'").status_code == 200  # a's definitions cached in two
    # b has no such field, in either process
    for svc in (one, two):
        assert _list(svc, "b", "plan = 'pro'").status_code == 400
        assert _create(svc, "b", {"plan": "pro"}).status_code == 422
    # b's own plan, other options: neither tenant sees the other's
    assert two.client.post("/v1/properties/contacts", json={"key": "plan", "label": "Plan", "type": "enum",
                                                           "options": ["gold"]}, headers=two.headers("b")).status_code == 201
    for svc in (one, two):
        assert _create(svc, "b", {"plan": "gold"}).status_code == 201
        assert _create(svc, "b", {"plan": "pro"}).status_code == 422
        assert _create(svc, "a", {"plan": "gold"}).status_code == 422
        assert _create(svc, "a", {"plan": "pro"}).status_code == 201
    for svc in (one, two):
        assert {c["properties"]["plan"] for c in _list(svc, "b", "plan is not null").get_json()["data"]} == {"gold"}
        assert {c["properties"]["plan"] for c in _list(svc, "a", "plan is not null").get_json()["data"]} == {"pro"}


def test_a_rolled_back_definition_change_leaves_no_trace_in_the_cache(
        processes: tuple[ServiceHarness, ServiceHarness]) -> None:
    """A transaction that changes definitions reads its own and never caches them: after a
    rollback neither process holds what was never committed."""
    from contacts.service.properties import PropertyService, active_definitions
    from crm_core import context

    one, two = processes
    assert one.client.post("/v1/properties/contacts", json={"key": "plan", "label": "Plan", "type": "enum",
                                                           "options": ["free"]}, headers=one.headers("a")).status_code == 201
    assert _create(one, "a", {"plan": "free"}).status_code == 201  # cached in one

    class Abort(Exception):
        pass

    service = PropertyService(one.app.extensions["crm_runtime"].outbox, lambda record: {"id": str(record.id)})
    with pytest.raises(Abort), context.tenant_context(one.tenant("a")), one.db.transaction() as session:
        service.update(session, service.find(session, "contact", "plan").id, {"options": ["free", "pro"]})
        assert active_definitions(session, "contact")["plan"].options == ("free", "pro")  # its own change
        raise Abort
    for svc in (one, two):
        assert _create(svc, "a", {"plan": "pro"}).status_code == 422
        assert _create(svc, "a", {"plan": "free"}).status_code == 201
