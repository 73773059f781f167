"""/v1/saved-views: a user's own views of the contacts and companies tables. Another user of the
same tenant neither lists, reads, changes nor deletes them (404, as for a missing id), another
tenant never; an API key has none; filters and sorts are checked against the table's fields."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from crm_core.context import Principal
from crm_core.internal_token import HEADER
from crm_core.scopes import ALL_SCOPES
from crm_testing.apps import ServiceHarness

ALICE = uuid.UUID("00000000-0000-7000-8000-00000000a11c")
BOB = uuid.UUID("00000000-0000-7000-8000-000000000b0b")


def as_user(svc: ServiceHarness, user: uuid.UUID, tenant: str = "a", **kw: Any) -> dict[str, str]:
    return svc.headers(tenant, user_id=user, **kw)


def create(svc: ServiceHarness, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = svc.client.post("/v1/saved-views", json={"object": "contacts", "name": "Leads", **body}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Location"] == f"/v1/saved-views/{resp.get_json()['id']}"
    assert resp.headers["ETag"] == '"1"'
    return resp.get_json()


def names(svc: ServiceHarness, headers: dict[str, str], query: str = "") -> list[str]:
    resp = svc.client.get(f"/v1/saved-views{query}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return [v["name"] for v in resp.get_json()["data"]]


def test_create_read_list_update_delete(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    svc.client.post("/v1/properties/contacts", json={"key": "plan", "label": "Plan", "type": "enum", "options": ["free", "pro"]},
                    headers=as_user(svc, ALICE))
    alice = as_user(svc, ALICE)
    view = create(svc, alice, q="  ada ", filter="lifecycle_stage = 'lead' and plan in ('pro')", sort="-updated_at,last_name",
                  columns=["name", "email", "plan"])
    assert {k: view[k] for k in ("object", "name", "q", "filter", "sort", "columns", "version")} == {
        "object": "contacts", "name": "Leads", "q": "ada", "filter": "lifecycle_stage = 'lead' and plan in ('pro')",
        "sort": "-updated_at,last_name", "columns": ["name", "email", "plan"], "version": 1}
    assert view["user_id"] == str(ALICE)
    create(svc, alice, object="companies", name="Big ones", filter="size >= 500")
    create(svc, alice, name="All")
    assert names(svc, alice) == ["All", "Big ones", "Leads"]
    assert names(svc, alice, "?object=contacts") == ["All", "Leads"]
    assert names(svc, alice, "?object=companies") == ["Big ones"]
    assert svc.client.get("/v1/saved-views?object=deals", headers=alice).status_code == 422

    got = svc.client.get(f"/v1/saved-views/{view['id']}", headers=alice)
    assert got.status_code == 200 and got.get_json() == view and got.headers["ETag"] == '"1"'
    stale = svc.client.patch(f"/v1/saved-views/{view['id']}", json={"name": "Hot leads"}, headers={**alice, "If-Match": '"7"'})
    assert stale.status_code == 412
    patched = svc.client.patch(f"/v1/saved-views/{view['id']}", json={"name": "Hot leads", "q": "", "columns": []},
                               headers={**alice, "If-Match": '"1"'})
    assert patched.status_code == 200, patched.get_json()
    assert (patched.get_json()["name"], patched.get_json()["q"], patched.get_json()["columns"], patched.get_json()["version"]) == (
        "Hot leads", None, [], 2)
    assert svc.client.delete(f"/v1/saved-views/{view['id']}", headers=alice).status_code == 204
    assert svc.client.get(f"/v1/saved-views/{view['id']}", headers=alice).status_code == 404
    assert names(svc, alice, "?object=contacts") == ["All"]


def test_filters_sorts_names_and_columns_are_checked(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    alice = as_user(svc, ALICE)
    post = lambda body: svc.client.post("/v1/saved-views", json={"object": "contacts", "name": "V", **body}, headers=alice)  # noqa: E731
    bad_filter = post({"filter": "shoe_size > 3"})
    assert bad_filter.status_code == 422 and "shoe_size" in bad_filter.get_json()["errors"]["filter"][0]
    assert post({"filter": "email = "}).status_code == 422
    assert post({"object": "companies", "filter": "lifecycle_stage = 'lead'"}).status_code == 422  # a contacts field
    bad_sort = post({"sort": "-shoe_size"})
    assert bad_sort.status_code == 422 and "sort" in bad_sort.get_json()["errors"]
    assert post({"columns": ["email; drop table"]}).status_code == 422
    for body in ({"object": "deals"}, {"name": ""}, {"name": None}, {"extra": 1}):
        assert svc.client.post("/v1/saved-views", json={"object": "contacts", "name": "V", **body},
                               headers=alice).status_code == 422, body
    assert post({"filter": "", "sort": "last_name"}).status_code == 201
    dup = post({})
    assert dup.status_code == 409 and dup.get_json()["errors"] == {"name": ["You already have a view with this name."]}
    assert svc.client.post("/v1/saved-views", json={"object": "companies", "name": "V"}, headers=alice).status_code == 201
    # The same name is fine for another user
    assert svc.client.post("/v1/saved-views", json={"object": "contacts", "name": "V"},
                           headers=as_user(svc, BOB)).status_code == 201


def test_another_user_of_the_tenant_neither_sees_nor_changes_it(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    alice, bob = as_user(svc, ALICE), as_user(svc, BOB, roles=("admin",))
    view = create(svc, alice, filter="lifecycle_stage = 'lead'")
    assert names(svc, bob) == [] and names(svc, bob, "?object=contacts") == []
    url = f"/v1/saved-views/{view['id']}"
    assert svc.client.get(url, headers=bob).status_code == 404
    assert svc.client.patch(url, json={"name": "Mine now"}, headers=bob).status_code == 404
    assert svc.client.delete(url, headers=bob).status_code == 404
    assert svc.client.get(url, headers=alice).get_json() == view  # untouched


@pytest.mark.parametrize("user", [ALICE, None], ids=["same-user-id", "any-user"])
def test_another_tenant_never(contacts_service: ServiceHarness, user: uuid.UUID | None) -> None:
    svc = contacts_service
    view = create(svc, as_user(svc, ALICE))
    other = svc.headers("b", user_id=user) if user else svc.headers("b")
    url = f"/v1/saved-views/{view['id']}"
    assert names(svc, other) == []
    assert svc.client.get(url, headers=other).status_code == 404
    assert svc.client.patch(url, json={"name": "x"}, headers=other).status_code == 404
    assert svc.client.delete(url, headers=other).status_code == 404
    assert names(svc, as_user(svc, ALICE)) == ["Leads"]


def test_api_keys_have_no_saved_views_and_scopes_apply(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    tid = svc.tenant("a")
    key = {HEADER: svc.signer.mint(Principal(tid, None, (), tuple(ALL_SCOPES), api_key_id=uuid.uuid4()), svc.settings.service)}
    assert svc.client.get("/v1/saved-views", headers=key).status_code == 403
    assert svc.client.post("/v1/saved-views", json={"object": "contacts", "name": "K"}, headers=key).status_code == 403
    read_only = as_user(svc, ALICE, scopes=("contacts:read",))
    assert svc.client.get("/v1/saved-views", headers=read_only).status_code == 200
    assert svc.client.post("/v1/saved-views", json={"object": "contacts", "name": "R"}, headers=read_only).status_code == 403
    assert svc.client.get("/v1/saved-views", headers={}).status_code == 401


def test_on_postgresql_with_rls(pg_contacts: ServiceHarness) -> None:
    svc = pg_contacts
    view = create(svc, as_user(svc, ALICE), filter="email is not null", sort="-created_at")
    assert names(svc, as_user(svc, ALICE)) == ["Leads"]
    assert names(svc, as_user(svc, BOB)) == []
    assert svc.client.get(f"/v1/saved-views/{view['id']}", headers=svc.headers("b", user_id=ALICE)).status_code == 404
