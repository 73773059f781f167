"""Writes addressed to a merged-away id never act on the survivor: 409 problem+json naming
`merged_into`. Reads keep following the merge."""

from __future__ import annotations

from typing import Any

import pytest

from crm_testing.apps import ServiceHarness


def post(svc: ServiceHarness, path: str, **body: Any) -> dict[str, Any]:
    resp = svc.client.post(path, json=body, headers=svc.headers("a"))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def merge(svc: ServiceHarness, collection: str, primary: dict, secondary: dict) -> dict[str, Any]:
    resp = svc.client.post(f"/v1/{collection}/merge", json={"primary_id": primary["id"], "secondary_id": secondary["id"]},
                           headers=svc.headers("a"))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def assert_merged_into(resp: Any, survivor: dict) -> None:
    assert resp.status_code == 409 and resp.content_type == "application/problem+json", resp.get_json()
    body = resp.get_json()
    assert body["merged_into"] == survivor["id"] and "id" in body["errors"]


def writes_to_the_secondary(svc: ServiceHarness, collection: str) -> None:
    c, h = svc.client, svc.headers("a")
    primary = post(svc, f"/v1/{collection}", name="Acme") if collection == "companies" else post(
        svc, "/v1/contacts", first_name="Ada", email="ada@x.com")
    secondary = post(svc, f"/v1/{collection}", name="Acme Ltd") if collection == "companies" else post(
        svc, "/v1/contacts", first_name="Augusta", email="al@x.com")
    note = c.post(f"/v1/{collection}/{primary['id']}/activities", json={"type": "note", "body": "kept"}, headers=h)
    assert note.status_code == 201
    survivor = merge(svc, collection, primary, secondary)
    old = f"/v1/{collection}/{secondary['id']}"
    field = {"industry": "Tools"} if collection == "companies" else {"last_name": "Byron"}

    assert_merged_into(c.patch(old, json=field, headers=h), primary)
    assert_merged_into(c.delete(old, headers=h), primary)
    assert_merged_into(c.post(f"{old}/activities", json={"type": "note", "body": "lost?"}, headers=h), primary)
    activity = note.get_json()["id"]
    assert_merged_into(c.patch(f"{old}/activities/{activity}", json={"body": "changed"}, headers=h), primary)
    assert_merged_into(c.delete(f"{old}/activities/{activity}", headers=h), primary)
    if collection == "contacts":
        assert_merged_into(c.post(f"{old}/erase", headers=h), primary)
    assert_merged_into(c.post(f"/v1/{collection}/{secondary['id']}/unmerge", json={"merged_id": primary["id"]},
                              headers=h), primary)

    # Nothing happened to the survivor or its timeline; reads still follow the merge.
    now = c.get(f"/v1/{collection}/{primary['id']}", headers=h)
    assert now.status_code == 200 and now.get_json() == survivor
    assert c.get(old, headers=h).get_json()["id"] == primary["id"]
    timeline = c.get(f"{old}/activities", headers=h).get_json()["data"]
    assert [a["body"] for a in timeline] == ["kept"]
    # The survivor itself takes writes as usual.
    assert c.patch(f"/v1/{collection}/{primary['id']}", json=field, headers=h).status_code == 200
    assert c.delete(f"/v1/{collection}/{primary['id']}", headers=h).status_code == 204
    # Deleted survivor: the old id no longer resolves, and a write to it is a plain 404.
    assert c.delete(old, headers=h).status_code == 404


@pytest.mark.parametrize("collection", ["contacts", "companies"])
def test_writes_to_a_merged_away_id_are_refused(contacts_service: ServiceHarness, collection: str) -> None:
    writes_to_the_secondary(contacts_service, collection)


def test_writes_to_a_merged_away_id_are_refused_on_postgres(pg_contacts: ServiceHarness) -> None:
    writes_to_the_secondary(pg_contacts, "contacts")


def test_batch_update_of_a_merged_away_id_is_refused(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    primary = post(svc, "/v1/contacts", first_name="Ada")
    secondary = post(svc, "/v1/contacts", first_name="Augusta")
    merge(svc, "contacts", primary, secondary)
    resp = svc.client.post("/v1/contacts/batch", json={"mode": "update", "items": [
        {"id": secondary["id"], "last_name": "Byron"}]}, headers=svc.headers("a"))
    assert resp.status_code == 200, resp.get_json()
    [item] = resp.get_json()["results"]
    assert item["status"] == 409 and item["merged_into"] == primary["id"] and "id" in item["errors"]
    assert svc.client.get(f"/v1/contacts/{primary['id']}", headers=svc.headers("a")).get_json()["last_name"] is None
