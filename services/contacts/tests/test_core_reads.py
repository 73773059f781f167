"""Lists and reads run as Core statements on the session's connection (crm_http.rows.scoped_rows):
the tenant condition they add by hand is the only guard on SQLite (no RLS), and the rows are the
ones the ORM-scoped execution returns."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contacts.models import Contact
from crm_core import context
from crm_http.rows import scoped_rows
from crm_testing.apps import ServiceHarness


def _make(svc: ServiceHarness, tenant: str, n: int) -> list[str]:
    headers = svc.headers(svc.tenant(tenant))
    ids = []
    for i in range(n):
        r = svc.client.post("/v1/contacts", json={"email": f"{tenant}{i}@example.com", "lifecycle_stage": "lead"},
                            headers=headers)
        assert r.status_code == 201, r.get_data(as_text=True)
        ids.append(r.json["id"])
    return ids


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_core_lists_and_reads_stay_in_the_tenant(backend: str, request: pytest.FixtureRequest) -> None:
    svc: ServiceHarness = request.getfixturevalue("contacts_service" if backend == "sqlite" else "pg_contacts")
    a_ids, b_ids = _make(svc, "a", 3), _make(svc, "b", 2)
    for tenant, own, other in (("a", a_ids, b_ids), ("b", b_ids, a_ids)):
        headers = svc.headers(svc.tenant(tenant))
        for url in ("/v1/contacts?limit=50", "/v1/contacts?limit=1",
                    "/v1/contacts?limit=50&filter=lifecycle_stage%20%3D%20%27lead%27&sort=-created_at"):
            seen, cursor = [], None
            while True:
                r = svc.client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers)
                assert r.status_code == 200, r.get_data(as_text=True)
                seen += [c["id"] for c in r.json["data"]]
                cursor = r.json["next_cursor"]
                if not cursor:
                    break
            assert sorted(seen) == sorted(own)
        for rid in other:
            assert svc.client.get(f"/v1/contacts/{rid}", headers=headers).status_code == 404
        for rid in own:
            assert svc.client.get(f"/v1/contacts/{rid}", headers=headers).json["id"] == rid


def test_scoped_rows_equal_orm_rows(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    _make(svc, "a", 3)
    _make(svc, "b", 2)
    columns = list(Contact.__table__.c)
    for tenant in ("a", "b"):
        with context.tenant_context(svc.tenant(tenant)):
            with svc.db.transaction() as session:
                core = [tuple(r) for r in scoped_rows(session, select(*columns).order_by(Contact.id), Contact).all()]
                # The ORM's tenant criteria apply to mapped attributes (not to bare table columns).
                orm_stmt = select(*(getattr(Contact, c.key) for c in columns)).order_by(Contact.id)
                orm = [tuple(r) for r in session.execute(orm_stmt).all()]
        assert core == orm and len(core) == (3 if tenant == "a" else 2)



@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_read_prefetched_with_begin_equals_the_list(backend: str, request: pytest.FixtureRequest) -> None:
    """A read sends its select by id with BEGIN (driver tuples on PostgreSQL, made into rows): the
    body is the one the list (SQLAlchemy's rows) gives for the same record, custom fields included."""
    svc: ServiceHarness = request.getfixturevalue("contacts_service" if backend == "sqlite" else "pg_contacts")
    headers = svc.headers(svc.tenant("a"))
    for prop in ({"key": "plan", "label": "Plan", "type": "enum", "options": ["free", "pro"]},
                 {"key": "seats", "label": "Seats", "type": "number"}):
        assert svc.client.post("/v1/properties/contacts", json=prop, headers=headers).status_code == 201
    for i, body in enumerate(({"email": "x@example.com"},
                              {"first_name": "Zoë", "tags": ["a"], "address": {"city": "Zürich", "country": "ch"},
                               "properties": {"plan": "pro", "seats": 12345678901234567890}, "emails": ["y@example.com"]})):
        assert svc.client.post("/v1/contacts", json={**body, "last_name": f"n{i}"}, headers=headers).status_code == 201
    listed = svc.client.get("/v1/contacts?limit=50", headers=headers).json["data"]
    assert len(listed) == 2
    for item in listed:
        r = svc.client.get(f"/v1/contacts/{item['id']}", headers=headers)
        assert r.status_code == 200 and r.json == item and r.headers["ETag"] == f'"{item["version"]}"'


def test_scoped_rows_refuse_tenant_data_without_a_tenant(contacts_service: ServiceHarness) -> None:
    from crm_db.tenancy import TenantGuardError

    _make(contacts_service, "a", 1)
    with contacts_service.db.transaction() as session, pytest.raises(TenantGuardError):
        scoped_rows(session, select(*Contact.__table__.c), Contact)
