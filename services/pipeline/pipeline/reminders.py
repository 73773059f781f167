"""Task reminders as timers (crm_db.timers): each pending reminder of an open task is one row.

Writing a task re-plans its reminders in the same transaction (due moved, reminders edited,
snoozed, reassigned); completing or deleting it cancels them. A fired reminder becomes an in-app
notification for the assignee and, when asked, an email through the mail service.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_core.settings import Settings
from crm_core.timezones import zone
from crm_db.base import as_utc, utcnow
from crm_db.database import Database
from crm_db.timers import Timer, Timers, TimerScheduler
from crm_events.outbox import Outbox
from crm_mail.requests import SEND_REQUESTED, build_request
from pipeline.models import Task, metadata
from pipeline.models.reminders import UserReplica, timers
from pipeline.notifications import add_notifications, notification_row

KIND = "task_reminder"
TIMERS = Timers(timers)
Plan = list[tuple[dt.datetime, dict[str, Any]]]


def _key(at: dt.datetime, payload: dict[str, Any]) -> tuple[str, Any]:
    """What makes a reminder one occurrence: its planned time and what it is for (a due time moved
    or a new snooze is a new occurrence; editing the title is not). The planned time travels in
    the payload: a retry after a failure moves the row's due_at, not the occurrence."""
    planned = payload.get("at")
    return (planned if isinstance(planned, str) else as_utc(at).isoformat()), payload.get("minutes_before")


def plan(task: Task, now: dt.datetime, fired: set[tuple[str, Any]] = frozenset()) -> Plan:  # type: ignore[assignment]
    """When the task's reminders fire. Snoozed: all of them at the snooze time, as one. A reminder
    whose time passed is still sent while the task is not yet due (set 30 minutes before a task due
    in 10), unless it already was (`fired`); an overdue task gets no late reminders."""
    if task.done:
        return []
    reminders = list(task.reminders or [])
    if task.snoozed_until is not None:
        channels = list(dict.fromkeys(c for r in reminders for c in r.get("channels", ["in_app"]))) or ["in_app"]
        planned: Plan = [(as_utc(task.snoozed_until), {"channels": channels, "snoozed": True})]
    elif task.due_at is None:
        return []
    else:
        due = as_utc(task.due_at)
        planned = []
        for reminder in reminders:
            at = due - dt.timedelta(minutes=int(reminder["minutes_before"]))
            if at < now and due <= now:
                continue
            planned.append((at, {"minutes_before": reminder["minutes_before"],
                                 "channels": list(reminder.get("channels") or ["in_app"])}))
    # An occurrence that fired is never planned again, whatever the clocks of web and worker say.
    out = []
    for at, payload in planned:
        payload = {**payload, "at": as_utc(at).isoformat()}
        if _key(at, payload) not in fired:
            out.append((at, payload))
    return out


def replan(session: Session, task: Task, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    # Pending rows first: a scheduler firing one of them holds its row lock, so this DELETE waits
    # for that commit and then skips the fired row. Only then is the fired list read (a new
    # snapshot under READ COMMITTED), so a reminder firing right now is not planned again.
    TIMERS.cancel(session, KIND, task.id)
    fired = {_key(t.due_at, t.payload) for t in TIMERS.fired(session, KIND, task.id)}
    TIMERS.schedule_many(session, KIND, task.id, plan(task, now, fired))


def cancel(session: Session, task_id: uuid.UUID) -> None:
    TIMERS.cancel(session, KIND, task_id)


def _when(task: Task, time_zone: str | None) -> str:
    if task.due_date is not None:
        return f"due {task.due_date.isoformat()}"
    if task.due_at is None:
        return "no due time"
    local = as_utc(task.due_at).astimezone(zone(time_zone))
    return f"due {local.strftime('%Y-%m-%d %H:%M')} ({zone(time_zone).key})"


class ReminderDispatcher:
    """The scheduler's handler for task reminders, a batch of one tenant's at a time: two reads
    (tasks, assignees), one INSERT of notifications, one outbox write per event type."""

    def __init__(self, outbox: Outbox, public_url: str = "") -> None:
        self.outbox, self.public_url = outbox, public_url.rstrip("/")

    def __call__(self, session: Session, timer: Timer) -> None:
        self.batch(session, [timer])

    def batch(self, session: Session, due: list[Timer]) -> None:
        tasks = {t.id: t for t in session.scalars(select(Task).where(Task.id.in_({d.subject_id for d in due})))}
        assignees = {t.assignee_id for t in tasks.values() if t.assignee_id is not None}
        users = {u.id: u for u in session.scalars(select(UserReplica).where(UserReplica.id.in_(assignees)))} if assignees else {}
        notes, mails = [], []
        for timer in due:
            task = tasks.get(timer.subject_id)
            if task is None or task.done or task.assignee_id is None:
                continue  # nothing to remind of (timers are cancelled with these changes; belt and braces)
            user = users.get(task.assignee_id)
            when = _when(task, user.time_zone if user else task.time_zone)
            title = f"Reminder: {task.title}"
            notes.append(notification_row(
                user_id=task.assignee_id, kind=KIND, title=title, body=when, subject_type="task", subject_id=task.id,
                data={"due_at": task.due_at.isoformat() if task.due_at else None, "timer_id": timer.id,
                      "minutes_before": timer.payload.get("minutes_before"), "snoozed": bool(timer.payload.get("snoozed"))}))
            if "email" in timer.payload.get("channels", ()) and user is not None and user.email and user.active:
                mails.append(self._mail(task, user, title, when, timer))
        add_notifications(session, self.outbox, notes)
        if mails:
            self.outbox.emit_many(session, SEND_REQUESTED, mails)
        # A snooze that fired is over: the task no longer asks for it, so no later edit (after
        # the fired timer row is purged) can plan it again.
        for timer in due:
            task = tasks.get(timer.subject_id)
            if timer.payload.get("snoozed") and task is not None and task.snoozed_until is not None and \
                    _key(task.snoozed_until, {}) == _key(timer.due_at, timer.payload):
                session.execute(update(Task).where(Task.id == task.id, Task.snoozed_until == task.snoozed_until)
                                .values(snoozed_until=None).execution_options(synchronize_session=False))

    def _mail(self, task: Task, user: UserReplica, title: str, when: str, timer: Timer) -> tuple[str, dict[str, Any]]:
        link = f"\n\n{self.public_url}/tasks/{task.id}" if self.public_url else ""
        to: dict[str, str] = {"address": user.email or "", **({"name": user.name} if user.name else {})}
        # The message id follows from the timer: should the same reminder ever be requested twice,
        # the mail service keeps one message.
        data = build_request(message_id=uuid.uuid5(task.id, f"reminder-{timer.id}"), to=[to], subject=title[:998],
                             purpose="notification", refers_to={"type": "task", "id": str(task.id)},
                             text=f"{task.title}\n{when}{link}\n" + (f"\n{task.notes}\n" if task.notes else ""))
        return data["message_id"], data


def scheduler(settings: Settings, db: Database, now: Callable[[], dt.datetime] = utcnow) -> TimerScheduler:
    outbox = Outbox(settings.service, metadata())
    dispatcher = ReminderDispatcher(outbox, settings.get("CRM_PUBLIC_URL", "") or "")
    batch = int(settings.get("CRM_TIMER_BATCH", "") or 500)
    return TimerScheduler(db, timers, {KIND: dispatcher}, {KIND: dispatcher.batch}, now=now, batch=batch)


def reminder_loops(settings: Settings, db: Database) -> list[Callable[[threading.Event], None]]:
    """ServiceProcess.background: the reminder scheduler of `python -m pipeline worker`."""
    return [scheduler(settings, db).run]
