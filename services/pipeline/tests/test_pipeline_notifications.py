"""Notifications (the caller's own only), assignment notifications for tasks and deals, the agenda
in the caller's time zone, and follow-ups."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from pipeline_helpers import make_deal, make_pipeline, make_task, outbox_events, patch
from tasks_helpers import CONTACT, contact_event, iso, notifications_of, user_event, user_headers

from crm_core.context import tenant_context
from crm_db.base import utcnow
from crm_events.envelope import Event
from crm_events.outbox import Outbox
from crm_testing.apps import ServiceHarness
from pipeline.agenda import agenda
from pipeline.consumer import deal_assignment_handlers
from pipeline.models import metadata


def test_notifications_list_read_and_read_all(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    ada, bob = uuid.uuid4(), uuid.uuid4()
    c, ha, hb = svc.client, user_headers(svc, "a", ada), user_headers(svc, "a", bob)
    tasks = [make_task(svc, title=f"T{i}", contact_id=CONTACT, assignee_id=str(bob)) for i in range(3)]
    make_task(svc, title="own", contact_id=CONTACT)  # the caller's own task: nobody is notified
    resp = c.get("/v1/notifications?limit=2", headers=hb)
    assert resp.status_code == 200
    page = resp.get_json()
    assert page["unread_count"] == 3
    assert [n["title"] for n in page["data"]] == ["Task assigned to you: T2", "Task assigned to you: T1"]
    assert page["data"][0]["subject_id"] == tasks[2]["id"] and page["data"][0]["read"] is False
    rest = c.get(f"/v1/notifications?limit=2&cursor={page['next_cursor']}", headers=hb).get_json()
    assert [n["title"] for n in rest["data"]] == ["Task assigned to you: T0"] and rest["next_cursor"] is None
    first = page["data"][0]["id"]
    # another user of the same tenant neither sees nor marks them
    assert c.get("/v1/notifications", headers=ha).get_json() == {"data": [], "next_cursor": None, "unread_count": 0}
    assert c.post(f"/v1/notifications/{first}/read", headers=ha).status_code == 404
    assert c.post("/v1/notifications/read-all", headers=ha).get_json()["updated"] == 0
    read = c.post(f"/v1/notifications/{first}/read", headers=hb)
    assert read.status_code == 200 and read.get_json()["read"] is True
    assert c.get("/v1/notifications", headers=hb).get_json()["unread_count"] == 2
    assert len(c.get("/v1/notifications?unread=true", headers=hb).get_json()["data"]) == 2
    assert c.post("/v1/notifications/read-all", headers=hb).get_json() == {"updated": 2, "unread_count": 0}
    assert c.get("/v1/notifications", headers=hb).get_json()["unread_count"] == 0
    assert c.post("/v1/notifications/nope/read", headers=hb).status_code == 404
    assert c.get("/v1/notifications?unread=maybe", headers=hb).status_code == 400
    assert c.get("/v1/notifications", headers=svc.headers("a", scopes=[])).status_code == 403


def test_task_assignment_notifies_only_someone_else(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    ada, bob = uuid.uuid4(), uuid.uuid4()
    task = make_task(svc, contact_id=CONTACT)
    patch(svc, f"/v1/tasks/{task['id']}", assignee_id=str(bob))
    patch(svc, f"/v1/tasks/{task['id']}", title="renamed")  # no new assignment
    patch(svc, f"/v1/tasks/{task['id']}", assignee_id=str(ada))
    assert [(n.kind, n.actor_id) for n in notifications_of(svc, "a", bob)] == [("task_assigned", uuid.uuid5(svc.tenant("a"), "user"))]
    assert len(notifications_of(svc, "a", ada)) == 1


def test_deal_assignment_from_deal_events(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    handlers = deal_assignment_handlers(Outbox("pipeline", metadata()))
    owner, deal = uuid.uuid4(), uuid.uuid4()
    tid = svc.tenant("a")

    def send(event_type: str, actor_id: str | None = None, **data: object) -> None:
        event = Event(type=event_type, source="pipeline", tenant_id=str(tid), subject=str(deal), data={"name": "Big", **data},
                      actor_id=actor_id)
        with tenant_context(tid), svc.db.transaction() as session:
            handlers[event_type](session, event)

    send("crm.deal.created", owner_id=str(owner))
    send("crm.deal.updated", owner_id=str(owner), changes={"name": ["a", "b"]})  # owner unchanged
    send("crm.deal.updated", owner_id=str(owner), actor_id=str(owner), changes={"owner_id": [None, str(owner)]})  # self
    send("crm.deal.created", owner_id=None)
    [note] = notifications_of(svc, "a", owner)
    assert (note.kind, note.title, note.subject_type, note.subject_id) == ("deal_assigned", "Deal assigned to you: Big", "deal", deal)


def test_agenda_in_the_callers_time_zone(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    me = uuid.uuid4()
    user_event(svc, "a", me, time_zone="Pacific/Auckland")
    h = user_headers(svc, "a", me)
    zone = zoneinfo.ZoneInfo("Pacific/Auckland")
    now = utcnow()
    today = now.astimezone(zone).date()

    def at(days: int, hour: int) -> str:
        return iso(dt.datetime.combine(today + dt.timedelta(days=days), dt.time(hour), tzinfo=zone))

    mine = {"contact_id": CONTACT, "assignee_id": str(me)}
    late = make_task(svc, title="late", due_at=iso(now - dt.timedelta(minutes=1)), **mine)
    day = make_task(svc, title="today all day", due_date=today.isoformat(), **mine)
    soon = make_task(svc, title="tomorrow", due_at=at(1, 10), **mine)
    week = make_task(svc, title="in 7 days", due_at=at(7, 23), **mine)
    make_task(svc, title="in 8 days", due_at=at(8, 0), **mine)
    make_task(svc, title="done", due_at=at(1, 9), done=True, **mine)
    make_task(svc, title="someone else's", due_at=at(1, 9), contact_id=CONTACT, assignee_id=str(uuid.uuid4()))
    make_task(svc, title="no due", **mine)
    resp = svc.client.get("/v1/tasks/agenda", headers=h)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["time_zone"], body["date"]) == ("Pacific/Auckland", today.isoformat())
    assert day["due_at"] == iso(dt.datetime.combine(today, dt.time(), tzinfo=zone))
    assert [t["id"] for t in body["overdue"]] == [late["id"]]
    assert [t["id"] for t in body["today"]] == [day["id"]]
    assert [t["id"] for t in body["next_7_days"]] == [soon["id"], week["id"]]
    # UTC for a caller the replica does not know
    assert svc.client.get("/v1/tasks/agenda", headers=user_headers(svc, "a", uuid.uuid4())).get_json()["time_zone"] == "UTC"


def test_agenda_day_boundaries_with_a_fixed_clock(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    me = uuid.uuid4()
    user_event(svc, "a", me, time_zone="America/New_York")
    mine = {"contact_id": CONTACT, "assignee_id": str(me)}
    # 2027-03-14 is New York's spring-forward day; now is 23:30 local on the 13th (04:30Z on the 14th).
    now = dt.datetime(2027, 3, 14, 4, 30, tzinfo=dt.UTC)
    earlier_today = make_task(svc, title="earlier", due_at="2027-03-14T03:00:00Z", **mine)  # 22:00 local, past
    later_today = make_task(svc, title="later", due_at="2027-03-14T04:45:00Z", **mine)  # 23:45 local
    yesterday = make_task(svc, title="yesterday", due_date="2027-03-12", **mine)
    tomorrow = make_task(svc, title="tomorrow", due_at="2027-03-14T06:00:00Z", **mine)  # 01:00 on the 14th
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        found = agenda(session, me, now)
        ids = {k: [str(t.id) for t in found[k]] for k in ("overdue", "today", "next_7_days")}
    assert found["date"] == dt.date(2027, 3, 13)
    assert ids == {"overdue": [yesterday["id"], earlier_today["id"]], "today": [later_today["id"]],
                   "next_7_days": [tomorrow["id"]]}


def test_follow_ups(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    me = uuid.uuid4()
    h = user_headers(svc, "a", me)
    pipeline = make_pipeline(svc, stages=[{"name": "Lead", "probability": 10}, {"name": "Won", "probability": 100, "kind": "won"}])
    idle = make_deal(svc, name="idle", pipeline_id=pipeline["id"], owner_id=str(me))
    busy = make_deal(svc, name="busy", pipeline_id=pipeline["id"], owner_id=str(me))
    make_task(svc, deal_id=busy["id"], due_at=iso(utcnow() + dt.timedelta(days=1)))
    make_deal(svc, name="theirs", pipeline_id=pipeline["id"], owner_id=str(uuid.uuid4()))
    old = (utcnow() - dt.timedelta(days=45)).isoformat()
    quiet, fresh, never, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    contact_event(svc, "a", quiet, first_name="Quiet", last_name="Q", owner_id=str(me), last_contacted_at=old, created_at=old)
    contact_event(svc, "a", fresh, first_name="Fresh", owner_id=str(me), last_contacted_at=utcnow().isoformat(), created_at=old)
    contact_event(svc, "a", never, email="never@example.com", owner_id=str(me), last_contacted_at=None, created_at=old)
    contact_event(svc, "a", other, first_name="Other", owner_id=str(uuid.uuid4()), last_contacted_at=old, created_at=old)
    resp = svc.client.get("/v1/follow-ups", headers=h)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["follow_up_days"] == 30
    assert [d["name"] for d in body["deals_without_next_activity"]] == [idle["name"]]
    assert body["rotten_deals"] == []  # no stage with rotten_days here
    assert sorted(c["name"] for c in body["contacts"]) == ["Quiet Q", "never@example.com"]
    # The threshold comes from /v1/settings/pipeline: at 60 days, 45 days of silence (or 45 days since
    # the contact was created, never talked to) is not yet overdue.
    admin = svc.headers("a")
    assert svc.client.patch("/v1/settings/pipeline", json={"follow_up_days": 60}, headers=admin).status_code == 200
    body = svc.client.get("/v1/follow-ups", headers=h).get_json()
    assert body["follow_up_days"] == 60 and body["contacts"] == []
    assert svc.client.patch("/v1/settings/pipeline", json={"follow_up_days": 30}, headers=admin).status_code == 200
    contact_event(svc, "a", quiet, "crm.contact.deleted")
    assert [c["name"] for c in svc.client.get("/v1/follow-ups", headers=h).get_json()["contacts"]] == ["never@example.com"]


def test_deal_events_name_their_actor_and_self_assignment_notifies_nobody(pipeline_service: ServiceHarness) -> None:
    """Through the API: the envelope says who acted, so taking a deal yourself is no news to you,
    while a deal someone else assigns to you is."""
    svc = pipeline_service
    me, boss = uuid.uuid4(), uuid.uuid4()
    handlers = deal_assignment_handlers(Outbox("pipeline", metadata()))
    for actor, owner in ((me, me), (boss, me)):
        resp = svc.client.post("/v1/deals", json={"name": f"By {actor}", "owner_id": str(owner)},
                               headers=user_headers(svc, "a", actor))
        assert resp.status_code == 201, resp.get_json()
    events = outbox_events(svc, "crm.deal.created")
    assert [e["actor_id"] for e in events] == [str(me), str(boss)]
    for raw in events:
        event = Event(**{k: v for k, v in raw.items() if k != "topic"})
        with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
            handlers[event.type](session, event)
    [note] = notifications_of(svc, "a", me)
    assert note.actor_id == boss
