"""CSV exports: columns and cells, filters, formula neutralisation, batches and chunks, the file
only once completed, a round trip through an import, and tenant isolation."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from test_imports import define, events, get, imported, listed, run_jobs

from contacts.service import exports
from crm_testing.apps import ServiceHarness


def post(svc: ServiceHarness, tenant: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = svc.client.post(path, json=body, headers=svc.headers(tenant))
    assert resp.status_code in (200, 201, 202), resp.get_json()
    return resp.get_json()


def exported(svc: ServiceHarness, tenant: str, **body: Any) -> tuple[dict[str, Any], list[dict[str, str]], str]:
    """Create the export, run the worker, download: (job, rows as dicts, raw text)."""
    resp = svc.client.post("/v1/exports", json={"object": "contacts", **body}, headers=svc.headers(tenant))
    assert resp.status_code == 202 and resp.headers["Location"] == f"/v1/exports/{resp.get_json()['id']}", resp.get_json()
    run_jobs(svc)
    job = get(svc, tenant, resp.headers["Location"])
    assert job["status"] == "completed", job
    file = svc.client.get(job["file_url"], headers=svc.headers(tenant))
    assert file.status_code == 200 and file.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert file.headers["Content-Disposition"].startswith("attachment; filename=")
    assert int(file.headers["Content-Length"]) == len(file.data)
    text = file.get_data(as_text=True)
    return job, list(csv.DictReader(io.StringIO(text))), text


def test_default_columns_cells_and_formula_neutralisation(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    define(svc, "a", key="arr", label="ARR", type="money")
    define(svc, "a", key="modules", label="Modules", type="multi_enum", options=["crm", "mail"])
    define(svc, "a", key="vip", label="VIP", type="bool")
    define(svc, "a", key="notes", label="Notes", type="text")
    acme = post(svc, "a", "/v1/companies", {"name": "Acme"})
    ada = post(svc, "a", "/v1/contacts", {
        "first_name": "=HYPERLINK(\"http://evil\")", "last_name": "-1+2", "email": "ada@example.com", "phone": "+49 30 1234567",
        "tags": ["@vip", "b"], "company_id": acme["id"], "lifecycle_stage": "lead",
        "address": {"street": "1 Main St", "city": "Berlin", "country": "de"},
        "properties": {"arr": {"amount": "1200.5", "currency": "EUR"}, "modules": ["crm", "mail"], "vip": True,
                       "notes": "\tsheet"}})
    job, rows, text = exported(svc, "a")
    assert (job["rows_total"], job["rows_processed"]) == (1, 1)
    header = text.splitlines()[0].split(",")
    assert header[:6] == ["id", "first_name", "last_name", "email", "emails", "phone"]
    assert {"address.street", "address.city", "address.country", "arr", "modules", "vip", "lead_score", "created_at"} <= set(header)
    assert header.index("arr") < header.index("lead_score")  # custom fields before the derived ones
    row = rows[0]
    assert row["id"] == ada["id"] and row["email"] == "ada@example.com"
    assert row["first_name"] == "'=HYPERLINK(\"http://evil\")" and row["last_name"] == "'-1+2"
    assert row["phone"] == "'+49301234567"  # the quote is part of the cell: documented
    assert row["tags"] == "'@vip;b" and row["notes"] == "'\tsheet"
    assert (row["arr"], row["modules"], row["vip"]) == ("1200.50 EUR", "crm;mail", "true")
    assert (row["address.city"], row["address.country"], row["address.region"]) == ("Berlin", "DE", "")
    assert (row["company_id"], row["company_ids"], row["company_name"]) == (acme["id"], acme["id"], "Acme")
    assert row["created_at"] == ada["created_at"] and row["lead_score"] == "0"
    assert events(svc, "crm.export.completed")[0]["data"]["file_url"] == job["file_url"]


def test_requested_properties_and_filter(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    define(svc, "a", key="plan", label="Plan", type="enum", options=["free", "pro"])
    for i, (stage, plan) in enumerate([("lead", "pro"), ("lead", "free"), ("customer", "pro"), ("lead", "pro")]):
        post(svc, "a", "/v1/contacts", {"email": f"p{i}@example.com", "lifecycle_stage": stage, "properties": {"plan": plan},
                                        "address": {"city": f"C{i}"}})
    job, rows, text = exported(svc, "a", filter="lifecycle_stage = 'lead' and plan = 'pro'",
                               properties=["email", "plan", "properties.plan", "address"])
    assert text.splitlines()[0] == "id,email,plan,address.street,address.city,address.region,address.postal_code,address.country"
    assert [(r["email"], r["plan"], r["address.city"]) for r in rows] == [("p0@example.com", "pro", "C0"), ("p3@example.com", "pro", "C3")]
    assert job["filter"] == "lifecycle_stage = 'lead' and plan = 'pro'" and job["rows_total"] == 2
    _, nobody, text = exported(svc, "a", filter="email = 'nobody@example.com'", properties=["email"])
    assert nobody == [] and text == "id,email\r\n"


def test_search_text_narrows_an_export_like_the_list(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    for first, stage in (("Ada", "lead"), ("Adam", "customer"), ("Grace", "lead")):
        post(svc, "a", "/v1/contacts", {"first_name": first, "email": f"{first.lower()}@example.com", "lifecycle_stage": stage})
    job, rows, _ = exported(svc, "a", q=" ada ", properties=["email"])
    assert job["q"] == "ada" and sorted(r["email"] for r in rows) == ["ada@example.com", "adam@example.com"]
    _, rows, _ = exported(svc, "a", q="ada", filter="lifecycle_stage = 'lead'", properties=["email"])
    assert [r["email"] for r in rows] == ["ada@example.com"]
    job, rows, _ = exported(svc, "a", q="   ", properties=["email"])
    assert job["q"] is None and len(rows) == 3


def test_bad_filters_and_fields_are_refused_before_queuing(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    h = svc.headers("a")
    for bad in ("lifecycle_stage = ", "shoe_size > 3", "email ~ 'x'"):
        resp = svc.client.post("/v1/exports", json={"object": "contacts", "filter": bad}, headers=h)
        assert resp.status_code == 400 and resp.content_type == "application/problem+json", bad
    unknown = svc.client.post("/v1/exports", json={"object": "contacts", "properties": ["email", "shoe_size"]}, headers=h)
    assert unknown.status_code == 422 and unknown.get_json()["errors"] == {"properties": ["Unknown field 'shoe_size'."]}
    for body in ({"object": "deals"}, {}, {"object": "contacts", "properties": []}, {"object": "companies", "extra": 1}):
        assert svc.client.post("/v1/exports", json=body, headers=h).status_code == 422, body
    assert run_jobs(svc) == 0


def test_the_file_is_409_until_completed_and_batches_and_chunks_add_up(contacts_service: ServiceHarness,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    svc = contacts_service
    monkeypatch.setattr(exports, "BATCH_ROWS", 3)
    monkeypatch.setattr(exports, "CHUNK_BYTES", 200)
    items = [{"email": f"p{i}@example.com", "first_name": f"P{i}"} for i in range(10)]
    post(svc, "a", "/v1/contacts/batch", {"mode": "create", "items": items})
    resp = svc.client.post("/v1/exports", json={"object": "contacts", "properties": ["email", "first_name"]}, headers=svc.headers("a"))
    early = svc.client.get(f"/v1/exports/{resp.get_json()['id']}/file", headers=svc.headers("a"))
    assert early.status_code == 409 and "queued" in early.get_json()["detail"]
    assert resp.get_json()["file_url"] is None
    run_jobs(svc)
    file = svc.client.get(f"/v1/exports/{resp.get_json()['id']}/file", headers=svc.headers("a"))
    rows = list(csv.DictReader(io.StringIO(file.get_data(as_text=True))))
    assert [r["email"] for r in rows] == [f"p{i}@example.com" for i in range(10)]  # ids are time-ordered
    chunks = svc.metadata.tables["job_files"]
    with svc.db.engine.connect() as conn:
        parts = conn.execute(chunks.select().where(chunks.c.part == "output")).all()
    assert len(parts) > 1


def test_an_export_imports_back(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    define(svc, "a", key="arr", label="ARR", type="money")
    define(svc, "b", key="arr", label="ARR", type="money")
    post(svc, "a", "/v1/contacts", {"email": "ada@example.com", "first_name": "-Ada", "phone": "+49 30 1234567", "tags": ["x", "y"],
                                    "address": {"city": "Berlin"}, "properties": {"arr": {"amount": "5", "currency": "USD"}}})
    _, _, text = exported(svc, "a")
    job = imported(svc, "b", text)
    assert (job["created"], job["failed"]) == (1, 0)
    assert set(job["ignored_columns"]) == {"id", "lead_score", "last_contacted_at", "created_at", "updated_at"}
    copy = listed(svc, "b")[0]
    assert (copy["first_name"], copy["phone"], copy["tags"], copy["address"], copy["properties"]) == \
        ("-Ada", "+49301234567", ["x", "y"], {"city": "Berlin"}, {"arr": {"amount": "5.00", "currency": "USD"}})


def test_companies_export(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    post(svc, "a", "/v1/companies", {"name": "+Acme", "domain": "acme.com", "size": 12, "tags": ["t"]})
    _, rows, text = exported(svc, "a", object="companies")
    assert text.splitlines()[0].startswith("id,name,domain,industry,size,owner_id,tags")
    assert (rows[0]["name"], rows[0]["domain"], rows[0]["size"], rows[0]["tags"]) == ("'+Acme", "acme.com", "12", "t")


def test_tenant_b_cannot_see_or_download_tenant_a_exports(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    post(svc, "a", "/v1/contacts", {"email": "secret@a.com"})
    post(svc, "b", "/v1/contacts", {"email": "mine@b.com"})
    job, _, _ = exported(svc, "a")
    for path in (f"/v1/exports/{job['id']}", f"/v1/exports/{job['id']}/file", f"/v1/imports/{job['id']}/errors"):
        resp = svc.client.get(path, headers=svc.headers("b"))
        assert resp.status_code == 404 and resp.content_type == "application/problem+json", path
    assert get(svc, "b", "/v1/exports")["data"] == []
    _, rows, _ = exported(svc, "b", filter="email = 'secret@a.com' or email = 'mine@b.com'")
    assert [r["email"] for r in rows] == ["mine@b.com"]
    assert [j["id"] for j in get(svc, "a", "/v1/exports")["data"]] == [job["id"]]



@pytest.mark.integration
def test_filtered_export_on_postgresql_stays_in_its_tenant(pg_contacts: ServiceHarness) -> None:
    svc = pg_contacts
    for tenant in ("a", "b"):
        define(svc, tenant, key="plan", label="Plan", type="enum", options=["free", "pro"])
        post(svc, tenant, "/v1/contacts/batch", {"mode": "create", "items": [
            {"email": f"{tenant}{i}@example.com", "properties": {"plan": "pro" if i % 2 else "free"}, "tags": ["vip"] if i < 3 else []}
            for i in range(6)]})
    job, rows, _ = exported(svc, "a", filter="plan = 'pro' and tags contains 'vip'", properties=["email", "plan", "tags"])
    assert [(r["email"], r["plan"], r["tags"]) for r in rows] == [("a1@example.com", "pro", "vip")]
    assert svc.client.get(f"/v1/exports/{job['id']}/file", headers=svc.headers("b")).status_code == 404
    _, everything, _ = exported(svc, "b")
    assert sorted(r["email"] for r in everything) == [f"b{i}@example.com" for i in range(6)]
