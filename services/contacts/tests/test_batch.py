"""POST /v1/contacts/batch and /v1/companies/batch: per-item results in order, savepoints,
upsert matching, the 100-item cap, Idempotency-Key and tenant isolation."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from crm_testing.apps import ServiceHarness


def batch(svc: ServiceHarness, tenant: str, collection: str, mode: str, items: list[Any], **headers: str) -> Any:
    return svc.client.post(f"/v1/{collection}/batch", json={"mode": mode, "items": items},
                           headers={**svc.headers(tenant), **headers})


def results(resp: Any) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["results"]


def events(svc: ServiceHarness, event_type: str) -> list[dict[str, Any]]:
    outbox = svc.metadata.tables["outbox"]
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.event_type == event_type).order_by(outbox.c.id)).all()
    return [json.loads(r.payload) for r in rows]


def test_create_reports_each_item_in_order_and_keeps_the_good_ones(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    out = results(batch(svc, "a", "contacts", "create", [
        {"email": "ada@example.com", "first_name": "Ada"},
        {"email": "not-an-email"},
        {"email": "ADA@example.com"},  # the first item's email: 409 naming it
        "not an object",
        {"first_name": "Grace", "phone": "12"},  # phone the service refuses
        {"last_name": "Hopper", "tags": ["x"]},
    ]))
    assert [r["status"] for r in out] == [201, 422, 409, 422, 422, 201]
    assert out[1]["errors"] == {"email": ["Not a valid email address."]}
    assert out[2]["existing_id"] == out[0]["id"] and "email" in out[2]["errors"]
    assert "phone" in out[4]["errors"]
    assert out[0]["errors"] is None and out[1]["id"] is None
    listed = svc.client.get("/v1/contacts?sort=created_at", headers=svc.headers("a")).get_json()["data"]
    assert [c["id"] for c in listed] == [out[0]["id"], out[5]["id"]]
    # Events only for what committed: a failed item's savepoint took its event with it.
    assert [e["subject"] for e in events(svc, "crm.contact.created")] == [out[0]["id"], out[5]["id"]]


def test_update_with_versions_and_missing_records(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    made = results(batch(svc, "a", "contacts", "create", [{"email": "a@x.com"}, {"email": "b@x.com"}]))
    a_id, b_id = made[0]["id"], made[1]["id"]
    out = results(batch(svc, "a", "contacts", "update", [
        {"id": a_id, "version": 1, "first_name": "A"},
        {"id": b_id, "version": 7, "first_name": "B"},  # stale: 412
        {"id": "0190b7c4-0000-7000-8000-000000000000", "first_name": "C"},  # unknown: 404
        {"id": "nope", "first_name": "D"},  # malformed: 404 like any unknown id
        {"first_name": "E"},  # no id: 422
        {"id": a_id, "lifecycle_stage": "martian"},  # invalid field: 422
        {"id": b_id, "email": "A@x.com"},  # another contact's email: 409
        {"id": a_id, "version": 0},
    ]))
    assert [r["status"] for r in out] == [200, 412, 404, 404, 422, 422, 409, 422]
    assert out[4]["errors"] == {"id": ["Required: the id of the record to update."]}
    assert "lifecycle_stage" in out[5]["errors"] and "version" in out[7]["errors"]
    assert out[1]["id"] == b_id and out[6]["existing_id"] == a_id
    got = svc.client.get(f"/v1/contacts/{a_id}", headers=svc.headers("a")).get_json()
    assert got["first_name"] == "A" and got["version"] == 2
    assert svc.client.get(f"/v1/contacts/{b_id}", headers=svc.headers("a")).get_json()["version"] == 1
    updated = events(svc, "crm.contact.updated")
    assert len(updated) == 1 and updated[0]["data"]["changes"] == {"first_name": [None, "A"]}


def test_upsert_matches_contacts_by_email_and_companies_by_domain(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    first = results(batch(svc, "a", "contacts", "upsert", [
        {"email": "Lin@Example.com", "first_name": "Lin"},
        {"email": "lin@example.com", "last_name": "Yu"},  # the item before it: now an update
        {"first_name": "No email"},  # nothing to match: creates
    ]))
    assert [r["status"] for r in first] == [201, 200, 201]
    assert first[0]["id"] == first[1]["id"]
    again = results(batch(svc, "a", "contacts", "upsert", [{"email": "LIN@example.com", "source": "fair"}]))
    assert again == [{"status": 200, "id": first[0]["id"], "errors": None}]
    lin = svc.client.get(f"/v1/contacts/{first[0]['id']}", headers=svc.headers("a")).get_json()
    assert (lin["first_name"], lin["last_name"], lin["source"]) == ("Lin", "Yu", "fair")

    companies = results(batch(svc, "a", "companies", "upsert", [
        {"name": "Acme", "domain": "acme.com"},
        {"name": "Acme Inc", "domain": "https://www.ACME.com/about"},  # same domain once normalised
        {"name": "Bad", "domain": "not a domain"},
        {"name": "Initech"},
    ]))
    assert [r["status"] for r in companies] == [201, 200, 422, 201]
    assert companies[0]["id"] == companies[1]["id"] and "domain" in companies[2]["errors"]
    acme = svc.client.get(f"/v1/companies/{companies[0]['id']}", headers=svc.headers("a")).get_json()
    assert (acme["name"], acme["domain"]) == ("Acme Inc", "acme.com")


def test_items_are_capped_at_100_and_the_mode_is_checked(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    for items in ([], [{"first_name": f"P{i}"} for i in range(101)]):
        resp = batch(svc, "a", "contacts", "create", items)
        assert resp.status_code == 422 and "items" in resp.get_json()["errors"]
    bad_mode = batch(svc, "a", "contacts", "destroy", [{"first_name": "X"}])
    assert bad_mode.status_code == 422 and "mode" in bad_mode.get_json()["errors"]
    not_a_list = svc.client.post("/v1/contacts/batch", json={"mode": "create", "items": {"a": 1}}, headers=svc.headers("a"))
    assert not_a_list.status_code == 422 and "items" in not_a_list.get_json()["errors"]
    full = results(batch(svc, "a", "contacts", "create", [{"first_name": f"P{i}"} for i in range(100)]))
    assert len(full) == 100 and {r["status"] for r in full} == {201}
    read_only = svc.client.post("/v1/contacts/batch", json={"mode": "create", "items": [{"first_name": "X"}]},
                                headers=svc.headers("a", scopes=["contacts:read"]))
    assert read_only.status_code == 403


def test_idempotency_key_replays_the_first_answer(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    items = [{"email": "once@example.com"}, {"first_name": "Twice?"}]
    first = batch(svc, "a", "contacts", "create", items, **{"Idempotency-Key": "batch-1"})
    again = batch(svc, "a", "contacts", "create", items, **{"Idempotency-Key": "batch-1"})
    assert results(first) == results(again) and again.headers.get("Idempotent-Replayed") == "true"
    assert len(svc.client.get("/v1/contacts", headers=svc.headers("a")).get_json()["data"]) == 2
    other = batch(svc, "a", "contacts", "create", [{"first_name": "Other"}], **{"Idempotency-Key": "batch-1"})
    assert other.status_code == 422


def test_tenant_b_can_neither_update_nor_match_tenant_a(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    a = results(batch(svc, "a", "contacts", "create", [{"email": "secret@a.com", "first_name": "A"}]))[0]
    acme = results(batch(svc, "a", "companies", "create", [{"name": "Acme", "domain": "acme.com"}]))[0]
    out = results(batch(svc, "b", "contacts", "update", [{"id": a["id"], "first_name": "Hacked"},
                                                         {"id": a["id"], "version": 1, "first_name": "Hacked"}]))
    assert [r["status"] for r in out] == [404, 404]
    # b's upsert with a's email creates b's own contact; it neither matches nor conflicts with a's.
    upsert = results(batch(svc, "b", "contacts", "upsert", [{"email": "secret@a.com", "first_name": "B"}]))[0]
    assert upsert["status"] == 201 and upsert["id"] != a["id"]
    created = results(batch(svc, "b", "contacts", "create", [{"email": "secret@a.com"}]))[0]
    assert created["status"] == 409 and created["existing_id"] == upsert["id"]
    linked = results(batch(svc, "b", "contacts", "create", [{"first_name": "L", "company_id": acme["id"]}]))[0]
    assert linked["status"] == 422 and "company_id" in linked["errors"]
    b_company = results(batch(svc, "b", "companies", "upsert", [{"name": "Mine", "domain": "www.acme.com"}]))[0]
    assert b_company["status"] == 201 and b_company["id"] != acme["id"]
    got = svc.client.get(f"/v1/contacts/{a['id']}", headers=svc.headers("a")).get_json()
    assert got["first_name"] == "A" and got["version"] == 1
    assert svc.client.get(f"/v1/companies/{acme['id']}", headers=svc.headers("a")).get_json()["name"] == "Acme"


def test_delete_reports_each_item_and_checks_versions(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    made = results(batch(svc, "a", "contacts", "create", [{"email": f"d{n}@example.com"} for n in range(4)]))
    ids = [r["id"] for r in made]
    out = results(batch(svc, "a", "contacts", "delete", [
        {"id": ids[0]}, {"id": ids[1], "version": 1}, {"id": ids[2], "version": 9}, {"id": ids[0]},
        {"id": "not-a-uuid"}, {}, {"id": ids[3], "first_name": "x"}]))
    assert [r["status"] for r in out] == [204, 204, 412, 404, 404, 422, 422]
    assert out[0]["id"] == ids[0] and out[0]["errors"] is None
    assert out[6]["errors"] == {"first_name": ["A delete item carries only id and version."]}
    left = [c["id"] for c in svc.client.get("/v1/contacts?sort=created_at", headers=svc.headers("a")).get_json()["data"]]
    assert left == [ids[2], ids[3]]
    assert sorted(e["subject"] for e in events(svc, "crm.contact.deleted")) == sorted(ids[:2])
    acme = results(batch(svc, "a", "companies", "create", [{"name": "Acme"}]))[0]
    assert results(batch(svc, "a", "companies", "delete", [{"id": acme["id"]}]))[0]["status"] == 204
    assert svc.client.get(f"/v1/companies/{acme['id']}", headers=svc.headers("a")).status_code == 404


def test_tenant_b_cannot_delete_tenant_a_records_in_a_batch(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    a = results(batch(svc, "a", "contacts", "create", [{"email": "keep@a.com"}]))[0]
    acme = results(batch(svc, "a", "companies", "create", [{"name": "Acme"}]))[0]
    assert [r["status"] for r in results(batch(svc, "b", "contacts", "delete", [{"id": a["id"]}]))] == [404]
    assert [r["status"] for r in results(batch(svc, "b", "companies", "delete", [{"id": acme["id"]}]))] == [404]
    assert svc.client.get(f"/v1/contacts/{a['id']}", headers=svc.headers("a")).status_code == 200
    assert svc.client.get(f"/v1/companies/{acme['id']}", headers=svc.headers("a")).status_code == 200
