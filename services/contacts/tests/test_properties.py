"""Custom fields: definitions, checked values, archiving, built-in keys refused, isolation."""

from __future__ import annotations

from typing import Any

from crm_testing.apps import ServiceHarness


def define(svc: ServiceHarness, tenant: str, object_: str = "contacts", **body: Any) -> dict:
    resp = svc.client.post(f"/v1/properties/{object_}", json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def post(svc: ServiceHarness, tenant: str, path: str, body: dict) -> Any:
    return svc.client.post(path, json=body, headers=svc.headers(tenant))


def test_every_type_is_checked_and_normalised(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    define(svc, "a", key="plan", label="Plan", type="enum", options=["free", "pro", "team"])
    define(svc, "a", key="seats", label="Seats", type="number")
    define(svc, "a", key="vip", label="VIP", type="bool")
    define(svc, "a", key="renewal", label="Renewal", type="date")
    define(svc, "a", key="demo_at", label="Demo", type="datetime")
    define(svc, "a", key="modules", label="Modules", type="multi_enum", options=["crm", "mail", "cms"])
    define(svc, "a", key="billing_email", label="Billing email", type="email")
    define(svc, "a", key="mobile", label="Mobile", type="phone")
    define(svc, "a", key="site", label="Site", type="url")
    define(svc, "a", key="arr", label="ARR", type="money")
    define(svc, "a", key="notes", label="Notes", type="text")
    good = {"plan": "pro", "seats": 12, "vip": True, "renewal": "2027-01-31", "demo_at": "2026-12-01T10:00:00+01:00",
            "modules": ["crm", "mail", "crm"], "billing_email": "Billing@Acme.COM", "mobile": "+49 30 1234567",
            "site": "https://acme.com", "arr": {"amount": "1200.5", "currency": "EUR"}, "notes": "likes tea"}
    resp = post(svc, "a", "/v1/contacts", {"email": "p@acme.com", "properties": good})
    assert resp.status_code == 201, resp.get_json()
    props = resp.get_json()["properties"]
    assert props["demo_at"] == "2026-12-01T09:00:00Z"
    assert props["modules"] == ["crm", "mail"]
    assert props["billing_email"] == "billing@acme.com"
    assert props["mobile"] == "+49301234567"
    assert props["arr"] == {"amount": "1200.50", "currency": "EUR"}
    bad = {"plan": "gold", "seats": "12", "vip": "yes", "renewal": "31/01/2027", "demo_at": "2026-12-01T10:00:00",
           "modules": ["crm", "erp"], "billing_email": "nope", "mobile": "12", "site": "ftp://x", "arr": {"amount": 3.5},
           "notes": 7, "nope": 1}
    resp = post(svc, "a", "/v1/contacts", {"email": "q@acme.com", "properties": bad})
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {f"properties.{k}" for k in bad}


def test_required_property_and_patch_merges_keys(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    define(svc, "a", key="plan", label="Plan", type="enum", options=["free", "pro"], required=True)
    define(svc, "a", key="seats", label="Seats", type="number")
    missing = post(svc, "a", "/v1/contacts", {"email": "x@a.com"})
    assert missing.status_code == 422 and "properties.plan" in missing.get_json()["errors"]
    rec = post(svc, "a", "/v1/contacts", {"email": "x@a.com", "properties": {"plan": "free"}}).get_json()
    patched = svc.client.patch(f"/v1/contacts/{rec['id']}", json={"properties": {"seats": 3}}, headers=svc.headers("a"))
    assert patched.get_json()["properties"] == {"plan": "free", "seats": 3}
    cleared = svc.client.patch(f"/v1/contacts/{rec['id']}", json={"properties": {"plan": None}}, headers=svc.headers("a"))
    assert cleared.status_code == 422 and cleared.get_json()["errors"] == {"properties.plan": ["Required."]}
    dropped = svc.client.patch(f"/v1/contacts/{rec['id']}", json={"properties": {"seats": None}}, headers=svc.headers("a"))
    assert dropped.get_json()["properties"] == {"plan": "free"}


def test_archiving_hides_values_and_restoring_brings_them_back(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    define(svc, "a", key="plan", label="Plan", type="text")
    rec = post(svc, "a", "/v1/contacts", {"email": "x@a.com", "properties": {"plan": "pro"}}).get_json()
    assert svc.client.delete("/v1/properties/contacts/plan", headers=svc.headers("a")).status_code == 204
    got = svc.client.get(f"/v1/contacts/{rec['id']}", headers=svc.headers("a")).get_json()
    assert got["properties"] == {}
    # an archived key can't be written either, and is listed as archived
    resp = svc.client.patch(f"/v1/contacts/{rec['id']}", json={"properties": {"plan": "x"}}, headers=svc.headers("a"))
    assert resp.status_code == 422
    listed = svc.client.get("/v1/properties/contacts?archived=true", headers=svc.headers("a")).get_json()["data"]
    assert [p["key"] for p in listed] == ["plan"] and listed[0]["archived"] is True
    restored = svc.client.patch("/v1/properties/contacts/plan", json={"archived": False}, headers=svc.headers("a"))
    assert restored.status_code == 200 and restored.get_json()["archived"] is False
    got = svc.client.get(f"/v1/contacts/{rec['id']}", headers=svc.headers("a")).get_json()
    assert got["properties"] == {"plan": "pro"}


def test_definitions_are_validated(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    for key in ("email", "lead_score", "created_at", "and", "Plan", "9lives"):
        resp = post(svc, "a", "/v1/properties/contacts", {"key": key, "label": "X", "type": "text"})
        assert resp.status_code == 422 and "key" in resp.get_json()["errors"], key
    assert post(svc, "a", "/v1/properties/companies", {"key": "name", "label": "X", "type": "text"}).status_code == 422
    assert post(svc, "a", "/v1/properties/contacts", {"key": "k", "label": "X", "type": "enum"}).status_code == 422
    assert post(svc, "a", "/v1/properties/contacts", {"key": "k", "label": "X", "type": "blob"}).status_code == 422
    assert post(svc, "a", "/v1/properties/deals", {"key": "k", "label": "X", "type": "text"}).status_code == 404
    define(svc, "a", key="k", label="X", type="text")
    dup = post(svc, "a", "/v1/properties/contacts", {"key": "k", "label": "Y", "type": "text"})
    assert dup.status_code == 409 and dup.get_json()["existing_id"]
    # type and key can't change
    resp = svc.client.patch("/v1/properties/contacts/k", json={"type": "number"}, headers=svc.headers("a"))
    assert resp.status_code == 422


def test_company_properties_are_separate(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    define(svc, "a", "companies", key="tier", label="Tier", type="enum", options=["gold", "silver"])
    assert post(svc, "a", "/v1/contacts", {"email": "x@a.com", "properties": {"tier": "gold"}}).status_code == 422
    resp = post(svc, "a", "/v1/companies", {"name": "Acme", "properties": {"tier": "gold"}})
    assert resp.status_code == 201 and resp.get_json()["properties"] == {"tier": "gold"}


def test_definitions_are_isolated_between_tenants(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    define(svc, "a", key="plan", label="Plan", type="text")
    # b sees none of a's fields, can't write values to them, and may define the same key itself
    assert svc.client.get("/v1/properties/contacts", headers=svc.headers("b")).get_json()["data"] == []
    assert svc.client.get("/v1/properties/contacts/plan", headers=svc.headers("b")).status_code == 404
    assert svc.client.patch("/v1/properties/contacts/plan", json={"label": "x"}, headers=svc.headers("b")).status_code == 404
    assert svc.client.delete("/v1/properties/contacts/plan", headers=svc.headers("b")).status_code == 404
    assert post(svc, "b", "/v1/contacts", {"email": "x@b.com", "properties": {"plan": "pro"}}).status_code == 422
    define(svc, "b", key="plan", label="Plan", type="number")
    assert post(svc, "b", "/v1/contacts", {"email": "x@b.com", "properties": {"plan": 3}}).status_code == 201
    assert svc.client.get("/v1/properties/contacts/plan", headers=svc.headers("a")).get_json()["type"] == "text"
