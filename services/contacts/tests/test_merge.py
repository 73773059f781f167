"""Merging contacts and companies, old ids that keep resolving, unmerge within 30 days, isolation."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

import contacts
from contacts.app import create_app
from contacts.models import Activity, Contact, Merge, metadata
from crm_core.context import tenant_context
from crm_events.tables import event_tables
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database


def post(svc: ServiceHarness, path: str, tenant: str = "a", **body: Any) -> dict[str, Any]:
    resp = svc.client.post(path, json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def get(svc: ServiceHarness, path: str, tenant: str = "a") -> dict[str, Any]:
    resp = svc.client.get(path, headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def merge(svc: ServiceHarness, primary: dict, secondary: dict, tenant: str = "a", collection: str = "contacts",
          key: str | None = None) -> Any:
    headers = {**svc.headers(tenant), **({"Idempotency-Key": key} if key else {})}
    return svc.client.post(f"/v1/{collection}/merge", json={"primary_id": primary["id"], "secondary_id": secondary["id"]},
                           headers=headers)


def merged(svc: ServiceHarness, primary: dict, secondary: dict, collection: str = "contacts") -> dict[str, Any]:
    resp = merge(svc, primary, secondary, collection=collection)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def unmerge(svc: ServiceHarness, record: dict, merged_id: str, tenant: str = "a", collection: str = "contacts") -> Any:
    return svc.client.post(f"/v1/{collection}/{record['id']}/unmerge", json={"merged_id": merged_id},
                           headers=svc.headers(tenant))


def events(svc: ServiceHarness, event_type: str) -> list[dict[str, Any]]:
    outbox = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        payloads = conn.execute(select(outbox.c.payload).where(outbox.c.event_type == event_type)
                                .order_by(outbox.c.id)).scalars().all()
    return [json.loads(p) for p in payloads]


def add_activity(svc: ServiceHarness, contact: dict | None = None, company: dict | None = None) -> uuid.UUID:
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        activity = Activity(type="note", body="hello", contact_id=uuid.UUID(contact["id"]) if contact else None,
                            company_id=uuid.UUID(company["id"]) if company else None)
        session.add(activity)
        session.flush()
        return activity.id


def activity_links(svc: ServiceHarness, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        rows = session.execute(select(Activity.id, Activity.contact_id, Activity.company_id).where(Activity.id.in_(ids)))
        return {r.id: (str(r.contact_id) if r.contact_id else None, str(r.company_id) if r.company_id else None)
                for r in rows}


def test_merge_field_rules_and_events(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    assert svc.client.post("/v1/properties/contacts", json={"key": "plan", "label": "Plan", "type": "text"},
                           headers=svc.headers("a")).status_code == 201
    acme = post(svc, "/v1/companies", name="Acme")
    beta = post(svc, "/v1/companies", name="Beta")
    primary = post(svc, "/v1/contacts", first_name="Ada", email="ada@x.com", emails=["ada@home.org"], tags=["vip"],
                   company_ids=[beta["id"]])
    secondary = post(svc, "/v1/contacts", first_name="Augusta", last_name="Lovelace", email="al@x.com",
                     emails=["ada@home.org", "al@home.org"], phone="+442071234567", tags=["vip", "engines"],
                     company_id=acme["id"], lifecycle_stage="lead", source="import", properties={"plan": "pro"},
                     address={"city": "London"})
    body = merged(svc, primary, secondary)
    assert body["id"] == primary["id"] and body["version"] == primary["version"] + 1
    assert body["first_name"] == "Ada"  # the primary keeps its values
    assert (body["last_name"], body["phone"], body["lifecycle_stage"], body["source"]) == (
        "Lovelace", "+442071234567", "lead", "import")  # and takes the secondary's where empty
    assert body["email"] == "ada@x.com" and body["emails"] == ["ada@home.org", "al@x.com", "al@home.org"]
    assert body["tags"] == ["vip", "engines"] and body["address"]["city"] == "London"
    assert body["company_id"] == acme["id"] and set(body["company_ids"]) == {acme["id"], beta["id"]}
    assert body["properties"] == {"plan": "pro"} and body["merged_ids"] == [secondary["id"]]
    # The secondary id answers with the survivor; lists show the survivor only; its email is free.
    assert get(svc, f"/v1/contacts/{secondary['id']}") == body
    assert [c["id"] for c in get(svc, "/v1/contacts")["data"]] == [primary["id"]]
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:  # what `q=` searches
        assert "al@home.org" in session.scalars(select(Contact.search_text)).one()

    updated = [e for e in events(svc, "crm.contact.updated") if e["subject"] == primary["id"]][-1]
    assert updated["data"]["changes"]["last_name"] == [None, "Lovelace"]
    assert updated["data"]["changes"]["merged_ids"] == [[], [secondary["id"]]]
    [merge_event] = events(svc, "crm.contact.merged")
    assert merge_event["subject"] == primary["id"]
    assert merge_event["data"]["primary_id"] == primary["id"] and merge_event["data"]["secondary_id"] == secondary["id"]
    assert merge_event["data"]["primary"]["merged_ids"] == [secondary["id"]]
    [deleted] = events(svc, "crm.contact.deleted")
    assert deleted["subject"] == secondary["id"] and deleted["data"]["merged_into"] == primary["id"]
    post(svc, "/v1/contacts", email="al@x.com")  # the secondary's email is free again


def test_primary_without_email_takes_the_secondarys(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    primary = post(svc, "/v1/contacts", first_name="Ada")
    secondary = post(svc, "/v1/contacts", email="ada@x.com", emails=["a@y.com"])
    body = merged(svc, primary, secondary)
    assert body["email"] == "ada@x.com" and body["emails"] == ["a@y.com"]
    dup = svc.client.post("/v1/contacts", json={"email": "ada@x.com"}, headers=svc.headers("a"))
    assert dup.status_code == 409 and dup.get_json()["existing_id"] == primary["id"]
    back = unmerge(svc, primary, secondary["id"])
    assert back.status_code == 200, back.get_json()
    assert back.get_json()["primary"]["email"] is None and back.get_json()["restored"]["email"] == "ada@x.com"


def test_chains_resolve_and_unmerge_in_order(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    a = post(svc, "/v1/contacts", first_name="A")
    b = post(svc, "/v1/contacts", first_name="B", last_name="Bee")
    c = post(svc, "/v1/contacts", first_name="C", phone="+14155550100")
    merged(svc, b, c)
    body = merged(svc, a, b)
    assert body["merged_ids"] == [b["id"], c["id"]] and body["phone"] == "+14155550100"
    assert get(svc, f"/v1/contacts/{c['id']}")["id"] == a["id"]  # C -> B -> A
    # A merged-away id cannot take part in a merge (it would act on its survivor): 409 naming it.
    same = merge(svc, a, c)
    assert same.status_code == 409 and same.get_json()["merged_into"] == a["id"]
    assert merge(svc, c, b).get_json()["merged_into"] == a["id"]
    d = post(svc, "/v1/contacts", first_name="D")
    refused = merge(svc, c, d)
    assert refused.status_code == 409 and refused.get_json()["merged_into"] == a["id"]
    assert get(svc, f"/v1/contacts/{d['id']}")["merged_ids"] == []  # untouched
    assert merged(svc, a, d)["id"] == a["id"]
    # C came in through B: B must come back first.
    chained = unmerge(svc, a, c["id"])
    assert chained.status_code == 409 and b["id"] in chained.get_json()["detail"]
    restored = unmerge(svc, a, b["id"])
    assert restored.status_code == 200, restored.get_json()
    out = restored.get_json()
    assert out["restored"]["id"] == b["id"] and out["restored"]["merged_ids"] == [c["id"]]
    assert out["restored"]["version"] == b["version"] + 2  # B's merge of C, then the new life
    assert out["primary"]["merged_ids"] == [d["id"]] and out["primary"]["last_name"] is None
    assert get(svc, f"/v1/contacts/{c['id']}")["id"] == b["id"]  # C -> B again
    assert unmerge(svc, b, c["id"]).status_code == 200
    assert get(svc, f"/v1/contacts/{c['id']}")["phone"] == "+14155550100"


def test_activities_move_and_come_back(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    primary = post(svc, "/v1/contacts", first_name="P")
    secondary = post(svc, "/v1/contacts", first_name="S")
    own = add_activity(svc, primary)
    moved = [add_activity(svc, secondary), add_activity(svc, secondary)]
    merged(svc, primary, secondary)
    assert {link[0] for link in activity_links(svc, [own, *moved]).values()} == {primary["id"]}
    moves = events(svc, "crm.activity.updated")
    assert {e["subject"] for e in moves} == {str(i) for i in moved}
    assert all(e["data"]["changes"] == {"contact_id": [secondary["id"], primary["id"]]} for e in moves)
    assert all(e["data"]["contact_id"] == primary["id"] and e["data"]["version"] == 2 for e in moves)
    later = add_activity(svc, primary)
    assert unmerge(svc, primary, secondary["id"]).status_code == 200
    links = activity_links(svc, [own, later, *moved])
    assert links[own][0] == links[later][0] == primary["id"]
    assert links[moved[0]][0] == links[moved[1]][0] == secondary["id"]
    back = events(svc, "crm.activity.updated")[len(moves):]
    assert [e["data"]["changes"]["contact_id"] for e in back] == [[primary["id"], secondary["id"]]] * 2
    [event] = events(svc, "crm.contact.unmerged")
    assert event["data"]["primary_id"] == primary["id"] and event["data"]["secondary_id"] == secondary["id"]
    assert [e["subject"] for e in events(svc, "crm.contact.created")][-1] == secondary["id"]


def test_unmerge_restores_values_but_keeps_later_edits(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    primary = post(svc, "/v1/contacts", first_name="Ada", email="ada@x.com")
    secondary = post(svc, "/v1/contacts", first_name="Al", last_name="Lovelace", phone="+442071234567", email="al@x.com",
                     tags=["t"], lifecycle_stage="lead")
    body = merged(svc, primary, secondary)
    patched = svc.client.patch(f"/v1/contacts/{primary['id']}", json={"last_name": "King"},
                               headers={**svc.headers("a"), "If-Match": f'"{body["version"]}"'})
    assert patched.status_code == 200
    resp = unmerge(svc, primary, secondary["id"])
    assert resp.status_code == 200, resp.get_json()
    restored, now = resp.get_json()["restored"], resp.get_json()["primary"]
    assert now["last_name"] == "King"  # edited since the merge: kept
    assert (now["phone"], now["tags"], now["emails"], now["lifecycle_stage"], now["merged_ids"]) == (None, [], [], None, [])
    for field in ("first_name", "last_name", "phone", "email", "tags", "lifecycle_stage", "created_at"):
        assert restored[field] == secondary[field]
    assert restored["id"] == secondary["id"] and restored["version"] == secondary["version"] + 1
    assert get(svc, f"/v1/contacts/{secondary['id']}")["first_name"] == "Al"
    assert len(get(svc, "/v1/contacts")["data"]) == 2
    again = unmerge(svc, primary, secondary["id"])
    assert again.status_code == 422 and "merged_id" in again.get_json()["errors"]
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        assert session.scalars(select(Merge.undone_at)).one() is not None


def test_unmerge_refused_when_email_taken_or_too_late(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    primary = post(svc, "/v1/contacts", first_name="Ada", email="ada@x.com")
    secondary = post(svc, "/v1/contacts", first_name="Al", email="al@x.com")
    merged(svc, primary, secondary)
    # The merge put al@x.com among the primary's emails; someone else took it as a primary email.
    taker = post(svc, "/v1/contacts", email="al@x.com")
    taken = unmerge(svc, primary, secondary["id"])
    assert taken.status_code == 409 and taken.get_json()["existing_id"] == taker["id"]
    assert get(svc, f"/v1/contacts/{primary['id']}")["merged_ids"] == [secondary["id"]]  # nothing changed
    assert svc.client.delete(f"/v1/contacts/{taker['id']}", headers=svc.headers("a")).status_code == 204
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        session.execute(update(Merge).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=31)))
    late = unmerge(svc, primary, secondary["id"])
    assert late.status_code == 409 and "30 days" in late.get_json()["detail"]
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        session.execute(update(Merge).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=29)))
    assert unmerge(svc, primary, secondary["id"]).status_code == 200


def test_idempotent_merge(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    primary = post(svc, "/v1/contacts", first_name="P")
    secondary = post(svc, "/v1/contacts", first_name="S", last_name="Second")
    first = merge(svc, primary, secondary, key="merge-1")
    assert first.status_code == 200
    retry = merge(svc, primary, secondary, key="merge-1")
    assert retry.status_code == 200 and retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.get_json() == first.get_json()
    assert len(events(svc, "crm.contact.merged")) == 1
    # Without the key the same request is a new one: the secondary is merged away now.
    again = merge(svc, primary, secondary)
    assert again.status_code == 409 and again.get_json()["merged_into"] == primary["id"]
    other = post(svc, "/v1/contacts", first_name="O")
    assert merge(svc, primary, other, key="merge-1").status_code == 422  # same key, another body
    assert merge(svc, primary, primary).status_code == 422  # the same id twice


def test_request_validation(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    c, h = svc.client, svc.headers("a")
    one = post(svc, "/v1/contacts", first_name="One")
    same = c.post("/v1/contacts/merge", json={"primary_id": one["id"], "secondary_id": one["id"]}, headers=h)
    assert same.status_code == 422 and same.content_type == "application/problem+json"
    assert set(same.get_json()["errors"]) == {"secondary_id"}
    missing = c.post("/v1/contacts/merge", json={"primary_id": "nope"}, headers=h)
    assert missing.status_code == 422 and set(missing.get_json()["errors"]) == {"primary_id", "secondary_id"}
    assert c.post("/v1/contacts/merge", data="{", headers={**h, "Content-Type": "application/json"}).status_code == 400
    unknown = c.post("/v1/contacts/merge", json={"primary_id": one["id"], "secondary_id": str(uuid.uuid4())}, headers=h)
    assert unknown.status_code == 404
    assert unmerge(svc, one, "not-a-uuid").status_code == 422
    assert unmerge(svc, one, str(uuid.uuid4())).status_code == 422
    assert c.post(f"/v1/contacts/{uuid.uuid4()}/unmerge", json={"merged_id": one["id"]}, headers=h).status_code == 404
    read_only = svc.headers("a", scopes=["contacts:read"])
    assert c.post("/v1/contacts/merge", json={"primary_id": one["id"], "secondary_id": str(uuid.uuid4())},
                  headers=read_only).status_code == 403


def test_isolation(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    a1 = post(svc, "/v1/contacts", first_name="A1", email="same@x.com")
    a2 = post(svc, "/v1/contacts", first_name="A2")
    b1 = post(svc, "/v1/contacts", "b", first_name="B1", email="same@x.com")
    for primary, secondary in ((a1, a2), (b1, a1), (a1, b1)):
        resp = merge(svc, primary, secondary, tenant="b")
        assert resp.status_code == 404 and resp.content_type == "application/problem+json"
    assert get(svc, f"/v1/contacts/{a2['id']}")["first_name"] == "A2"  # untouched
    merged(svc, a1, a2)
    # b can neither follow a's merged id, nor unmerge on a's record, nor pull a's contact out of its own.
    assert svc.client.get(f"/v1/contacts/{a2['id']}", headers=svc.headers("b")).status_code == 404
    assert unmerge(svc, a1, a2["id"], tenant="b").status_code == 404
    assert unmerge(svc, b1, a2["id"], tenant="b").status_code == 422  # as for any id never merged into b1
    assert unmerge(svc, a1, a2["id"]).status_code == 200
    a3 = post(svc, "/v1/companies", name="Acme")
    b3 = post(svc, "/v1/companies", "b", name="Acme")
    assert merge(svc, b3, a3, tenant="b", collection="companies").status_code == 404
    assert merge(svc, a3, b3, collection="companies").status_code == 404


def company_merge_and_unmerge(svc: ServiceHarness) -> None:
    primary = post(svc, "/v1/companies", name="Acme", industry="Tools", tags=["x"])
    secondary = post(svc, "/v1/companies", name="ACME Corp", domain="acme.com", size=50, tags=["y"])
    other = post(svc, "/v1/companies", name="Other")
    head = post(svc, "/v1/contacts", first_name="H", company_id=secondary["id"])
    linked = post(svc, "/v1/contacts", first_name="L", company_id=other["id"], company_ids=[secondary["id"], primary["id"]])
    bystander = post(svc, "/v1/contacts", first_name="B", company_id=other["id"])
    on_company = add_activity(svc, company=secondary)
    seen = len(events(svc, "crm.contact.updated"))
    body = merged(svc, primary, secondary, collection="companies")
    assert (body["name"], body["domain"], body["industry"], body["size"]) == ("Acme", "acme.com", "Tools", 50)
    assert body["tags"] == ["x", "y"] and body["merged_ids"] == [secondary["id"]]
    assert get(svc, f"/v1/companies/{secondary['id']}")["id"] == primary["id"]
    moved_head = get(svc, f"/v1/contacts/{head['id']}")
    assert moved_head["company_id"] == primary["id"] and moved_head["company_ids"] == [primary["id"]]
    assert moved_head["company_name"] == "Acme"  # it named the company that went away
    moved_linked = get(svc, f"/v1/contacts/{linked['id']}")
    assert moved_linked["company_id"] == other["id"] and moved_linked["company_ids"] == [other["id"], primary["id"]]
    assert get(svc, f"/v1/contacts/{bystander['id']}")["version"] == bystander["version"]
    assert activity_links(svc, [on_company])[on_company][1] == primary["id"]
    changed = {e["subject"] for e in events(svc, "crm.contact.updated")[seen:]}
    assert changed == {head["id"], linked["id"]}
    [event] = events(svc, "crm.company.merged")
    assert event["data"]["secondary_id"] == secondary["id"] and event["data"]["primary"]["domain"] == "acme.com"

    resp = unmerge(svc, primary, secondary["id"], collection="companies")
    assert resp.status_code == 200, resp.get_json()
    restored = resp.get_json()["restored"]
    assert (restored["id"], restored["domain"], restored["name"]) == (secondary["id"], "acme.com", "ACME Corp")
    assert resp.get_json()["primary"]["domain"] is None and resp.get_json()["primary"]["tags"] == ["x"]
    back = get(svc, f"/v1/contacts/{head['id']}")
    assert (back["company_id"], back["company_ids"], back["company_name"]) == (
        head["company_id"], head["company_ids"], head["company_name"])
    assert get(svc, f"/v1/contacts/{linked['id']}")["company_ids"] == linked["company_ids"]
    assert activity_links(svc, [on_company])[on_company][1] == secondary["id"]
    assert [e["subject"] for e in events(svc, "crm.company.unmerged")] == [primary["id"]]


def test_company_merge_and_unmerge(contacts_service: ServiceHarness) -> None:
    company_merge_and_unmerge(contacts_service)


def test_company_unmerge_refused_when_domain_taken(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    primary = post(svc, "/v1/companies", name="Acme", domain="acme.com")
    secondary = post(svc, "/v1/companies", name="Acme EU", domain="acme.eu")
    merged(svc, primary, secondary, collection="companies")
    taker = post(svc, "/v1/companies", name="Squatter", domain="acme.eu")  # the domain was freed by the merge
    resp = unmerge(svc, primary, secondary["id"], collection="companies")
    assert resp.status_code == 409 and resp.get_json()["existing_id"] == taker["id"]


@pytest.mark.integration
def test_merge_and_unmerge_on_postgres(pg_admin_url: str, tmp_path: Path) -> None:
    owner_url, app_url = create_service_database(pg_admin_url, f"merge_{uuid.uuid4().hex[:8]}")
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path,
                       database_url=app_url, owner_url=owner_url)
    primary = post(svc, "/v1/contacts", first_name="Ada", email="ada@x.com")
    secondary = post(svc, "/v1/contacts", first_name="Al", last_name="Lovelace", email="al@x.com", tags=["t"])
    moved = add_activity(svc, secondary)
    body = merged(svc, primary, secondary)
    assert body["last_name"] == "Lovelace" and body["emails"] == ["al@x.com"] and body["merged_ids"] == [secondary["id"]]
    assert get(svc, f"/v1/contacts/{secondary['id']}")["id"] == primary["id"]
    assert svc.client.get(f"/v1/contacts/{secondary['id']}", headers=svc.headers("b")).status_code == 404
    assert merge(svc, primary, secondary, tenant="b").status_code == 404
    assert activity_links(svc, [moved])[moved][0] == primary["id"]
    resp = unmerge(svc, primary, secondary["id"])
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["restored"]["email"] == "al@x.com" and resp.get_json()["primary"]["emails"] == []
    assert activity_links(svc, [moved])[moved][0] == secondary["id"]
    company_merge_and_unmerge(svc)  # contacts linked through company_ids: JSONB containment here


def _merge_choosing(svc: ServiceHarness, primary: dict, secondary: dict, keep: list[str], tenant: str = "a",
                    collection: str = "contacts") -> Any:
    return svc.client.post(f"/v1/{collection}/merge", headers=svc.headers(tenant), json={
        "primary_id": primary["id"], "secondary_id": secondary["id"], "keep_from_secondary": keep})


def test_the_user_chooses_which_value_wins_field_by_field(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    assert svc.client.post("/v1/properties/contacts", json={"key": "plan", "label": "Plan", "type": "text"},
                           headers=svc.headers("a")).status_code == 201
    primary = post(svc, "/v1/contacts", first_name="Ada", last_name="Lovelace", email="ada@x.com", phone="+442071234567",
                   properties={"plan": "free"})
    secondary = post(svc, "/v1/contacts", first_name="Augusta", last_name="King", email="augusta@x.com",
                     lifecycle_stage="customer", properties={"plan": "pro"})
    resp = _merge_choosing(svc, primary, secondary, ["first_name", "email", "phone", "properties.plan"])
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    # chosen: the secondary's, even its empty phone; not chosen: the primary's, filled where empty
    assert (body["first_name"], body["last_name"], body["phone"], body["lifecycle_stage"]) == ("Augusta", "Lovelace", None,
                                                                                               "customer")
    assert body["email"] == "augusta@x.com" and body["emails"] == ["ada@x.com"]  # no address is lost
    assert body["properties"] == {"plan": "pro"}
    assert get(svc, "/v1/contacts?q=ada")["data"][0]["id"] == primary["id"]  # found by the kept address
    # the undo brings both back as they were
    back = unmerge(svc, primary, secondary["id"])
    assert back.status_code == 200, back.get_json()
    now, restored = back.get_json()["primary"], back.get_json()["restored"]
    assert (now["first_name"], now["email"], now["phone"], now["emails"], now["properties"]) == (
        "Ada", "ada@x.com", "+442071234567", [], {"plan": "free"})
    assert (restored["first_name"], restored["email"]) == ("Augusta", "augusta@x.com")


def test_a_choice_names_fields_a_merge_can_take(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    one, two = post(svc, "/v1/contacts", first_name="One"), post(svc, "/v1/contacts", first_name="Two")
    for keep in (["id"], ["version"], ["merged_ids"], ["properties."], ["nope"]):
        resp = _merge_choosing(svc, one, two, keep)
        assert resp.status_code == 422 and "keep_from_secondary" in resp.get_json()["errors"], keep
    assert _merge_choosing(svc, one, two, "first_name").status_code == 422  # type: ignore[arg-type]
    assert len(get(svc, "/v1/contacts")["data"]) == 2  # nothing merged
    # a company's name is never empty, so never filled, but may be chosen
    acme = post(svc, "/v1/companies", name="Acme", domain="acme.example")
    acme_ltd = post(svc, "/v1/companies", name="Acme Ltd", industry="Engines")
    resp = _merge_choosing(svc, acme, acme_ltd, ["name"], collection="companies")
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["name"], resp.get_json()["domain"], resp.get_json()["industry"]) == ("Acme Ltd", "acme.example",
                                                                                                "Engines")
    # another tenant's records cannot be merged with a choice either
    stranger = post(svc, "/v1/contacts", tenant="b", first_name="Stranger")
    assert _merge_choosing(svc, one, stranger, ["first_name"]).status_code == 404
    assert _merge_choosing(svc, stranger, two, ["first_name"], tenant="a").status_code == 404
