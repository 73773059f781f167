"""On PostgreSQL (app role, RLS on): another tenant or another user of the same tenant cannot see
my notifications, tasks, agenda or follow-ups; concurrent schedulers never fire a reminder twice,
and a scheduler started after downtime fires what was due."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from pipeline_helpers import make_deal, make_pipeline, make_task
from sqlalchemy import func, select
from tasks_helpers import (
    CONTACT,
    Clock,
    contact_event,
    iso,
    notifications_of,
    reminder_scheduler,
    user_event,
    user_headers,
)

from crm_core.context import tenant_context
from crm_db.base import utcnow
from crm_testing.apps import ServiceHarness
from pipeline.models.reminders import ContactReplica, Notification, UserReplica, timers


def test_notifications_tasks_agenda_follow_ups_are_private(pg_pipeline: ServiceHarness) -> None:
    svc = pg_pipeline
    c = svc.client
    me, colleague, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    user_event(svc, "a", me, time_zone="Europe/Berlin")
    user_event(svc, "b", stranger, time_zone="Asia/Tokyo")
    ha, hc, hb = user_headers(svc, "a", me), user_headers(svc, "a", colleague), user_headers(svc, "b", stranger)
    deal = make_deal(svc, "a", name="Mine", pipeline_id=make_pipeline(svc, "a")["id"], owner_id=str(me))
    task = make_task(svc, "a", contact_id=CONTACT, assignee_id=str(me), due_at=iso(utcnow() + dt.timedelta(hours=1)),
                     reminders=[{"minutes_before": 30}])
    contact_event(svc, "a", uuid.UUID(CONTACT), first_name="Quiet", owner_id=str(me),
                  last_contacted_at=(utcnow() - dt.timedelta(days=90)).isoformat())
    assert reminder_scheduler(svc, Clock(utcnow() + dt.timedelta(hours=1))).drain() == 1
    mine = c.get("/v1/notifications", headers=ha).get_json()
    assert mine["unread_count"] == 2 and {n["kind"] for n in mine["data"]} == {"task_assigned", "task_reminder"}
    note = mine["data"][0]["id"]
    agenda = c.get("/v1/tasks/agenda", headers=ha).get_json()
    assert agenda["time_zone"] == "Europe/Berlin" and [t["id"] for t in agenda["today"] + agenda["next_7_days"]] == [task["id"]]
    follow = c.get("/v1/follow-ups", headers=ha).get_json()
    assert [d["id"] for d in follow["deals_without_next_activity"]] == [deal["id"]] and len(follow["contacts"]) == 1

    for h in (hc, hb):  # a colleague of the same tenant, and another tenant's user
        assert c.get("/v1/notifications", headers=h).get_json() == {"data": [], "next_cursor": None, "unread_count": 0}
        assert c.post(f"/v1/notifications/{note}/read", headers=h).status_code == 404
        assert c.post("/v1/notifications/read-all", headers=h).get_json()["updated"] == 0
        agenda = c.get("/v1/tasks/agenda", headers=h).get_json()
        assert agenda["overdue"] == agenda["today"] == agenda["next_7_days"] == []
        follow = c.get("/v1/follow-ups", headers=h).get_json()
        assert follow["deals_without_next_activity"] == follow["rotten_deals"] == follow["contacts"] == []
    assert c.get("/v1/tasks/agenda", headers=hb).get_json()["time_zone"] == "Asia/Tokyo"
    # another tenant cannot complete, snooze or filter for my task
    assert c.post(f"/v1/tasks/{task['id']}/complete", headers=hb).status_code == 404
    assert c.post(f"/v1/tasks/{task['id']}/snooze", json={"until": iso(utcnow() + dt.timedelta(hours=2))},
                  headers=hb).status_code == 404
    for query in (f"assignee_id={me}", f"series_id={task['id']}", "type=todo", f"contact_id={CONTACT}"):
        assert c.get(f"/v1/tasks?{query}", headers=hb).get_json()["data"] == [], query
    assert c.get(f"/v1/deals/{deal['id']}", headers=hb).status_code == 404
    assert c.get("/v1/notifications", headers=ha).get_json()["unread_count"] == 2  # untouched
    # RLS behind the ORM: tenant b's transaction sees none of a's replica or notification rows
    with tenant_context(svc.tenant("b")), svc.db.transaction() as session:
        for model in (Notification, UserReplica, ContactReplica):
            assert session.execute(select(func.count()).select_from(model.__table__)).scalar() == (
                1 if model is UserReplica else 0), model


def test_concurrent_schedulers_fire_each_reminder_once(pg_pipeline: ServiceHarness) -> None:
    svc = pg_pipeline
    user = uuid.uuid4()
    due = utcnow() + dt.timedelta(hours=1)
    for tenant in ("a", "b"):
        for i in range(15):
            make_task(svc, tenant, title=f"T{i}", contact_id=CONTACT, assignee_id=str(user), due_at=iso(due),
                      reminders=[{"minutes_before": 10}, {"minutes_before": 5}])
    clock = Clock(due)
    schedulers = [reminder_scheduler(svc, clock) for _ in range(4)]
    for s in schedulers:
        s.batch = 7
    errors: list[BaseException] = []

    def work(s: object) -> None:
        try:
            s.drain()  # type: ignore[attr-defined]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sum(s.fired_total for s in schedulers) == 60
    for tenant in ("a", "b"):
        assert len(notifications_of(svc, tenant, user, "task_reminder")) == 30
    with svc.db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(timers).where(timers.c.fired_at.is_(None))).scalar() == 0


def test_a_scheduler_started_after_downtime_fires_what_was_due(pg_pipeline: ServiceHarness) -> None:
    svc = pg_pipeline
    user = uuid.uuid4()
    due = utcnow() + dt.timedelta(hours=1)
    make_task(svc, contact_id=CONTACT, assignee_id=str(user), due_at=iso(due), reminders=[{"minutes_before": 30}])
    # before the reminder time nothing is due
    clock = Clock(due - dt.timedelta(minutes=45))
    assert reminder_scheduler(svc, clock).run_once() == 0
    clock.at = due + dt.timedelta(minutes=10)  # down through the reminder's time; back now
    assert reminder_scheduler(svc, clock).run_once() == 1
    assert reminder_scheduler(svc, clock).run_once() == 0
    assert len(notifications_of(svc, "a", user, "task_reminder")) == 1
