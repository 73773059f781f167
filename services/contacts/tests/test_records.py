"""Contacts and companies in full: normalisation, links, settings, isolation of companies."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from crm_events.tables import event_tables
from crm_testing.apps import ServiceHarness


def post(svc: ServiceHarness, tenant: str, path: str, body: dict, **kw: Any) -> Any:
    return svc.client.post(path, json=body, headers={**svc.headers(tenant, **kw)})


def test_contact_fields_are_normalised(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    resp = post(svc, "a", "/v1/contacts", {
        "first_name": " Ada ", "email": "ADA@Example.com", "emails": ["Ada@Example.com", "ada@home.org", "ADA@home.org"],
        "phone": "+44 20 7946 0958", "lifecycle_stage": "lead", "lead_status": "new", "source": "web",
        "tags": ["vip", " vip", "beta"], "address": {"city": "London", "country": "gb"},
        "owner_id": "0190b9a4-0000-7000-8000-000000000001",
    })
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["first_name"] == "Ada"
    assert body["emails"] == ["ada@home.org"]  # the primary email isn't repeated
    assert body["phone"] == "+442079460958"
    assert body["tags"] == ["vip", "beta"]
    assert body["address"]["country"] == "GB"
    assert body["lead_score"] == 0 and body["last_contacted_at"] is None and body["merged_ids"] == []
    assert "search_text" not in body


def test_bad_fields_are_422_naming_them(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    resp = post(svc, "a", "/v1/contacts", {"email": "a@b.co", "lifecycle_stage": "hot", "lead_status": "x",
                                          "tags": "vip", "emails": ["nope"], "address": {"country": "Germany"}})
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"lifecycle_stage", "lead_status", "tags", "emails.0", "address.country"}
    phone = post(svc, "a", "/v1/contacts", {"email": "a@b.co", "phone": "030 1234567"})
    assert phone.status_code == 422 and "phone" in phone.get_json()["errors"]


def test_tenant_default_region_reads_national_numbers(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    viewer = svc.client.patch("/v1/settings/contacts", json={"default_region": "DE"},
                              headers=svc.headers("a", roles=("member",)))
    assert viewer.status_code == 403
    resp = svc.client.patch("/v1/settings/contacts", json={"default_region": "de"}, headers=svc.headers("a"))
    assert resp.status_code == 200 and resp.get_json() == {"default_region": "DE"}
    assert post(svc, "a", "/v1/contacts", {"email": "a@b.co", "phone": "030 1234567"}).get_json()["phone"] == "+49301234567"
    # b has no region: the same national number is refused there
    assert post(svc, "b", "/v1/contacts", {"email": "a@b.co", "phone": "030 1234567"}).status_code == 422
    assert svc.client.get("/v1/settings/contacts", headers=svc.headers("b")).get_json() == {"default_region": None}
    bad = svc.client.patch("/v1/settings/contacts", json={"default_region": "Germany"}, headers=svc.headers("a"))
    assert bad.status_code == 422 and "default_region" in bad.get_json()["errors"]


def test_company_domain_is_normalised_and_unique(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    acme = post(svc, "a", "/v1/companies", {"name": "Acme", "domain": "https://www.Acme.com/about", "size": 50,
                                            "industry": "Tools"}).get_json()
    assert acme["domain"] == "acme.com"
    dup = post(svc, "a", "/v1/companies", {"name": "Acme 2", "domain": "ACME.com"})
    assert dup.status_code == 409 and dup.get_json()["existing_id"] == acme["id"]
    assert post(svc, "a", "/v1/companies", {"name": "X", "domain": "not a domain"}).status_code == 422
    assert post(svc, "a", "/v1/companies", {"domain": "x.com"}).status_code == 422  # name is required
    assert post(svc, "b", "/v1/companies", {"name": "Acme", "domain": "acme.com"}).status_code == 201


def test_contacts_link_to_companies(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    acme = post(svc, "a", "/v1/companies", {"name": "Acme"}).get_json()
    globex = post(svc, "a", "/v1/companies", {"name": "Globex"}).get_json()
    c = post(svc, "a", "/v1/contacts", {"email": "x@acme.com", "company_id": acme["id"]}).get_json()
    assert c["company_ids"] == [acme["id"]] and c["company_name"] == "Acme"
    linked = svc.client.patch(f"/v1/contacts/{c['id']}", json={"company_ids": [acme["id"], globex["id"]]},
                              headers=svc.headers("a")).get_json()
    assert linked["company_id"] == acme["id"] and linked["company_ids"] == [acme["id"], globex["id"]]
    unlinked = svc.client.patch(f"/v1/contacts/{c['id']}", json={"company_ids": [globex["id"]]},
                                headers=svc.headers("a")).get_json()
    assert unlinked["company_id"] is None and unlinked["company_ids"] == [globex["id"]]
    missing = post(svc, "a", "/v1/contacts", {"email": "y@acme.com", "company_id": "0190b9a4-0000-7000-8000-000000000009"})
    assert missing.status_code == 422 and "company_id" in missing.get_json()["errors"]
    # another tenant's company is as unknown as a made-up id
    theirs = post(svc, "b", "/v1/contacts", {"email": "y@acme.com", "company_id": acme["id"]})
    assert theirs.status_code == 422


def test_companies_are_isolated_between_tenants(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    acme = post(svc, "a", "/v1/companies", {"name": "Acme", "domain": "acme.com"}).get_json()
    item, hb = f"/v1/companies/{acme['id']}", svc.headers("b")
    assert svc.client.get(item, headers=hb).status_code == 404
    assert svc.client.patch(item, json={"name": "Mine"}, headers=hb).status_code == 404
    assert svc.client.delete(item, headers=hb).status_code == 404
    assert svc.client.get("/v1/companies", headers=hb).get_json()["data"] == []
    assert svc.client.get(item, headers=svc.headers("a")).get_json()["name"] == "Acme"


def test_company_update_emits_changes(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    acme = post(svc, "a", "/v1/companies", {"name": "Acme"}).get_json()
    svc.client.patch(f"/v1/companies/{acme['id']}", json={"size": 10, "tags": ["key"]}, headers=svc.headers("a"))
    outbox = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.id)).all()
    assert [r.event_type for r in rows] == ["crm.company.created", "crm.company.updated"]
    assert json.loads(rows[1].payload)["data"]["changes"] == {"size": [None, 10], "tags": [[], ["key"]]}
