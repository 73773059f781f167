"""/v1/webhooks on the embedded database: conventions of API.md, URL safety, the secret, isolation."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from webhook_helpers import create_webhook

from crm_events.tables import event_tables
from crm_testing.apps import ServiceHarness

PUBLIC = "https://93.184.216.34/hooks"  # a public address literal: no DNS needed


def test_create_read_update_delete(automation_service: ServiceHarness) -> None:
    svc = automation_service
    resp = svc.client.post("/v1/webhooks", json={"url": PUBLIC, "event_types": ["crm.contact.created", "crm.deal.*"],
                                                 "description": "CRM sync"}, headers=svc.headers("a"))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["active"] is True and body["event_types"] == ["crm.contact.created", "crm.deal.*"]
    assert resp.headers["Location"] == f"/v1/webhooks/{body['id']}" and resp.headers["ETag"] == '"1"'
    h = svc.headers("a")
    got = svc.client.get(f"/v1/webhooks/{body['id']}", headers=h)
    assert got.status_code == 200 and got.get_json()["description"] == "CRM sync"
    patched = svc.client.patch(f"/v1/webhooks/{body['id']}", json={"active": False, "event_types": ["*"]},
                               headers={**h, "If-Match": '"1"'})
    assert patched.status_code == 200
    assert patched.get_json()["active"] is False and patched.get_json()["version"] == 2
    listed = svc.client.get("/v1/webhooks", headers=h).get_json()
    assert [w["id"] for w in listed["data"]] == [body["id"]] and listed["next_cursor"] is None
    assert svc.client.delete(f"/v1/webhooks/{body['id']}", headers=h).status_code == 204
    assert svc.client.get(f"/v1/webhooks/{body['id']}", headers=h).status_code == 404


def test_secret_is_shown_only_in_the_create_answer(automation_service: ServiceHarness) -> None:
    svc, h = automation_service, automation_service.headers("a")
    created = create_webhook(svc, "a", PUBLIC)
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    answers = [
        svc.client.get(f"/v1/webhooks/{created['id']}", headers=h),
        svc.client.get("/v1/webhooks", headers=h),
        svc.client.patch(f"/v1/webhooks/{created['id']}", json={"description": "x"}, headers=h),
    ]
    for resp in answers:
        assert resp.status_code == 200
        assert "secret" not in resp.get_data(as_text=True) and secret not in resp.get_data(as_text=True)
    # a client cannot choose the secret either
    bad = svc.client.post("/v1/webhooks", json={"url": PUBLIC, "event_types": ["*"], "secret": "whsec_x"}, headers=h)
    assert bad.status_code == 422 and "secret" in bad.get_json()["errors"]
    svc.client.delete(f"/v1/webhooks/{created['id']}", headers=h)
    outbox = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        payloads = conn.execute(select(outbox.c.payload)).scalars().all()
    assert len(payloads) == 3 and not any(secret in p or '"secret"' in p for p in payloads)


def test_events_are_written_to_the_outbox(automation_service: ServiceHarness) -> None:
    svc = automation_service
    rec = create_webhook(svc, "a", PUBLIC, ["crm.deal.*"])
    svc.client.patch(f"/v1/webhooks/{rec['id']}", json={"event_types": ["*"]}, headers=svc.headers("a"))
    svc.client.delete(f"/v1/webhooks/{rec['id']}", headers=svc.headers("a"))
    outbox = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.event_type, outbox.c.topic, outbox.c.key, outbox.c.payload)
                            .order_by(outbox.c.id)).all()
    assert [r.event_type for r in rows] == ["crm.webhook.created", "crm.webhook.updated", "crm.webhook.deleted"]
    assert {r.topic for r in rows} == {"crm.automation.webhook"} and {r.key for r in rows} == {rec["id"]}
    updated = json.loads(rows[1].payload)["data"]
    assert updated["changes"] == {"event_types": [["crm.deal.*"], ["*"]]} and updated["url"] == PUBLIC


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://169.254.169.254/",
                                 "http://localhost:8080/hook", "https://[::1]/x", "http://192.168.0.10/x"])
def test_private_urls_are_refused_by_default(automation_service: ServiceHarness, url: str) -> None:
    svc = automation_service
    resp = svc.client.post("/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=svc.headers("a"))
    assert resp.status_code == 422 and resp.content_type == "application/problem+json"
    assert list(resp.get_json()["errors"]) == ["url"] and "public" in resp.get_json()["errors"]["url"][0]
    # moving an existing webhook to a private address is refused the same way
    rec = create_webhook(svc, "a", PUBLIC)
    patched = svc.client.patch(f"/v1/webhooks/{rec['id']}", json={"url": url}, headers=svc.headers("a"))
    assert patched.status_code == 422 and list(patched.get_json()["errors"]) == ["url"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://169.254.169.254/"])
def test_private_urls_are_allowed_when_the_operator_says_so(open_service: ServiceHarness, url: str) -> None:
    assert create_webhook(open_service, "a", url)["url"] == url


def test_validation_names_the_fields(automation_service: ServiceHarness) -> None:
    c, h = automation_service.client, automation_service.headers("a")
    bad = c.post("/v1/webhooks", data="{nope", headers={**h, "Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.content_type == "application/problem+json"
    missing = c.post("/v1/webhooks", json={}, headers=h)
    assert missing.status_code == 422 and set(missing.get_json()["errors"]) == {"url", "event_types"}
    cases = [
        ({"url": "ftp://93.184.216.34/x", "event_types": ["*"]}, "url"),
        ({"url": "not a url", "event_types": ["*"]}, "url"),
        ({"url": "https:///path-only", "event_types": ["*"]}, "url"),
        ({"url": PUBLIC, "event_types": []}, "event_types"),
        ({"url": PUBLIC, "event_types": "crm.contact.created"}, "event_types"),
        ({"url": PUBLIC, "event_types": ["Contact Created"]}, "event_types.0"),
        ({"url": PUBLIC, "event_types": ["crm.*.created"]}, "event_types.0"),
        ({"url": PUBLIC, "event_types": ["*", "*"]}, "event_types"),
        ({"url": PUBLIC, "event_types": ["*"], "description": "x" * 501}, "description"),
        ({"url": PUBLIC, "event_types": ["*"], "active": "maybe"}, "active"),
    ]
    for body, field in cases:
        resp = c.post("/v1/webhooks", json=body, headers=h)
        assert resp.status_code == 422, (body, resp.get_json())
        assert field in resp.get_json()["errors"], (body, resp.get_json())
    rec = create_webhook(automation_service, "a", PUBLIC)
    nulled = c.patch(f"/v1/webhooks/{rec['id']}", json={"url": None, "event_types": None}, headers=h)
    assert nulled.status_code == 422 and set(nulled.get_json()["errors"]) == {"url", "event_types"}


def test_stale_if_match_is_412_with_current_record(automation_service: ServiceHarness) -> None:
    svc = automation_service
    rec = create_webhook(svc, "a", PUBLIC)
    h = {**svc.headers("a"), "If-Match": '"1"'}
    assert svc.client.patch(f"/v1/webhooks/{rec['id']}", json={"description": "B"}, headers=h).status_code == 200
    stale = svc.client.patch(f"/v1/webhooks/{rec['id']}", json={"description": "C"}, headers=h)
    assert stale.status_code == 412 and stale.get_json()["current"]["description"] == "B"
    assert "secret" not in stale.get_json()["current"]
    assert svc.client.delete(f"/v1/webhooks/{rec['id']}", headers=h).status_code == 412


def test_tenant_isolation_of_subscriptions(automation_service: ServiceHarness) -> None:
    svc = automation_service
    rec = create_webhook(svc, "a", PUBLIC, description="A's")
    c, hb = svc.client, svc.headers("b")
    assert c.get(f"/v1/webhooks/{rec['id']}", headers=hb).status_code == 404
    assert c.get("/v1/webhooks", headers=hb).get_json()["data"] == []
    assert c.patch(f"/v1/webhooks/{rec['id']}", json={"description": "X"}, headers=hb).status_code == 404
    assert c.delete(f"/v1/webhooks/{rec['id']}", headers=hb).status_code == 404
    assert c.post(f"/v1/webhooks/{rec['id']}/test", headers=hb).status_code == 404
    assert c.get(f"/v1/webhooks/{rec['id']}/deliveries", headers=hb).status_code == 404
    assert c.get(f"/v1/webhooks/{rec['id']}", headers=svc.headers("a")).get_json()["description"] == "A's"


def test_auth_required_and_scopes(automation_service: ServiceHarness) -> None:
    c = automation_service.client
    assert c.get("/v1/webhooks").status_code == 401
    assert c.get("/v1/webhooks", headers={"X-Internal-Token": "forged", "X-Tenant-Id": "x"}).status_code == 401
    read_only = automation_service.headers("a", scopes=("automation:read",))
    assert c.get("/v1/webhooks", headers=read_only).status_code == 200
    assert c.post("/v1/webhooks", json={"url": PUBLIC, "event_types": ["*"]}, headers=read_only).status_code == 403
    rec = create_webhook(automation_service, "a", PUBLIC)
    assert c.post(f"/v1/webhooks/{rec['id']}/test", headers=read_only).status_code == 403
    other_area = automation_service.headers("a", scopes=("contacts:read", "contacts:write"))
    assert c.get(f"/v1/webhooks/{rec['id']}/deliveries", headers=other_area).status_code == 403


def test_idempotent_create_replays_the_first_answer(automation_service: ServiceHarness) -> None:
    svc = automation_service
    h = {**svc.headers("a"), "Idempotency-Key": "wh-1"}
    body = {"url": PUBLIC, "event_types": ["*"]}
    first = svc.client.post("/v1/webhooks", json=body, headers=h)
    again = svc.client.post("/v1/webhooks", json=body, headers=h)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert len(svc.client.get("/v1/webhooks", headers=svc.headers("a")).get_json()["data"]) == 1


def test_openapi_documents_the_delivery_routes(automation_service: ServiceHarness) -> None:
    paths = automation_service.client.get("/openapi.json").get_json()["paths"]
    assert {"/v1/webhooks", "/v1/webhooks/{record_id}", "/v1/webhooks/{record_id}/deliveries",
            "/v1/webhooks/{record_id}/deliveries/{delivery_id}", "/v1/webhooks/{record_id}/deliveries/{delivery_id}/retry",
            "/v1/webhooks/{record_id}/test"} <= set(paths)


def test_webhooks_are_admin_only(automation_service: ServiceHarness) -> None:
    import uuid

    from crm_core.context import Principal
    from crm_core.internal_token import HEADER

    svc = automation_service
    body = {"url": "https://example.com/hook", "events": ["crm.contact.created"]}
    for roles in (("member",), ("viewer",)):
        assert svc.client.get("/v1/webhooks", headers=svc.headers("a", roles=roles)).status_code == 403
        assert svc.client.post("/v1/webhooks", json=body, headers=svc.headers("a", roles=roles)).status_code == 403
    tenant = svc.tenant("a")

    def key(scopes: tuple[str, ...]) -> dict[str, str]:
        principal = Principal(tenant, None, ("api_key",), scopes, api_key_id=uuid.uuid4())
        return {HEADER: svc.signer.mint(principal, "automation")}

    assert svc.client.get("/v1/webhooks", headers=key(("automation:read", "automation:write"))).status_code == 403
    assert svc.client.get("/v1/webhooks", headers=key(("automation:read", "admin"))).status_code == 200
    assert svc.client.get("/v1/webhooks", headers=svc.headers("a", roles=("admin",))).status_code == 200
