"""Edge inputs found in review: each once answered 500 or touched the wrong person."""

from __future__ import annotations

import base64
import json

from crm_testing.apps import ServiceHarness

YEAR_ONE_PLUS_ONE = "0001-01-01T00:00:00+01:00"  # no UTC form: Python raises OverflowError


def post(svc: ServiceHarness, path: str, body: dict) -> dict:
    resp = svc.client.post(path, json=body, headers=svc.headers("a"))
    assert resp.status_code in (200, 201), resp.get_json()
    return resp.get_json()


def test_out_of_range_datetimes_are_4xx(contacts_service: ServiceHarness) -> None:
    svc, h = contacts_service, contacts_service.headers("a")
    post(svc, "/v1/properties/contacts", {"key": "seen", "label": "Seen", "type": "datetime"})
    resp = svc.client.get(f"/v1/contacts?filter=created_at > '{YEAR_ONE_PLUS_ONE}'", headers=h)
    assert resp.status_code == 400 and "created_at" in str(resp.get_json())
    rule = svc.client.post("/v1/scoring-rules", json={"name": "x", "filter": f"created_at > '{YEAR_ONE_PLUS_ONE}'",
                                                      "points": 1}, headers=h)
    assert rule.status_code == 422 and "filter" in rule.get_json()["errors"]
    prop = svc.client.post("/v1/contacts", json={"email": "x@a.com", "properties": {"seen": YEAR_ONE_PLUS_ONE}}, headers=h)
    assert prop.status_code == 422 and "properties.seen" in prop.get_json()["errors"]
    contact = post(svc, "/v1/contacts", {"email": "y@a.com"})
    act = svc.client.post(f"/v1/contacts/{contact['id']}/activities", json={"type": "note", "body": "x",
                                                                            "occurred_at": YEAR_ONE_PLUS_ONE}, headers=h)
    assert act.status_code == 422 and "occurred_at" in act.get_json()["errors"]


def test_cursor_with_an_integer_no_database_holds_is_400(contacts_service: ServiceHarness) -> None:
    svc, h = contacts_service, contacts_service.headers("a")
    for i in range(3):
        post(svc, "/v1/contacts", {"email": f"p{i}@a.com"})
    page = svc.client.get("/v1/contacts?sort=lead_score&limit=1", headers=h).get_json()
    payload = json.loads(base64.urlsafe_b64decode(page["next_cursor"] + "=" * (-len(page["next_cursor"]) % 4)))
    payload["v"][0] = 10**30
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    resp = svc.client.get(f"/v1/contacts?sort=lead_score&limit=1&cursor={forged}", headers=h)
    assert resp.status_code == 400 and "cursor" in resp.get_json()["errors"]


def test_erasing_after_an_undone_merge_leaves_the_other_person_alone(contacts_service: ServiceHarness) -> None:
    svc, h = contacts_service, contacts_service.headers("a")
    a = post(svc, "/v1/contacts", {"first_name": "A", "email": "a@e.com"})
    b = post(svc, "/v1/contacts", {"first_name": "B", "email": "b@e.com"})
    c = post(svc, "/v1/contacts", {"first_name": "C", "email": "c@e.com"})
    meeting = post(svc, f"/v1/contacts/{c['id']}/activities", {
        "type": "meeting", "starts_at": "2026-01-01T10:00:00Z", "attendees": ["b@e.com", "c@e.com"]})
    post(svc, "/v1/contacts/merge", {"primary_id": a["id"], "secondary_id": b["id"]})
    post(svc, f"/v1/contacts/{a['id']}/unmerge", {"merged_id": b["id"]})
    exported = svc.client.get(f"/v1/contacts/{a['id']}/export", headers=h).get_json()
    assert "b@e.com" not in json.dumps(exported["merges"])  # B is a person of their own again
    assert svc.client.post(f"/v1/contacts/{a['id']}/erase", headers=h).status_code == 200
    kept = svc.client.get(f"/v1/contacts/{c['id']}/activities/{meeting['id']}", headers=h).get_json()
    assert [x["email"] for x in kept["attendees"]] == ["b@e.com", "c@e.com"]
    assert svc.client.get(f"/v1/contacts/{b['id']}", headers=h).get_json()["email"] == "b@e.com"
