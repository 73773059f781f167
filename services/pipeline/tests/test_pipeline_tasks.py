"""/v1/tasks: subject rules, completion, events, filters and sorts."""

from __future__ import annotations

from pipeline_helpers import invalid_fields, make_deal, make_pipeline, make_task, outbox_events, patch

from crm_testing.apps import ServiceHarness

CONTACT = "01a2025e-d30d-7000-b597-2cc15812bf3f"


def test_crud_and_completion(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    c, h = svc.client, svc.headers("a")
    resp = c.post("/v1/tasks", json={"title": " Call Ada ", "contact_id": CONTACT, "due_at": "2027-01-02T10:00:00+02:00"},
                  headers=h)
    assert resp.status_code == 201, resp.get_json()
    task = resp.get_json()
    assert resp.headers["Location"] == f"/v1/tasks/{task['id']}"
    assert (task["title"], task["due_at"]) == ("Call Ada", "2027-01-02T08:00:00Z")
    assert (task["done"], task["completed_at"]) == (False, None)
    done = c.patch(f"/v1/tasks/{task['id']}", json={"done": True}, headers={**h, "If-Match": '"1"'})
    assert done.status_code == 200 and done.get_json()["completed_at"].endswith("Z")
    stale = c.patch(f"/v1/tasks/{task['id']}", json={"title": "x"}, headers={**h, "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.get_json()["current"]["done"] is True
    assert patch(svc, f"/v1/tasks/{task['id']}", done=True)["completed_at"] == done.get_json()["completed_at"]
    assert patch(svc, f"/v1/tasks/{task['id']}", done=False)["completed_at"] is None
    assert c.delete(f"/v1/tasks/{task['id']}", headers=h).status_code == 204
    assert c.get(f"/v1/tasks/{task['id']}", headers=h).status_code == 404


def test_validation(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    cases = [
        ({"contact_id": CONTACT}, {"title"}),
        ({"title": "T"}, {"deal_id"}),
        ({"title": "T", "deal_id": "01a2025e-d30d-7000-b597-2cc15812bf3f"}, {"deal_id"}),
        ({"title": "T", "contact_id": CONTACT, "due_at": "2027-01-02T10:00:00"}, {"due_at"}),
        ({"title": "T", "contact_id": CONTACT, "done": "perhaps", "assignee_id": "me"}, {"done", "assignee_id"}),
        ({"title": "T", "contact_id": CONTACT, "completed_at": "2027-01-02T10:00:00Z"}, {"completed_at"}),
    ]
    for body, fields in cases:
        assert invalid_fields(svc, "POST", "/v1/tasks", body) == fields
    task = make_task(svc, contact_id=CONTACT)
    assert invalid_fields(svc, "PATCH", f"/v1/tasks/{task['id']}", {"contact_id": None}) == {"deal_id"}


def test_events(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    deal = make_deal(svc, pipeline_id=make_pipeline(svc)["id"])
    task = make_task(svc, deal_id=deal["id"])
    patch(svc, f"/v1/tasks/{task['id']}", done=True)
    make_task(svc, contact_id=CONTACT, done=True)
    assert svc.client.delete(f"/v1/tasks/{task['id']}", headers=svc.headers("a")).status_code == 204
    events = outbox_events(svc, "crm.task.")
    # RecordService runs after_update (where completed is written) before it writes updated
    assert [e["type"] for e in events] == ["crm.task.created", "crm.task.updated", "crm.task.completed",
                                           "crm.task.created", "crm.task.completed", "crm.task.deleted"]
    assert {e["topic"] for e in events} == {"crm.pipeline.task"}
    assert events[1]["data"]["changes"]["done"] == [False, True]
    assert events[1]["data"]["completed_at"] is not None and events[1]["data"]["deal_id"] == deal["id"]


def test_filters_and_sorts(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    deal = make_deal(svc, pipeline_id=make_pipeline(svc)["id"])
    make_task(svc, title="b", deal_id=deal["id"], due_at="2027-01-03T00:00:00Z")
    make_task(svc, title="a", contact_id=CONTACT, due_at="2027-01-01T00:00:00Z", done=True)
    make_task(svc, title="c", contact_id=CONTACT)
    c, h = svc.client, svc.headers("a")

    def titles(query: str) -> list[str]:
        resp = c.get(f"/v1/tasks?{query}", headers=h)
        assert resp.status_code == 200, resp.get_json()
        return [t["title"] for t in resp.get_json()["data"]]

    assert titles("sort=due_at") == ["a", "b", "c"]
    assert titles("sort=-title") == ["c", "b", "a"]
    assert titles("done=false&sort=title") == ["b", "c"]
    assert titles("done=true") == ["a"]
    assert titles(f"deal_id={deal['id']}") == ["b"]
    assert titles(f"contact_id={CONTACT}&done=0") == ["c"]
    for query, param in [("done=maybe", "done"), ("deal_id=1", "deal_id"), ("contact_id=x", "contact_id")]:
        resp = c.get(f"/v1/tasks?{query}", headers=h)
        assert resp.status_code == 400 and param in resp.get_json()["errors"], query
