"""Campaigns API on the embedded database: CRUD, draft-only status, events, tenant isolation."""

from __future__ import annotations

import json

from sqlalchemy import select

from crm_events.tables import event_tables
from crm_testing.apps import ServiceHarness


def create(svc: ServiceHarness, tenant: str, **body: object) -> dict:
    resp = svc.client.post("/v1/campaigns", json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_create_read_update_delete(campaigns_service: ServiceHarness) -> None:
    svc = campaigns_service
    resp = svc.client.post("/v1/campaigns", json={
        "name": " Spring sale ", "subject": "20% off", "body": "  <p>Hi</p>\n", "from_name": "Shop",
        "from_email": "News@Shop.example",
    }, headers=svc.headers("a"))
    assert resp.status_code == 201
    body = resp.get_json()
    assert (body["name"], body["status"], body["from_email"]) == ("Spring sale", "draft", "news@shop.example")
    assert body["body"] == "  <p>Hi</p>\n"  # content is kept verbatim
    assert resp.headers["Location"] == f"/v1/campaigns/{body['id']}"
    got = svc.client.get(f"/v1/campaigns/{body['id']}", headers=svc.headers("a"))
    assert got.status_code == 200 and got.headers["ETag"] == '"1"'
    patched = svc.client.patch(f"/v1/campaigns/{body['id']}", json={"subject": "25% off", "from_name": None},
                               headers={**svc.headers("a"), "If-Match": '"1"'})
    assert patched.status_code == 200
    assert (patched.get_json()["subject"], patched.get_json()["from_name"], patched.get_json()["version"]) == ("25% off", None, 2)
    assert svc.client.delete(f"/v1/campaigns/{body['id']}", headers=svc.headers("a")).status_code == 204
    assert svc.client.get(f"/v1/campaigns/{body['id']}", headers=svc.headers("a")).status_code == 404


def test_validation_names_fields(campaigns_service: ServiceHarness) -> None:
    c, h = campaigns_service.client, campaigns_service.headers("a")
    missing = c.post("/v1/campaigns", json={"subject": "no name"}, headers=h)
    assert missing.status_code == 422 and set(missing.get_json()["errors"]) == {"name"}
    bad = c.post("/v1/campaigns", json={"name": "  ", "from_email": "nope", "subject": "x" * 301, "body": 3}, headers=h)
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"name", "from_email", "subject", "body"}
    rec = create(campaigns_service, "a", name="ok")
    nulled = c.patch(f"/v1/campaigns/{rec['id']}", json={"name": None}, headers=h)
    assert nulled.status_code == 422 and set(nulled.get_json()["errors"]) == {"name"}


def test_only_drafts_until_sending_ships(campaigns_service: ServiceHarness) -> None:
    svc = campaigns_service
    c, h = svc.client, svc.headers("a")
    for status in ("sending", "sent", "scheduled", "whatever"):
        resp = c.post("/v1/campaigns", json={"name": "Blast", "status": status}, headers=h)
        assert resp.status_code == 422, status
        assert "sending is not available yet" in resp.get_json()["errors"]["status"][0]
    assert create(svc, "a", name="Explicit draft", status="draft")["status"] == "draft"
    rec = create(svc, "a", name="Draft")
    send = c.patch(f"/v1/campaigns/{rec['id']}", json={"status": "sending"}, headers=h)
    assert send.status_code == 422 and "status" in send.get_json()["errors"]
    assert c.get(f"/v1/campaigns/{rec['id']}", headers=h).get_json()["status"] == "draft"


def test_sort_by_name_and_pages(campaigns_service: ServiceHarness) -> None:
    svc = campaigns_service
    for name in ("Charlie", "Alpha", "Bravo"):  # one case: collations differ on case between engines
        create(svc, "a", name=name)
    c, h = svc.client, svc.headers("a")
    page1 = c.get("/v1/campaigns?sort=-name&limit=2", headers=h).get_json()
    page2 = c.get(f"/v1/campaigns?sort=-name&limit=2&cursor={page1['next_cursor']}", headers=h).get_json()
    names = [x["name"] for x in page1["data"] + page2["data"]]
    assert names == ["Charlie", "Bravo", "Alpha"] and page2["next_cursor"] is None
    assert c.get("/v1/campaigns?sort=subject", headers=h).status_code == 400


def test_stale_if_match_is_412(campaigns_service: ServiceHarness) -> None:
    svc = campaigns_service
    rec = create(svc, "a", name="N")
    h = {**svc.headers("a"), "If-Match": '"1"'}
    assert svc.client.patch(f"/v1/campaigns/{rec['id']}", json={"name": "M"}, headers=h).status_code == 200
    stale = svc.client.patch(f"/v1/campaigns/{rec['id']}", json={"name": "O"}, headers=h)
    assert stale.status_code == 412 and stale.get_json()["current"]["name"] == "M"


def test_events_are_written_to_the_outbox(campaigns_service: ServiceHarness) -> None:
    svc = campaigns_service
    rec = create(svc, "a", name="Ev")
    svc.client.patch(f"/v1/campaigns/{rec['id']}", json={"name": "Ev2"}, headers=svc.headers("a"))
    svc.client.delete(f"/v1/campaigns/{rec['id']}", headers=svc.headers("a"))
    outbox = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.event_type, outbox.c.topic, outbox.c.key, outbox.c.payload)
                            .order_by(outbox.c.id)).all()
    assert [r.event_type for r in rows] == ["crm.campaign.created", "crm.campaign.updated", "crm.campaign.deleted"]
    assert {r.topic for r in rows} == {"crm.campaigns.campaign"}
    assert {r.key for r in rows} == {rec["id"]}
    updated = json.loads(rows[1].payload)
    assert updated["data"]["changes"] == {"name": ["Ev", "Ev2"]} and updated["tenant_id"] == str(svc.tenant("a"))


def test_tenant_isolation(campaigns_service: ServiceHarness) -> None:
    svc = campaigns_service
    c, hb = svc.client, svc.headers("b")
    rec = create(svc, "a", name="Secret launch")
    assert c.get(f"/v1/campaigns/{rec['id']}", headers=hb).status_code == 404
    assert c.get("/v1/campaigns", headers=hb).get_json()["data"] == []
    assert c.patch(f"/v1/campaigns/{rec['id']}", json={"name": "X"}, headers=hb).status_code == 404
    assert c.delete(f"/v1/campaigns/{rec['id']}", headers=hb).status_code == 404
    assert c.get(f"/v1/campaigns/{rec['id']}", headers=svc.headers("a")).get_json()["name"] == "Secret launch"


def test_auth_and_scopes(campaigns_service: ServiceHarness) -> None:
    svc = campaigns_service
    c = svc.client
    assert c.get("/v1/campaigns").status_code == 401
    read_only = svc.headers("a", scopes=("campaigns:read",))
    assert c.get("/v1/campaigns", headers=read_only).status_code == 200
    assert c.post("/v1/campaigns", json={"name": "x"}, headers=read_only).status_code == 403
    assert c.get("/v1/campaigns", headers=svc.headers("a", scopes=("tickets:read",))).status_code == 403
