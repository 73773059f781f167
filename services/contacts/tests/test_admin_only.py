"""Tenant administration in contacts: GDPR export and erase, custom field definitions, scoring rules and settings
take an owner or admin user, or an API key granted the `admin` scope."""

from __future__ import annotations

import uuid

from crm_core.context import Principal
from crm_core.internal_token import HEADER
from crm_core.scopes import ALL_SCOPES
from crm_testing.apps import ServiceHarness


def _api_key(svc: ServiceHarness, tenant: str, *extra_scopes: str) -> dict[str, str]:
    tid = svc.tenant(tenant)
    principal = Principal(tid, None, (), (*ALL_SCOPES, *extra_scopes), api_key_id=uuid.uuid4())
    return {HEADER: svc.signer.mint(principal, "contacts")}


def _admin_calls(svc: ServiceHarness) -> list[tuple[str, str, dict | None]]:
    owner = svc.headers("a")
    contact = svc.client.post("/v1/contacts", json={"email": "erase-me@example.com"}, headers=owner).get_json()
    assert svc.client.post("/v1/properties/contacts", json={"key": "plan", "label": "Plan", "type": "text"},
                           headers=owner).status_code == 201
    rule = svc.client.post("/v1/scoring-rules", json={"name": "Any", "filter": "email is not null", "points": 5},
                           headers=owner).get_json()
    return [
        ("POST", "/v1/properties/contacts", {"key": "tier", "label": "Tier", "type": "text"}),
        ("PATCH", "/v1/properties/contacts/plan", {"label": "Plan!"}),
        ("DELETE", "/v1/properties/contacts/plan", None),
        ("POST", "/v1/scoring-rules", {"name": "More", "filter": "email is not null", "points": 1}),
        ("PATCH", f"/v1/scoring-rules/{rule['id']}", {"points": 7}),
        ("DELETE", f"/v1/scoring-rules/{rule['id']}", None),
        ("PATCH", "/v1/settings/contacts", {"default_region": "DE"}),
        ("GET", f"/v1/contacts/{contact['id']}/export", None),
        ("POST", f"/v1/contacts/{contact['id']}/erase", None),
    ]


def test_members_and_plain_api_keys_are_refused(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    calls = _admin_calls(svc)
    for headers in (svc.headers("a", roles=("member",)), _api_key(svc, "a")):
        for method, path, body in calls:
            resp = svc.client.open(path, method=method, json=body, headers=headers)
            assert resp.status_code == 403, (method, path, resp.get_json())
            assert resp.content_type == "application/problem+json"
    # reads stay open to members: they need field definitions to show records
    member = svc.headers("a", roles=("member",))
    assert svc.client.get("/v1/properties/contacts", headers=member).status_code == 200
    assert svc.client.get("/v1/scoring-rules", headers=member).status_code == 200
    assert svc.client.get("/v1/settings/contacts", headers=member).status_code == 200


def test_admins_and_admin_api_keys_may(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    calls = _admin_calls(svc)
    for i, (method, path, body) in enumerate(calls):
        headers = svc.headers("a", roles=("admin",)) if i % 2 else _api_key(svc, "a", "admin")
        resp = svc.client.open(path, method=method, json=body, headers=headers)
        assert resp.status_code in (200, 201, 204), (method, path, resp.get_json())
