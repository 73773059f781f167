"""Task reminders with a controllable clock: they fire within a minute of their time, exactly
once, also after a restart; they move with the due time, are snoozed, and are cancelled when the
task is completed or deleted. A fired reminder is an in-app notification and, when asked, an email."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from pipeline_helpers import make_task, outbox_events, patch
from tasks_helpers import CONTACT, Clock, iso, notifications_of, pending_timers, reminder_scheduler, user_event

from crm_db.base import utcnow
from crm_testing.apps import ServiceHarness


def _setup(svc: ServiceHarness, **task: object) -> tuple[uuid.UUID, dict, dt.datetime]:
    user = uuid.uuid4()
    user_event(svc, "a", user, email="ada@example.com", name="Ada Lovelace", time_zone="Europe/Berlin")
    due = (utcnow() + dt.timedelta(hours=2)).replace(microsecond=0)
    body = {"contact_id": CONTACT, "assignee_id": str(user), "due_at": iso(due),
            "reminders": [{"minutes_before": 30, "channels": ["in_app", "email"]}], **task}
    return user, make_task(svc, title="Call Ada", **body), due


def _mails(svc: ServiceHarness) -> list[dict]:
    return outbox_events(svc, "crm.mail.send_requested")


def test_fires_on_time_exactly_once_with_an_email(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    user, task, due = _setup(svc)
    clock = Clock(due - dt.timedelta(minutes=30, seconds=1))
    scheduler = reminder_scheduler(svc, clock)
    assert scheduler.run_once() == 0 and notifications_of(svc, "a", user, "task_reminder") == []
    clock.advance(seconds=1)
    assert scheduler.run_once() == 1
    [note] = notifications_of(svc, "a", user, "task_reminder")
    assert (note.kind, note.title, note.subject_type, str(note.subject_id)) == ("task_reminder", "Reminder: Call Ada", "task", task["id"])
    local = due.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert note.body == f"due {local.strftime('%Y-%m-%d %H:%M')} (Europe/Berlin)"
    [mail] = _mails(svc)
    assert mail["data"]["to"] == [{"address": "ada@example.com", "name": "Ada Lovelace"}]
    assert (mail["data"]["purpose"], mail["data"]["subject"]) == ("notification", "Reminder: Call Ada")
    assert mail["data"]["refers_to"] == {"type": "task", "id": task["id"]}
    clock.advance(hours=3)
    assert scheduler.drain() == 0 and len(notifications_of(svc, "a", user, "task_reminder")) == 1 and len(_mails(svc)) == 1
    assert [e["data"]["kind"] for e in outbox_events(svc, "crm.notification.")] == ["task_assigned", "task_reminder"]


def test_a_restart_fires_what_was_due_while_down(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    user, _task, due = _setup(svc, reminders=[{"minutes_before": 30}, {"minutes_before": 10}])
    # The worker was down over both reminder times; the one that starts now fires both, once.
    clock = Clock(due - dt.timedelta(minutes=5))
    assert reminder_scheduler(svc, clock).run_once() == 2
    assert reminder_scheduler(svc, clock).run_once() == 0
    assert [n.kind for n in notifications_of(svc, "a", user, "task_reminder")] == ["task_reminder"] * 2
    assert _mails(svc) == []  # in_app only (the default channel)


def test_reminders_move_with_the_due_time_and_snooze(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    user, task, due = _setup(svc)
    later = due + dt.timedelta(days=1)
    patch(svc, f"/v1/tasks/{task['id']}", due_at=iso(later))
    [timer] = pending_timers(svc)
    assert iso(timer.due_at.replace(tzinfo=dt.UTC)) == iso(later - dt.timedelta(minutes=30))
    clock = Clock(due)
    scheduler = reminder_scheduler(svc, clock)
    assert scheduler.run_once() == 0  # the old time passed: nothing
    until = due + dt.timedelta(hours=3)
    resp = svc.client.post(f"/v1/tasks/{task['id']}/snooze", json={"until": iso(until)}, headers=svc.headers("a"))
    assert resp.status_code == 200 and resp.get_json()["snoozed_until"] == iso(until)
    assert [iso(t.due_at.replace(tzinfo=dt.UTC)) for t in pending_timers(svc)] == [iso(until)]
    clock.at = until - dt.timedelta(seconds=1)
    assert scheduler.run_once() == 0
    clock.at = until
    assert scheduler.run_once() == 1
    [note] = notifications_of(svc, "a", user, "task_reminder")
    assert note.data["snoozed"] is True
    # a new due time ends the snooze: the reminders follow the due time again
    moved = patch(svc, f"/v1/tasks/{task['id']}", due_at=iso(later + dt.timedelta(hours=1)))
    assert moved["snoozed_until"] is None
    assert [iso(t.due_at.replace(tzinfo=dt.UTC)) for t in pending_timers(svc)] == [iso(later + dt.timedelta(minutes=30))]


def test_completing_or_deleting_cancels(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    user, task, due = _setup(svc)
    _, other, _ = _setup(svc)
    assert len(pending_timers(svc)) == 2
    assert svc.client.post(f"/v1/tasks/{task['id']}/complete", headers=svc.headers("a")).status_code == 200
    assert svc.client.delete(f"/v1/tasks/{other['id']}", headers=svc.headers("a")).status_code == 204
    assert pending_timers(svc) == []
    assert reminder_scheduler(svc, Clock(due + dt.timedelta(days=1))).drain() == 0
    reopened = patch(svc, f"/v1/tasks/{task['id']}", done=False)  # reopened: its reminder is back
    assert reopened["done"] is False and len(pending_timers(svc)) == 1
    done = svc.client.post(f"/v1/tasks/{task['id']}/snooze", json={"until": iso(due)}, headers=svc.headers("a"))
    assert done.status_code == 200
    svc.client.post(f"/v1/tasks/{task['id']}/complete", headers=svc.headers("a"))
    resp = svc.client.post(f"/v1/tasks/{task['id']}/snooze", json={"until": iso(due)}, headers=svc.headers("a"))
    assert resp.status_code == 409


def test_late_and_overdue(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    user = uuid.uuid4()
    now = utcnow()
    # set 30 minutes before a task due in 10: sent at once
    make_task(svc, contact_id=CONTACT, assignee_id=str(user), due_at=iso(now + dt.timedelta(minutes=10)),
              reminders=[{"minutes_before": 30}])
    # an overdue task gets no late reminder
    make_task(svc, contact_id=CONTACT, assignee_id=str(user), due_at=iso(now - dt.timedelta(minutes=10)),
              reminders=[{"minutes_before": 30}])
    assert reminder_scheduler(svc, Clock(now + dt.timedelta(seconds=1))).drain() == 1
    assert len(notifications_of(svc, "a", user, "task_reminder")) == 1
    # editing the task later does not send the reminder that went out again
    [late] = [t for t in svc.client.get(f"/v1/tasks?assignee_id={user}", headers=svc.headers("a")).get_json()["data"]
              if t["due_at"] > iso(now)]
    patch(svc, f"/v1/tasks/{late['id']}", title="Renamed", reminders=[{"minutes_before": 30}, {"minutes_before": 1}])
    assert reminder_scheduler(svc, Clock(now + dt.timedelta(seconds=2))).drain() == 0
    assert reminder_scheduler(svc, Clock(now + dt.timedelta(minutes=9))).drain() == 1  # the new one, at its time
    assert len(notifications_of(svc, "a", user, "task_reminder")) == 2


def test_reassigning_sends_the_reminder_to_the_new_assignee(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    user, task, due = _setup(svc)
    bob = uuid.uuid4()
    user_event(svc, "a", bob, email="bob@example.com", name=None)
    patch(svc, f"/v1/tasks/{task['id']}", assignee_id=str(bob))
    assert reminder_scheduler(svc, Clock(due)).drain() == 1
    assert [n.kind for n in notifications_of(svc, "a", user)] == ["task_assigned"]
    assert sorted(n.kind for n in notifications_of(svc, "a", bob)) == ["task_assigned", "task_reminder"]
    assert [m["data"]["to"] for m in _mails(svc)] == [[{"address": "bob@example.com"}]]


def test_a_fired_reminder_is_never_planned_again(pipeline_service: ServiceHarness) -> None:
    """The worker fired it; an edit on a web server whose clock says it is not yet time must not
    plan it again (nor may the fired row, kept until purged, be mistaken for a new occurrence)."""
    svc = pipeline_service
    user, task, due = _setup(svc)
    clock = Clock(due - dt.timedelta(minutes=29))
    scheduler = reminder_scheduler(svc, clock)
    assert scheduler.run_once() == 1
    patch(svc, f"/v1/tasks/{task['id']}", title="Call Ada again")  # this web clock: two hours before due
    assert pending_timers(svc) == []
    clock.advance(minutes=10)
    assert scheduler.drain() == 0 and len(notifications_of(svc, "a", user, "task_reminder")) == 1


def test_a_fired_snooze_is_over(pipeline_service: ServiceHarness) -> None:
    """Once a snooze fired, the task no longer asks for it: after the fired row is purged, an edit
    still plans nothing for that moment."""
    svc = pipeline_service
    user, task, due = _setup(svc)
    until = utcnow().replace(microsecond=0) + dt.timedelta(minutes=20)
    assert svc.client.post(f"/v1/tasks/{task['id']}/snooze", json={"until": iso(until)},
                           headers=svc.headers("a")).status_code == 200
    clock = Clock(until)
    scheduler = reminder_scheduler(svc, clock)
    assert scheduler.run_once() == 1
    assert svc.client.get(f"/v1/tasks/{task['id']}", headers=svc.headers("a")).get_json()["snoozed_until"] is None
    clock.advance(seconds=1)
    assert scheduler.purge(older_than=dt.timedelta(0)) >= 1
    patch(svc, f"/v1/tasks/{task['id']}", notes="Bring the contract")
    assert [iso(t.due_at.replace(tzinfo=dt.UTC)) for t in pending_timers(svc)] == [iso(due - dt.timedelta(minutes=30))]
    assert len(notifications_of(svc, "a", user, "task_reminder")) == 1
