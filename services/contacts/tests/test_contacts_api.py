"""Contacts API on the embedded database: conventions of API.md and tenant isolation."""

from __future__ import annotations

from crm_testing.apps import ServiceHarness


def create(svc: ServiceHarness, tenant: str, **body: object) -> dict:
    resp = svc.client.post("/v1/contacts", json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_create_read_update_delete(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    resp = svc.client.post("/v1/contacts", json={"first_name": "Ada", "email": " ADA@Example.com "},
                           headers=svc.headers("a"))
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["email"] == "ada@example.com"
    assert resp.headers["Location"] == f"/v1/contacts/{body['id']}"
    assert resp.headers["ETag"] == '"1"'
    got = svc.client.get(f"/v1/contacts/{body['id']}", headers=svc.headers("a"))
    assert got.status_code == 200 and got.get_json()["first_name"] == "Ada"
    patched = svc.client.patch(f"/v1/contacts/{body['id']}", json={"last_name": "Lovelace"},
                               headers={**svc.headers("a"), "If-Match": '"1"'})
    assert patched.status_code == 200 and patched.get_json()["version"] == 2
    assert svc.client.delete(f"/v1/contacts/{body['id']}", headers=svc.headers("a")).status_code == 204
    assert svc.client.get(f"/v1/contacts/{body['id']}", headers=svc.headers("a")).status_code == 404


def test_duplicate_email_is_409_naming_existing(contacts_service: ServiceHarness) -> None:
    first = create(contacts_service, "a", email="x@example.com")
    resp = contacts_service.client.post("/v1/contacts", json={"email": "X@example.com"},
                                        headers=contacts_service.headers("a"))
    assert resp.status_code == 409
    assert resp.content_type == "application/problem+json"
    assert resp.get_json()["existing_id"] == first["id"]
    # the same email in another tenant is a different contact
    create(contacts_service, "b", email="x@example.com")


def test_stale_if_match_is_412_with_current_record(contacts_service: ServiceHarness) -> None:
    rec = create(contacts_service, "a", first_name="A")
    h = {**contacts_service.headers("a"), "If-Match": '"1"'}
    assert contacts_service.client.patch(f"/v1/contacts/{rec['id']}", json={"first_name": "B"}, headers=h).status_code == 200
    stale = contacts_service.client.patch(f"/v1/contacts/{rec['id']}", json={"first_name": "C"}, headers=h)
    assert stale.status_code == 412
    assert stale.get_json()["current"]["first_name"] == "B"


def test_validation_and_malformed_json(contacts_service: ServiceHarness) -> None:
    c, h = contacts_service.client, contacts_service.headers("a")
    bad = c.post("/v1/contacts", data="{not json", headers={**h, "Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.content_type == "application/problem+json"
    invalid = c.post("/v1/contacts", json={"email": "nope", "first_name": ""}, headers=h)
    assert invalid.status_code == 422
    assert set(invalid.get_json()["errors"]) == {"email", "first_name"}
    empty = c.post("/v1/contacts", json={}, headers=h)
    assert empty.status_code == 422 and "email" in empty.get_json()["errors"]


def test_cursor_list_is_stable_under_inserts(contacts_service: ServiceHarness) -> None:
    for i in range(5):
        create(contacts_service, "a", first_name=f"P{i}")
    c, h = contacts_service.client, contacts_service.headers("a")
    page1 = c.get("/v1/contacts?limit=2&sort=first_name", headers=h).get_json()
    create(contacts_service, "a", first_name="A-inserted-before")  # sorts before the cursor
    page2 = c.get(f"/v1/contacts?limit=2&sort=first_name&cursor={page1['next_cursor']}", headers=h).get_json()
    page3 = c.get(f"/v1/contacts?limit=2&sort=first_name&cursor={page2['next_cursor']}", headers=h).get_json()
    names = [d["first_name"] for d in page1["data"] + page2["data"] + page3["data"]]
    assert names == ["P0", "P1", "P2", "P3", "P4"]
    assert page3["next_cursor"] is None


def test_list_parameters_are_validated(contacts_service: ServiceHarness) -> None:
    c, h = contacts_service.client, contacts_service.headers("a")
    assert c.get("/v1/contacts?limit=201", headers=h).status_code == 400
    assert c.get("/v1/contacts?sort=password", headers=h).status_code == 400
    assert c.get("/v1/contacts?cursor=garbage", headers=h).status_code == 400


def test_idempotency_key_replays_first_answer(contacts_service: ServiceHarness) -> None:
    c = contacts_service.client
    h = {**contacts_service.headers("a"), "Idempotency-Key": "k-1"}
    first = c.post("/v1/contacts", json={"first_name": "Once"}, headers=h)
    again = c.post("/v1/contacts", json={"first_name": "Once"}, headers=h)
    assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert c.post("/v1/contacts", json={"first_name": "Twice"}, headers=h).status_code == 422
    listed = c.get("/v1/contacts", headers=contacts_service.headers("a")).get_json()["data"]
    assert len(listed) == 1
    # another tenant's identical key is its own key
    other = c.post("/v1/contacts", json={"first_name": "Once"}, headers={**contacts_service.headers("b"), "Idempotency-Key": "k-1"})
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]


def test_tenant_isolation(contacts_service: ServiceHarness) -> None:
    c = contacts_service.client
    rec = create(contacts_service, "a", email="secret@a.com", first_name="Secret")
    hb = contacts_service.headers("b")
    assert c.get(f"/v1/contacts/{rec['id']}", headers=hb).status_code == 404
    assert c.get("/v1/contacts", headers=hb).get_json()["data"] == []
    assert c.patch(f"/v1/contacts/{rec['id']}", json={"first_name": "X"}, headers=hb).status_code == 404
    assert c.delete(f"/v1/contacts/{rec['id']}", headers=hb).status_code == 404
    # B creating the same email succeeds, so A's email cannot be inferred through a 409
    assert c.post("/v1/contacts", json={"email": "secret@a.com"}, headers=hb).status_code == 201
    assert c.get(f"/v1/contacts/{rec['id']}", headers=contacts_service.headers("a")).get_json()["first_name"] == "Secret"


def test_auth_required_and_scopes(contacts_service: ServiceHarness) -> None:
    c = contacts_service.client
    assert c.get("/v1/contacts").status_code == 401
    assert c.get("/v1/contacts", headers={"X-Internal-Token": "forged", "X-Tenant-Id": "x"}).status_code == 401
    read_only = contacts_service.headers("a", scopes=("contacts:read",))
    assert c.get("/v1/contacts", headers=read_only).status_code == 200
    assert c.post("/v1/contacts", json={"first_name": "x"}, headers=read_only).status_code == 403


def test_events_are_written_to_the_outbox(contacts_service: ServiceHarness) -> None:
    rec = create(contacts_service, "a", first_name="Ev")
    contacts_service.client.patch(f"/v1/contacts/{rec['id']}", json={"first_name": "Ev2"}, headers=contacts_service.headers("a"))
    from sqlalchemy import select

    from crm_events.tables import event_tables

    outbox = event_tables(contacts_service.metadata).outbox
    with contacts_service.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.event_type, outbox.c.topic, outbox.c.key).order_by(outbox.c.id)).all()
    assert [r.event_type for r in rows] == ["crm.contact.created", "crm.contact.updated"]
    assert {r.topic for r in rows} == {"crm.contacts.contact"}
    assert {r.key for r in rows} == {rec["id"]}
