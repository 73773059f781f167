"""Duplicate suggestions for contacts and companies: signals, ranking, bounds and tenant isolation."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select, text

import contacts
from contacts.app import create_app
from contacts.models import Company, Contact, metadata
from contacts.service.duplicates import (
    company_candidate_queries,
    contact_candidate_queries,
    is_free_mail,
    registrable_name,
    words,
)
from crm_core.context import tenant_context
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database


def post(svc: ServiceHarness, path: str, tenant: str = "a", **body: Any) -> dict[str, Any]:
    resp = svc.client.post(path, json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def duplicates(svc: ServiceHarness, record: dict[str, Any], tenant: str = "a", collection: str = "contacts") -> list[dict]:
    resp = svc.client.get(f"/v1/{collection}/{record['id']}/duplicates", headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["next_cursor"] is None
    return body["data"]


def by_id(data: list[dict], key: str = "contact") -> dict[str, dict]:
    return {d[key]["id"]: d for d in data}


def test_contact_signals_are_ranked_with_reasons(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    me = post(svc, "/v1/contacts", first_name="John", last_name="Smith", email="john@acme.com", phone="+4930123456",
              company_name="Acme")
    same_email = post(svc, "/v1/contacts", first_name="John", last_name="Smith", email="js@other.org",
                      emails=["john@acme.com"])
    same_phone = post(svc, "/v1/contacts", first_name="Mary", last_name="Jones", phone="+49 30 123456")
    domain = post(svc, "/v1/contacts", first_name="Jon", last_name="Smith", email="jon.smith@acme.com")
    company = post(svc, "/v1/contacts", first_name="Jonh", last_name="Smith", company_name="ACME")
    swapped = post(svc, "/v1/contacts", first_name="Smith", last_name="John", email="smith@acme.com")
    # Not duplicates: another person at the same domain, a similar name elsewhere.
    post(svc, "/v1/contacts", first_name="Peter", last_name="Parker", email="peter@acme.com", company_name="Acme")
    post(svc, "/v1/contacts", first_name="John", last_name="Smith", email="john.smith@example.org")

    data = duplicates(svc, me)
    found = by_id(data)
    assert set(found) == {same_email["id"], same_phone["id"], domain["id"], company["id"], swapped["id"]}
    assert me["id"] not in found
    assert found[same_email["id"]]["reasons"] == ["same_email", "similar_name"]
    assert found[same_phone["id"]]["reasons"] == ["same_phone"]
    assert found[domain["id"]]["reasons"] == ["same_email_domain_similar_name"]
    assert found[company["id"]]["reasons"] == ["similar_name_same_company"]
    assert found[swapped["id"]]["reasons"] == ["same_email_domain_similar_name"]
    scores = [d["score"] for d in data]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert data[0]["contact"]["id"] == same_email["id"]  # two signals beat one
    # An identical name outranks a near one for the same signal.
    assert found[swapped["id"]]["score"] > found[domain["id"]]["score"]
    assert data[0]["contact"]["email"] == "js@other.org"  # the full contact body


def test_free_mail_domains_are_no_signal(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    me = post(svc, "/v1/contacts", first_name="Anna", last_name="Berg", email="anna@gmail.com")
    post(svc, "/v1/contacts", first_name="Anna", last_name="Berg", email="anna.berg@gmail.com")
    post(svc, "/v1/contacts", first_name="Anna", last_name="Berg", email="a.berg@gmx.de")
    assert duplicates(svc, me) == []


def test_same_company_by_id(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    acme = post(svc, "/v1/companies", name="Acme")
    other = post(svc, "/v1/companies", name="Other")
    me = post(svc, "/v1/contacts", first_name="Grace", last_name="Hopper", company_id=acme["id"])
    twin = post(svc, "/v1/contacts", first_name="Grace", last_name="Hoper", company_id=acme["id"])
    post(svc, "/v1/contacts", first_name="Grace", last_name="Hopper", company_id=other["id"])
    data = duplicates(svc, me)
    assert [d["contact"]["id"] for d in data] == [twin["id"]]
    assert data[0]["reasons"] == ["similar_name_same_company"]


def test_at_most_twenty_and_merged_ids_answer_for_the_survivor(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    me = post(svc, "/v1/contacts", first_name="Call", last_name="Centre", phone="+14155550100")
    for i in range(23):
        post(svc, "/v1/contacts", first_name=f"Agent{i}", phone="+14155550100")
    assert len(duplicates(svc, me)) == 20
    other = post(svc, "/v1/contacts", first_name="Old", phone="+14155550100")
    merged = svc.client.post("/v1/contacts/merge", json={"primary_id": me["id"], "secondary_id": other["id"]},
                             headers=svc.headers("a"))
    assert merged.status_code == 200
    # The merged-away id answers for its survivor; neither id appears among the suggestions.
    data = duplicates(svc, other)
    assert {me["id"], other["id"]}.isdisjoint(d["contact"]["id"] for d in data) and len(data) == 20


def test_isolation(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    mine = post(svc, "/v1/contacts", first_name="Ada", last_name="Lovelace", email="ada@engines.com", phone="+441234567890",
                company_name="Engines")
    theirs = post(svc, "/v1/contacts", "b", first_name="Ada", last_name="Lovelace", email="ada.l@engines.com",
                  emails=["ada@engines.com"], phone="+441234567890", company_name="Engines")
    post(svc, "/v1/contacts", "b", first_name="Ada", last_name="Lovelace", email="ada@engines.com")
    assert duplicates(svc, mine) == []  # same phone, email, domain, company and name: another tenant
    resp = svc.client.get(f"/v1/contacts/{mine['id']}/duplicates", headers=svc.headers("b"))
    assert resp.status_code == 404 and resp.content_type == "application/problem+json"
    assert mine["id"] not in {d["contact"]["id"] for d in duplicates(svc, theirs, "b")}
    company = post(svc, "/v1/companies", name="Engines Ltd", domain="engines.com")
    post(svc, "/v1/companies", "b", name="Engines Ltd", domain="engines.co.uk")
    assert duplicates(svc, company, collection="companies") == []
    assert svc.client.get(f"/v1/companies/{company['id']}/duplicates", headers=svc.headers("b")).status_code == 404
    assert svc.client.get("/v1/contacts/not-a-uuid/duplicates", headers=svc.headers("a")).status_code == 404
    scoped = svc.headers("a", scopes=["contacts:write"])
    assert svc.client.get(f"/v1/contacts/{mine['id']}/duplicates", headers=scoped).status_code == 403


def test_company_duplicates(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    me = post(svc, "/v1/companies", name="Acme Inc", domain="acme.com")
    renamed = post(svc, "/v1/companies", name="ACME Corporation")
    uk = post(svc, "/v1/companies", name="Acme United Kingdom", domain="acme.co.uk")
    both = post(svc, "/v1/companies", name="Acme GmbH", domain="eu.acme.de")
    post(svc, "/v1/companies", name="Acmex Tools", domain="acmex.com")
    post(svc, "/v1/companies", name="Notacme", domain="notacme.com")
    post(svc, "/v1/companies", name="Beta", domain="acme.example.com")  # registrable name "example"
    data = duplicates(svc, me, collection="companies")
    found = by_id(data, "company")
    assert set(found) == {renamed["id"], uk["id"], both["id"]}
    assert found[renamed["id"]]["reasons"] == ["similar_name"]
    assert found[uk["id"]]["reasons"] == ["same_domain_name"]
    assert set(found[both["id"]]["reasons"]) == {"same_domain_name", "similar_name"}
    assert data[0]["company"]["id"] == both["id"]


def test_helpers() -> None:
    assert registrable_name("acme.com") == registrable_name("acme.co.uk") == registrable_name("eu.acme.com.au") == "acme"
    assert registrable_name("acme.io") == "acme" and registrable_name("localhost") is None
    assert is_free_mail("gmail.com") and is_free_mail("gmx.at") and is_free_mail("yahoo.co.uk")
    assert not is_free_mail("acme.com")
    assert words("José-Luis  O'Neil") == ["jose", "luis", "o", "neil"]


@pytest.mark.integration
def test_candidate_lookups_use_indexes_on_postgres(pg_admin_url: str, tmp_path: Path) -> None:
    """The btree lookups (phone, email, company) are served by their own index, not by reading the
    tenant, and every lookup is capped; the results come from PostgreSQL's operators (JSONB containment)."""
    owner_url, app_url = create_service_database(pg_admin_url, f"dups_{uuid.uuid4().hex[:8]}")
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path,
                       database_url=app_url, owner_url=owner_url)
    acme = post(svc, "/v1/companies", name="Acme Inc", domain="acme.com")
    me = post(svc, "/v1/contacts", first_name="John", last_name="Smith", email="john@acme.com", emails=["j@smith.net"],
              phone="+4930123456", company_id=acme["id"], company_name="Acme Inc")
    twin = post(svc, "/v1/contacts", first_name="Jon", last_name="Smith", email="jon@acme.com", phone="+4930123456")
    alias = post(svc, "/v1/contacts", first_name="Jack", last_name="Other", email="jack@else.org", emails=["J@smith.net"])
    post(svc, "/v1/contacts", "b", first_name="John", last_name="Smith", email="j@smith.net", phone="+4930123456")
    found = {d["contact"]["id"]: d["reasons"] for d in duplicates(svc, me)}
    assert found == {twin["id"]: ["same_phone", "same_email_domain_similar_name"], alias["id"]: ["same_email"]}
    tenant = svc.tenant("a")
    with tenant_context(tenant), svc.db.transaction() as session:
        session.execute(insert(Contact.__table__), [
            {"tenant_id": tenant, "id": uuid.uuid4(), "first_name": f"Filler{i}", "last_name": f"Person{i}",
             "email": f"f{i}@filler{i % 300}.org", "phone": f"+1415555{i:04d}", "version": 1, "emails": [],
             "company_ids": [], "tags": [], "properties": {}, "merged_ids": [], "lead_score": 0,
             "search_text": f"filler{i} person{i} f{i}@filler{i % 300}.org +1415555{i:04d}",
             "created_at": dt.datetime.now(dt.UTC), "updated_at": dt.datetime.now(dt.UTC)} for i in range(6000)])
        session.execute(insert(Company.__table__), [
            {"tenant_id": tenant, "id": uuid.uuid4(), "name": f"Company {i}", "domain": f"company{i}.com", "version": 1,
             "tags": [], "properties": {}, "merged_ids": [], "search_text": f"company {i} company{i}.com",
             "created_at": dt.datetime.now(dt.UTC), "updated_at": dt.datetime.now(dt.UTC)} for i in range(6000)])
    owner = create_engine(owner_url)
    with owner.begin() as conn:
        conn.execute(text("ANALYZE contacts")), conn.execute(text("ANALYZE companies"))
    owner.dispose()
    # None: the GIN lookups (additional emails: contacts_emails_gin; email domain, company name:
    # the trigram indexes), whose cost estimates only beat reading a tenant once it is large.
    expected = ["contacts_tenant_phone_idx", "contacts_tenant_email_key", None, None, "contacts_tenant_company_idx",
                None, None, None]
    with tenant_context(tenant), svc.db.transaction() as session:
        # A table this small is cheapest to read whole; the question is which index a large one uses.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        contact = session.scalars(select(Contact).where(Contact.id == uuid.UUID(me["id"]))).one()
        company = session.scalars(select(Company).where(Company.id == uuid.UUID(acme["id"]))).one()
        queries = [*contact_candidate_queries(contact, "postgresql"), *company_candidate_queries(company)]
        assert len(queries) == len(expected)
        for query, index in zip(queries, expected, strict=True):
            assert query._limit_clause is not None  # every lookup is capped
            if index is None:
                continue
            compiled = query.compile(session.get_bind(), compile_kwargs={"render_postcompile": True})
            params = {k: json.dumps(v) if isinstance(v, list) else v for k, v in compiled.params.items()}
            plan = "\n".join(r[0] for r in session.connection().exec_driver_sql(f"EXPLAIN {compiled.string}", params))
            assert index in plan and "updated_idx" not in plan and "created_idx" not in plan, plan
