"""Activities and timelines: per-type validation, newest-first cursor paging, company timelines
through linked contacts, last_contacted_at and its events, If-Match, idempotency, isolation."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from contacts.models import Activity, ErasedContact, Merge
from contacts.service import activities as activity_module
from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness

NOW = dt.datetime.now(dt.UTC)


def at(days: float) -> str:
    """An ISO time `days` from now (negative: in the past), with an offset as the API requires."""
    return (NOW + dt.timedelta(days=days)).isoformat()


def post(svc: ServiceHarness, path: str, body: dict[str, Any], tenant: str = "a", status: int = 201,
         **headers: str) -> dict[str, Any]:
    resp = svc.client.post(path, json=body, headers={**svc.headers(tenant), **headers})
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def get(svc: ServiceHarness, path: str, tenant: str = "a", status: int = 200) -> dict[str, Any]:
    resp = svc.client.get(path, headers=svc.headers(tenant))
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def call(days: float = -1.0, **extra: Any) -> dict[str, Any]:
    return {"type": "call", "direction": "outbound", "occurred_at": at(days), **extra}


def note(days: float = -1.0, **extra: Any) -> dict[str, Any]:
    return {"type": "note", "body": "Spoke about pricing", "occurred_at": at(days), **extra}


def events(svc: ServiceHarness, event_type: str) -> list[dict[str, Any]]:
    """Envelopes written to the outbox (the same transaction as the change), oldest first."""
    outbox = svc.metadata.tables["outbox"]
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.event_type == event_type).order_by(outbox.c.id))
        return [json.loads(r.payload) for r in rows]


def errors_of(svc: ServiceHarness, path: str, body: dict[str, Any], method: str = "post") -> set[str]:
    resp = getattr(svc.client, method)(path, json=body, headers=svc.headers("a"))
    assert resp.status_code == 422, resp.get_json()
    assert resp.content_type == "application/problem+json"
    return set(resp.get_json()["errors"])


@pytest.fixture
def world(contacts_service: ServiceHarness) -> dict[str, Any]:
    svc = contacts_service
    acme = post(svc, "/v1/companies", {"name": "Acme"})
    ada = post(svc, "/v1/contacts", {"first_name": "Ada", "email": "ada@acme.test", "company_id": acme["id"]})
    return {"svc": svc, "acme": acme, "ada": ada, "path": f"/v1/contacts/{ada['id']}/activities"}


def test_each_type_is_validated_naming_the_fields(world: dict[str, Any]) -> None:
    svc, path = world["svc"], world["path"]
    assert errors_of(svc, path, {"type": "note"}) == {"body"}
    assert errors_of(svc, path, {"type": "note", "body": "x", "duration_seconds": 5}) == {"duration_seconds"}
    assert errors_of(svc, path, {"type": "call"}) == {"direction"}
    assert errors_of(svc, path, call(duration_seconds=-1, outcome="maybe", attendees=[])) == {
        "duration_seconds", "outcome", "attendees"}
    assert errors_of(svc, path, call(duration_seconds=1.5)) == {"duration_seconds"}
    assert errors_of(svc, path, {"type": "email", "direction": "inbound"}) == {"subject"}
    assert errors_of(svc, path, {"type": "email", "direction": "sideways", "body": "hi", "outcome": "busy"}) == {
        "direction", "outcome"}
    assert errors_of(svc, path, {"type": "meeting", "attendees": ["x@y.test"]}) == {"starts_at"}
    assert errors_of(svc, path, {"type": "meeting", "starts_at": at(1), "ends_at": at(0.9)}) == {"ends_at"}
    assert "attendees.0.email" in errors_of(svc, path, {"type": "meeting", "starts_at": at(1), "attendees": ["nope"]})
    assert errors_of(svc, path, {"type": "chat", "body": "x"}) == {"type"}
    assert errors_of(svc, path, {"body": "x"}) == {"type"}
    assert errors_of(svc, path, note(occurred_at="2024-05-01T10:00:00")) == {"occurred_at"}  # no offset
    assert errors_of(svc, path, note(contact_id=str(uuid.uuid4()), author_id=None)) == {"contact_id", "author_id"}


def test_each_type_is_stored_with_its_own_fields(world: dict[str, Any]) -> None:
    svc, path, ada, acme = world["svc"], world["path"], world["ada"], world["acme"]
    resp = svc.client.post(path, json={"type": "note", "body": "  keeps\nits spacing "}, headers=svc.headers("a"))
    assert resp.status_code == 201 and resp.headers["ETag"] == '"1"'
    made = resp.get_json()
    assert resp.headers["Location"] == f"{path}/{made['id']}"
    assert made["body"] == "  keeps\nits spacing " and made["contact_id"] == ada["id"]
    assert made["company_id"] == acme["id"]  # lands on the primary company's timeline too
    assert made["author_id"] == str(uuid.uuid5(svc.tenant("a"), "user"))
    assert abs(dt.datetime.fromisoformat(made["occurred_at"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert "direction" not in made and "starts_at" not in made  # only the note's own fields
    made = post(svc, path, call(duration_seconds=90, outcome="left_voicemail", occurred_at="2024-05-01T10:00:00+02:00"))
    assert made["occurred_at"] == "2024-05-01T08:00:00Z" and made["duration_seconds"] == 90
    meeting = post(svc, path, {"type": "meeting", "starts_at": "2024-06-01T09:00:00Z", "ends_at": "2024-06-01T10:00:00Z",
                               "attendees": ["Ada@Acme.test", "ada@acme.test", "bob@acme.test"]})
    assert meeting["occurred_at"] == "2024-06-01T09:00:00Z"  # defaults to starts_at
    assert meeting["attendees"] == [{"email": a, "name": None, "status": "needs_action"}
                                    for a in ("ada@acme.test", "bob@acme.test")]  # bare addresses accepted
    email = post(svc, path, {"type": "email", "direction": "inbound", "subject": "Re: quote"})
    assert email["subject"] == "Re: quote" and "outcome" not in email


def test_patch_keeps_the_type_rules(world: dict[str, Any]) -> None:
    svc, path = world["svc"], world["path"]
    n = post(svc, path, note())
    m = post(svc, path, {"type": "meeting", "starts_at": at(-2), "ends_at": at(-1.9)})
    assert errors_of(svc, f"{path}/{n['id']}", {"type": "call"}, "patch") == {"type"}
    assert errors_of(svc, f"{path}/{n['id']}", {"body": None}, "patch") == {"body"}
    assert errors_of(svc, f"{path}/{n['id']}", {"outcome": "busy"}, "patch") == {"outcome"}
    assert errors_of(svc, f"{path}/{m['id']}", {"ends_at": at(-3)}, "patch") == {"ends_at"}
    assert errors_of(svc, f"{path}/{m['id']}", {"occurred_at": None}, "patch") == {"occurred_at"}
    moved = svc.client.patch(f"{path}/{m['id']}", json={"starts_at": at(-5), "ends_at": at(-4.9)}, headers=svc.headers("a"))
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert body["version"] == 2 and body["occurred_at"] == body["starts_at"]  # a rescheduled meeting moves
    updated = events(svc, "crm.activity.updated")[-1]
    assert updated["subject"] == m["id"] and set(updated["data"]["changes"]) == {"starts_at", "ends_at", "occurred_at"}


def test_timeline_is_newest_first_and_cursor_stable(world: dict[str, Any]) -> None:
    svc, path = world["svc"], world["path"]
    made = [post(svc, path, body) for body in (
        note(-10), call(-9), {"type": "email", "direction": "outbound", "body": "hi", "occurred_at": at(-8)},
        {"type": "meeting", "starts_at": at(-7)}, call(-6), call(-6))]  # the last two tie: id breaks it
    expected = [m["id"] for m in sorted(made, key=lambda m: (m["occurred_at"], m["id"]), reverse=True)]
    page = get(svc, f"{path}?limit=2")
    seen = [d["id"] for d in page["data"]]
    post(svc, path, call(-1))  # newer than the cursor: belongs to a page already read
    older = post(svc, path, note(-20))  # older than all: comes at the end
    while page["next_cursor"]:
        page = get(svc, f"{path}?limit=2&cursor={page['next_cursor']}")
        seen += [d["id"] for d in page["data"]]
    assert seen == [*expected, older["id"]]
    calls = get(svc, f"{path}?type=call")["data"]
    assert [d["type"] for d in calls] == ["call"] * 4
    assert {d["type"] for d in get(svc, f"{path}?type=call,email")["data"]} == {"call", "email"}
    assert [d["id"] for d in get(svc, f"{path}?sort=occurred_at&limit=1")["data"]] == [older["id"]]
    for bad in ("type=chat", "limit=0", "limit=201", "cursor=nope", "sort=subject"):
        resp = svc.client.get(f"{path}?{bad}", headers=svc.headers("a"))
        assert resp.status_code == 400 and bad.split("=")[0] in resp.get_json()["errors"]


def test_company_timeline_includes_linked_contacts(world: dict[str, Any]) -> None:
    svc, acme, ada = world["svc"], world["acme"], world["ada"]
    globex = post(svc, "/v1/companies", {"name": "Globex"})
    # Bob's primary company is Globex; he is also linked to Acme.
    bob = post(svc, "/v1/contacts", {"first_name": "Bob", "company_id": globex["id"], "company_ids": [acme["id"]]})
    eve = post(svc, "/v1/contacts", {"first_name": "Eve"})
    on_acme = post(svc, f"/v1/companies/{acme['id']}/activities", note(-5))
    on_ada = post(svc, world["path"], call(-4))
    on_bob = post(svc, f"/v1/contacts/{bob['id']}/activities", call(-3))
    on_eve = post(svc, f"/v1/contacts/{eve['id']}/activities", call(-2))
    assert on_acme["contact_id"] is None and on_acme["company_id"] == acme["id"]
    assert on_bob["company_id"] == globex["id"]
    acme_path = f"/v1/companies/{acme['id']}/activities"
    assert [d["id"] for d in get(svc, acme_path)["data"]] == [on_bob["id"], on_ada["id"], on_acme["id"]]
    assert [d["id"] for d in get(svc, f"/v1/companies/{globex['id']}/activities")["data"]] == [on_bob["id"]]
    assert [d["id"] for d in get(svc, f"/v1/contacts/{ada['id']}/activities")["data"]] == [on_ada["id"]]
    # Entries are reachable under every timeline that shows them, and only there.
    assert get(svc, f"{acme_path}/{on_bob['id']}")["id"] == on_bob["id"]
    get(svc, f"{acme_path}/{on_eve['id']}", status=404)
    get(svc, f"/v1/contacts/{ada['id']}/activities/{on_acme['id']}", status=404)
    get(svc, f"/v1/contacts/{ada['id']}/activities/{on_bob['id']}", status=404)
    # last_contacted_at of a company: the newest call among everything on its timeline.
    assert get(svc, f"/v1/companies/{acme['id']}")["last_contacted_at"] == on_bob["occurred_at"]
    assert get(svc, f"/v1/companies/{globex['id']}")["last_contacted_at"] == on_bob["occurred_at"]


def test_last_contacted_at_follows_calls_emails_meetings_not_notes(world: dict[str, Any]) -> None:
    svc, path, ada, acme = world["svc"], world["path"], world["ada"], world["acme"]

    def last() -> tuple[str | None, str | None]:
        return (get(svc, f"/v1/contacts/{ada['id']}")["last_contacted_at"],
                get(svc, f"/v1/companies/{acme['id']}")["last_contacted_at"])

    post(svc, path, note(-1))
    assert last() == (None, None)
    email = post(svc, path, {"type": "email", "direction": "inbound", "subject": "Hi", "occurred_at": at(-5)})
    assert last() == (email["occurred_at"], email["occurred_at"])
    recent = post(svc, path, call(-2))
    post(svc, path, {"type": "meeting", "starts_at": at(3)})  # scheduled: not contact yet
    post(svc, path, call(-9))  # older: changes nothing
    assert last() == (recent["occurred_at"],) * 2
    meeting = post(svc, path, {"type": "meeting", "starts_at": at(-3)})
    moved = svc.client.patch(f"{path}/{meeting['id']}", json={"starts_at": at(-1)}, headers=svc.headers("a")).get_json()
    assert last() == (moved["occurred_at"],) * 2
    assert svc.client.delete(f"{path}/{meeting['id']}", headers=svc.headers("a")).status_code == 204
    assert svc.client.delete(f"{path}/{recent['id']}", headers=svc.headers("a")).status_code == 204
    assert last() == (email["occurred_at"],) * 2  # recomputed on delete
    for entry in get(svc, f"{path}?type=call,email")["data"]:
        svc.client.delete(f"{path}/{entry['id']}", headers=svc.headers("a"))
    assert last() == (None, None)


def test_contact_updated_event_carries_the_change(world: dict[str, Any]) -> None:
    svc, path, ada = world["svc"], world["path"], world["ada"]
    made = post(svc, path, call(-1))
    contact = get(svc, f"/v1/contacts/{ada['id']}")
    assert contact["version"] == ada["version"] + 1
    updated = [e for e in events(svc, "crm.contact.updated") if e["subject"] == ada["id"]]
    assert len(updated) == 1
    assert updated[0]["data"]["changes"] == {"last_contacted_at": [None, made["occurred_at"]]}
    company = [e for e in events(svc, "crm.company.updated") if e["subject"] == world["acme"]["id"]]
    assert company[-1]["data"]["changes"] == {"last_contacted_at": [None, made["occurred_at"]]}
    created = events(svc, "crm.activity.created")
    assert created[-1]["subject"] == made["id"] and created[-1]["data"]["type"] == "call"
    post(svc, path, note())  # a note changes nothing on the contact: no event
    assert len([e for e in events(svc, "crm.contact.updated") if e["subject"] == ada["id"]]) == 1
    svc.client.delete(f"{path}/{made['id']}", headers=svc.headers("a"))
    assert events(svc, "crm.activity.deleted")[-1]["subject"] == made["id"]
    last = [e for e in events(svc, "crm.contact.updated") if e["subject"] == ada["id"]][-1]
    assert last["data"]["changes"] == {"last_contacted_at": [made["occurred_at"], None]}
    assert svc.publish_outbox() > 0  # and the relay ships them


def test_if_match_guards_patch_and_delete(world: dict[str, Any]) -> None:
    svc, path = world["svc"], world["path"]
    made = post(svc, path, note())
    item, stale = f"{path}/{made['id']}", {**svc.headers("a"), "If-Match": '"1"'}
    ok = svc.client.patch(item, json={"body": "second"}, headers=stale)
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'
    lost = svc.client.patch(item, json={"body": "third"}, headers=stale)
    assert lost.status_code == 412 and lost.get_json()["current"]["body"] == "second"
    assert svc.client.delete(item, headers=stale).status_code == 412
    assert svc.client.get(item, headers=svc.headers("a")).headers["ETag"] == '"2"'
    assert svc.client.delete(item, headers={**svc.headers("a"), "If-Match": "2"}).status_code == 204
    get(svc, item, status=404)


def test_idempotency_key_replays_the_first_answer(world: dict[str, Any]) -> None:
    svc, path = world["svc"], world["path"]
    body = note(-1)
    first = svc.client.post(path, json=body, headers={**svc.headers("a"), "Idempotency-Key": "k1"})
    again = svc.client.post(path, json=body, headers={**svc.headers("a"), "Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json()["id"] == first.get_json()["id"]
    assert len(get(svc, path)["data"]) == 1
    other = svc.client.post(path, json=note(-2), headers={**svc.headers("a"), "Idempotency-Key": "k1"})
    assert other.status_code == 422


def test_merged_and_erased_contact_ids(world: dict[str, Any]) -> None:
    svc, path, ada = world["svc"], world["path"], world["ada"]
    made = post(svc, path, note())
    gone_id, erased_id = uuid.uuid4(), uuid.uuid4()
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        session.add(Merge(object="contact", primary_id=uuid.UUID(ada["id"]), secondary_id=gone_id, snapshot={}))
        session.add(ErasedContact(id=erased_id))
    old_link = f"/v1/contacts/{gone_id}/activities"
    assert [d["id"] for d in get(svc, old_link)["data"]] == [made["id"]]  # the survivor's timeline
    assert get(svc, f"{old_link}/{made['id']}")["id"] == made["id"]
    # Posting through the old id would land on the survivor: refused, naming it.
    refused = post(svc, old_link, call(-1), status=409)
    assert refused["merged_into"] == ada["id"]
    assert [d["id"] for d in get(svc, old_link)["data"]] == [made["id"]]
    assert post(svc, f"/v1/contacts/{erased_id}/activities", note(), status=410)["status"] == 410
    get(svc, f"/v1/contacts/{erased_id}/activities", status=410)


def test_deleting_a_contact_deletes_its_timeline_and_a_company_unlinks(world: dict[str, Any]) -> None:
    svc, path, ada, acme = world["svc"], world["path"], world["ada"], world["acme"]
    bob = post(svc, "/v1/contacts", {"first_name": "Bob", "company_id": acme["id"]})
    on_ada = post(svc, path, call(-1))
    on_bob = post(svc, f"/v1/contacts/{bob['id']}/activities", call(-2))
    on_acme = post(svc, f"/v1/companies/{acme['id']}/activities", note())
    assert svc.client.delete(f"/v1/contacts/{ada['id']}", headers=svc.headers("a")).status_code == 204
    assert on_ada["id"] in {e["subject"] for e in events(svc, "crm.activity.deleted")}
    acme_path = f"/v1/companies/{acme['id']}/activities"
    assert [d["id"] for d in get(svc, acme_path)["data"]] == [on_acme["id"], on_bob["id"]]
    assert get(svc, f"/v1/companies/{acme['id']}")["last_contacted_at"] == on_bob["occurred_at"]  # recomputed
    assert svc.client.delete(f"/v1/companies/{acme['id']}", headers=svc.headers("a")).status_code == 204
    kept = get(svc, f"/v1/contacts/{bob['id']}/activities")["data"]
    assert [(d["id"], d["company_id"]) for d in kept] == [(on_bob["id"], None)]
    unlinked = events(svc, "crm.activity.updated")[-1]
    assert unlinked["subject"] == on_bob["id"] and unlinked["data"]["changes"] == {"company_id": [acme["id"], None]}
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        assert session.get(Activity, (svc.tenant("a"), uuid.UUID(on_acme["id"]))) is None


def test_listeners_hear_every_change(world: dict[str, Any]) -> None:
    svc, path, ada = world["svc"], world["path"], world["ada"]
    heard: list[uuid.UUID] = []
    listener = lambda session, outbox, contact_id: heard.append(contact_id)  # noqa: E731
    activity_module.ACTIVITY_LISTENERS.append(listener)
    try:
        made = post(svc, path, note())
        svc.client.patch(f"{path}/{made['id']}", json={"body": "changed"}, headers=svc.headers("a"))
        svc.client.patch(f"{path}/{made['id']}", json={}, headers=svc.headers("a"))  # no change: no call
        svc.client.delete(f"{path}/{made['id']}", headers=svc.headers("a"))
        post(svc, f"/v1/companies/{world['acme']['id']}/activities", note())  # no contact: no call
    finally:
        activity_module.ACTIVITY_LISTENERS.remove(listener)
    assert heard == [uuid.UUID(ada["id"])] * 3


def isolation_checks(svc: ServiceHarness, contact: dict[str, Any], company: dict[str, Any], entry: dict[str, Any],
                     on_company: dict[str, Any]) -> None:
    """Tenant b can neither list, post, read, patch nor delete tenant a's timelines and entries."""
    b, c = svc.headers("b"), svc.client
    company_timeline = get(svc, f"/v1/companies/{company['id']}/activities")
    own = post(svc, "/v1/contacts", {"first_name": "B"}, tenant="b")
    for parent, activity in ((f"/v1/contacts/{contact['id']}", entry), (f"/v1/companies/{company['id']}", on_company)):
        base = f"{parent}/activities"
        assert c.get(base, headers=b).status_code == 404
        assert c.post(base, json=note(), headers=b).status_code == 404
        assert c.post(base, json=note(), headers={**b, "Idempotency-Key": f"iso-{parent}"}).status_code == 404
        for method in ("get", "patch", "delete"):
            assert getattr(c, method)(f"{base}/{activity['id']}", json={"body": "x"}, headers=b).status_code == 404
        # a's entry under b's own contact: still 404
        own_item = f"/v1/contacts/{own['id']}/activities/{activity['id']}"
        for method in ("get", "patch", "delete"):
            assert getattr(c, method)(own_item, json={"body": "x"}, headers=b).status_code == 404
    assert get(svc, f"/v1/contacts/{own['id']}/activities", tenant="b")["data"] == []
    assert get(svc, f"/v1/contacts/{contact['id']}/activities/{entry['id']}")["version"] == entry["version"]
    assert get(svc, f"/v1/companies/{company['id']}/activities") == company_timeline
    assert get(svc, f"/v1/contacts/{contact['id']}")["last_contacted_at"] == entry["occurred_at"]


def test_tenant_isolation(world: dict[str, Any]) -> None:
    svc = world["svc"]
    entry = post(svc, world["path"], call(-1))
    on_company = post(svc, f"/v1/companies/{world['acme']['id']}/activities", note())
    isolation_checks(svc, world["ada"], world["acme"], entry, on_company)



@pytest.mark.integration
def test_timelines_on_postgresql(pg_contacts: ServiceHarness) -> None:
    svc = pg_contacts
    acme = post(svc, "/v1/companies", {"name": "Acme"})
    globex = post(svc, "/v1/companies", {"name": "Globex"})
    ada = post(svc, "/v1/contacts", {"first_name": "Ada", "company_id": acme["id"]})
    bob = post(svc, "/v1/contacts", {"first_name": "Bob", "company_id": globex["id"], "company_ids": [acme["id"]]})
    post(svc, "/v1/contacts", {"first_name": "Ada", "company_id": acme["id"]}, tenant="b", status=422)  # a's company
    entry = post(svc, f"/v1/contacts/{ada['id']}/activities", call(-3, occurred_at="2024-05-01T10:00:00+02:00"))
    on_bob = post(svc, f"/v1/contacts/{bob['id']}/activities", {"type": "meeting", "starts_at": at(-1)})
    on_acme = post(svc, f"/v1/companies/{acme['id']}/activities", note())
    timeline = f"/v1/companies/{acme['id']}/activities"
    page = get(svc, f"{timeline}?limit=2")
    rest = get(svc, f"{timeline}?limit=2&cursor={page['next_cursor']}")
    assert [d["id"] for d in page["data"] + rest["data"]] == [on_acme["id"], on_bob["id"], entry["id"]]
    assert entry["occurred_at"] == "2024-05-01T08:00:00Z"
    assert get(svc, f"/v1/companies/{acme['id']}")["last_contacted_at"] == on_bob["occurred_at"]
    assert get(svc, f"/v1/contacts/{ada['id']}")["last_contacted_at"] == entry["occurred_at"]
    changes = [e["data"]["changes"] for e in events(svc, "crm.contact.updated") if e["subject"] == ada["id"]]
    assert changes == [{"last_contacted_at": [None, entry["occurred_at"]]}]
    isolation_checks(svc, ada, acme, entry, on_acme)


def test_routes_are_documented(contacts_service: ServiceHarness) -> None:
    paths = contacts_service.client.get("/openapi.json").get_json()["paths"]
    for parent in ("contacts", "companies"):
        assert set(paths[f"/v1/{parent}/{{parent_id}}/activities"]) == {"get", "post"}
        assert set(paths[f"/v1/{parent}/{{parent_id}}/activities/{{activity_id}}"]) == {"get", "patch", "delete"}


@pytest.mark.integration
def test_concurrent_posts_on_one_contact_on_postgresql(pg_contacts: ServiceHarness) -> None:
    """Writers on one timeline queue on the contact's row lock: none fails, none loses the newest time."""
    svc = pg_contacts
    acme = post(svc, "/v1/companies", {"name": "Acme"})
    ada = post(svc, "/v1/contacts", {"first_name": "Ada", "company_id": acme["id"]})
    path, headers = f"/v1/contacts/{ada['id']}/activities", svc.headers("a")

    def post_call(days: int) -> int:
        return svc.app.test_client().post(path, json=call(-days), headers=headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(post_call, range(1, 17))) == [201] * 16
    newest = get(svc, f"{path}?limit=1")["data"][0]["occurred_at"]
    assert get(svc, f"/v1/contacts/{ada['id']}")["last_contacted_at"] == newest
    assert get(svc, f"/v1/companies/{acme['id']}")["last_contacted_at"] == newest
