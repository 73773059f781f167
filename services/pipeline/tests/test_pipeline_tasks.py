"""/v1/tasks: subject rules, completion, events, filters and sorts."""

from __future__ import annotations

import uuid

from pipeline_helpers import default_user, invalid_fields, make_deal, make_pipeline, make_task, outbox_events, patch
from sqlalchemy import select
from tasks_helpers import iso, user_event

from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness
from pipeline.models import Deal

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
    assert {e["actor_id"] for e in events} == {str(default_user(svc, "a"))}  # who did it, in the envelope


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


# -- the sales fields ---------------------------------------------------------------------------

def test_task_fields_and_links(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    task = make_task(svc, company_id=CONTACT, type="meeting", notes="Agenda", duration_minutes=45, priority="high",
                     due_at="2027-01-02T10:00:00Z", reminders=[{"minutes_before": 15, "channels": ["email", "in_app", "email"]}])
    assert (task["type"], task["priority"], task["duration_minutes"], task["notes"]) == ("meeting", "high", 45, "Agenda")
    assert task["reminders"] == [{"minutes_before": 15, "channels": ["email", "in_app"]}]
    assert task["assignee_id"] == str(default_user(svc, "a"))  # the creator's unless assigned
    assert task["time_zone"] == "UTC" and task["due_date"] is None
    ticket = make_task(svc, ticket_id=CONTACT)
    assert ticket["type"] == "todo" and ticket["priority"] == "normal" and ticket["reminders"] == []


def test_sales_field_validation(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    base = {"title": "T", "contact_id": CONTACT}
    cases = [
        ({**base, "due_at": "2027-01-02T10:00:00Z", "due_date": "2027-01-02"}, {"due_date"}),
        ({**base, "type": "visit", "priority": "urgent"}, {"type", "priority"}),
        ({**base, "time_zone": "Mars/Olympus"}, {"time_zone"}),
        ({**base, "recurrence": "FREQ=SOMETIMES"}, {"recurrence"}),
        ({**base, "recurrence": "BYDAY=MO"}, {"recurrence"}),
        ({**base, "recurrence": "FREQ=DAILY\nDTSTART:20270101T000000Z"}, {"recurrence"}),
        ({**base, "recurrence": "FREQ=DAILY"}, {"recurrence"}),  # no due time to recur from
        ({**base, "reminders": [{"minutes_before": -1}]}, {"reminders.0.minutes_before"}),
        ({**base, "reminders": [{"minutes_before": 5, "channels": ["sms"]}]}, {"reminders.0.channels.0"}),
        ({**base, "reminders": [{"minutes_before": 5, "channels": []}]}, {"reminders.0.channels"}),
        ({**base, "reminders": [{"channels": ["in_app"]}]}, {"reminders.0.minutes_before"}),
        ({**base, "reminders": [{"minutes_before": m} for m in range(6)]}, {"reminders"}),
        ({**base, "duration_minutes": 0}, {"duration_minutes"}),
    ]
    for body, fields in cases:
        assert invalid_fields(svc, "POST", "/v1/tasks", body) == fields, body
    task = make_task(svc, contact_id=CONTACT)
    assert invalid_fields(svc, "PATCH", f"/v1/tasks/{task['id']}", {"recurrence": "FREQ=WEEKLY"}) == {"recurrence"}
    assert invalid_fields(svc, "POST", f"/v1/tasks/{task['id']}/snooze", {"until": "2000-01-01T00:00:00Z"}) == {"until"}
    assert invalid_fields(svc, "POST", f"/v1/tasks/{task['id']}/snooze", {}) == {"until"}


def test_all_day_task_in_the_assignees_time_zone(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    berlin, tokyo = uuid.uuid4(), uuid.uuid4()
    user_event(svc, "a", berlin, time_zone="Europe/Berlin")
    user_event(svc, "a", tokyo, time_zone="Asia/Tokyo")
    task = make_task(svc, contact_id=CONTACT, assignee_id=str(berlin), due_date="2027-07-01")
    assert (task["due_date"], task["due_at"], task["time_zone"]) == ("2027-07-01", "2027-06-30T22:00:00Z", "Europe/Berlin")
    moved = patch(svc, f"/v1/tasks/{task['id']}", assignee_id=str(tokyo))
    assert (moved["due_at"], moved["time_zone"]) == ("2027-06-30T15:00:00Z", "Asia/Tokyo")
    timed = patch(svc, f"/v1/tasks/{task['id']}", due_at="2027-07-01T09:00:00Z")
    assert (timed["due_date"], timed["due_at"]) == (None, "2027-07-01T09:00:00Z")
    day = patch(svc, f"/v1/tasks/{task['id']}", due_date="2027-12-24", time_zone="America/New_York")
    assert (day["due_date"], day["due_at"]) == ("2027-12-24", "2027-12-24T05:00:00Z")
    cleared = patch(svc, f"/v1/tasks/{task['id']}", due_date=None)
    assert (cleared["due_date"], cleared["due_at"]) == (None, None)
    unknown = make_task(svc, contact_id=CONTACT, assignee_id=str(uuid.uuid4()), due_date="2027-07-01")
    assert (unknown["due_at"], unknown["time_zone"]) == ("2027-07-01T00:00:00Z", "UTC")  # not replicated yet: UTC


def _complete(svc: ServiceHarness, task_id: str, tenant: str = "a") -> dict:
    resp = svc.client.post(f"/v1/tasks/{task_id}/complete", headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_recurrence_keeps_wall_time_across_dst_and_ends_with_count(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    # Mondays 09:00 in Berlin; DST starts on Sunday 2027-03-28.
    task = make_task(svc, contact_id=CONTACT, due_at="2027-03-22T08:00:00Z", time_zone="Europe/Berlin",
                     recurrence="RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3", reminders=[{"minutes_before": 10}])
    assert task["series_id"] == task["id"] and task["recurrence"] == "FREQ=WEEKLY;BYDAY=MO;COUNT=3"
    first = _complete(svc, task["id"])
    assert first["done"] is True
    second = first["next_occurrence"]
    assert second["due_at"] == "2027-03-29T07:00:00Z"  # still 09:00 local, now CEST
    assert (second["series_id"], second["recurrence"], second["done"]) == (task["id"], "FREQ=WEEKLY;BYDAY=MO;COUNT=2", False)
    assert second["reminders"] == [{"minutes_before": 10, "channels": ["in_app"]}]
    third = _complete(svc, second["id"])["next_occurrence"]
    assert third["due_at"] == "2027-04-05T07:00:00Z" and third["recurrence"].endswith("COUNT=1")
    assert _complete(svc, third["id"])["next_occurrence"] is None  # COUNT used up
    series = svc.client.get(f"/v1/tasks?series_id={task['id']}&sort=due_at", headers=svc.headers("a")).get_json()["data"]
    assert [t["done"] for t in series] == [True, True, True]
    patch(svc, f"/v1/tasks/{task['id']}", done=False)  # reopened and completed again: no second "next"
    assert _complete(svc, task["id"])["next_occurrence"] is None
    again = _complete(svc, third["id"])  # completing twice creates nothing more
    assert again["next_occurrence"] is None and len(svc.client.get(
        f"/v1/tasks?series_id={task['id']}", headers=svc.headers("a")).get_json()["data"]) == 3


def test_all_day_recurrence_with_until(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    # London leaves summer time at 02:00 on 2027-10-31: that day still starts in BST.
    task = make_task(svc, contact_id=CONTACT, due_date="2027-10-30", time_zone="Europe/London",
                     recurrence="FREQ=DAILY;UNTIL=20271101")
    nxt = _complete(svc, task["id"])["next_occurrence"]
    assert (nxt["due_date"], nxt["due_at"]) == ("2027-10-31", "2027-10-30T23:00:00Z")
    last = _complete(svc, nxt["id"])["next_occurrence"]
    assert (last["due_date"], last["due_at"]) == ("2027-11-01", "2027-11-01T00:00:00Z")  # GMT again
    assert _complete(svc, last["id"])["next_occurrence"] is None


def test_deal_activity_follows_its_tasks(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    deal = make_deal(svc, pipeline_id=make_pipeline(svc)["id"])
    other = make_deal(svc, name="Other", pipeline_id=deal["pipeline_id"])

    def activity(deal_id: str) -> tuple:
        with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
            row = session.scalars(select(Deal).where(Deal.id == uuid.UUID(deal_id))).one()
            return (iso(row.next_activity_at) if row.next_activity_at else None,
                    row.last_activity_at is not None)

    task = make_task(svc, deal_id=deal["id"], due_at="2027-01-05T10:00:00Z")
    assert activity(deal["id"]) == ("2027-01-05T10:00:00Z", False)
    patch(svc, f"/v1/tasks/{task['id']}", due_at="2027-01-04T10:00:00Z")
    assert activity(deal["id"]) == ("2027-01-04T10:00:00Z", False)
    patch(svc, f"/v1/tasks/{task['id']}", deal_id=other["id"])  # moved to another deal
    assert activity(deal["id"]) == (None, False) and activity(other["id"]) == ("2027-01-04T10:00:00Z", False)
    _complete(svc, task["id"])
    assert activity(other["id"]) == (None, True)
    patch(svc, f"/v1/tasks/{task['id']}", done=False)  # reopened
    assert activity(other["id"])[0] == "2027-01-04T10:00:00Z"
    assert svc.client.delete(f"/v1/tasks/{task['id']}", headers=svc.headers("a")).status_code == 204
    assert activity(other["id"])[0] is None


def test_new_filters(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    someone = uuid.uuid4()
    make_task(svc, title="call", contact_id=CONTACT, type="call", assignee_id=str(someone))
    make_task(svc, title="mine", company_id=CONTACT)
    c, h = svc.client, svc.headers("a")

    def titles(query: str) -> list[str]:
        resp = c.get(f"/v1/tasks?{query}", headers=h)
        assert resp.status_code == 200, resp.get_json()
        return sorted(t["title"] for t in resp.get_json()["data"])

    assert titles(f"assignee_id={someone}") == ["call"]
    assert titles("type=call") == ["call"]
    assert titles(f"company_id={CONTACT}") == ["mine"]
    assert c.get("/v1/tasks?type=visit", headers=h).status_code == 400


def test_patching_reminders_needs_whole_reminders(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    task = make_task(svc, contact_id=CONTACT)
    path = f"/v1/tasks/{task['id']}"
    assert invalid_fields(svc, "PATCH", path, {"reminders": [{"channels": ["email"]}]}) == {"reminders.0.minutes_before"}
    assert patch(svc, path, reminders=[{"minutes_before": 5}])["reminders"] == [{"minutes_before": 5, "channels": ["in_app"]}]


def test_due_range(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    for day in (1, 2, 3):
        make_task(svc, title=f"d{day}", contact_id=CONTACT, due_at=f"2027-01-0{day}T12:00:00Z")
    c, h = svc.client, svc.headers("a")

    def titles(query: str) -> list[str]:
        resp = c.get(f"/v1/tasks?{query}&sort=due_at", headers=h)
        assert resp.status_code == 200, resp.get_json()
        return [t["title"] for t in resp.get_json()["data"]]

    assert titles("due_after=2027-01-02T00:00:00Z") == ["d2", "d3"]
    assert titles("due_before=2027-01-02T12:00:00Z") == ["d1"]
    assert titles("due_after=2027-01-02T00:00:00%2B01:00&due_before=2027-01-03T00:00:00Z&done=false") == ["d2"]
    for bad in ("due_after=yesterday", "due_before=2027-01-02T00:00:00"):
        resp = c.get(f"/v1/tasks?{bad}", headers=h)
        assert resp.status_code == 400 and bad.split("=")[0] in resp.get_json()["errors"]
