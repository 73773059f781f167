"""Task use cases: a task is about a deal, contact, company or ticket; it is due at a moment or on
an all-day date in its time zone, may recur (RRULE) and carries reminders (timers).

Every write keeps three things in the same transaction: the task's reminder timers
(pipeline.reminders), its deal's next/last activity (pipeline.deal_activity), and a notification
for a new assignee who is not the one assigning.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import Conflict, validation_error
from crm_core.ids import uuid7
from crm_core.timezones import DEFAULT_TIME_ZONE, local_date, start_of_day
from crm_db.base import as_utc, utcnow
from crm_events.records import RecordService
from pipeline import reminders
from pipeline.deal_activity import refresh_deal_activity
from pipeline.models import Deal, Task
from pipeline.notifications import notify
from pipeline.recurrence import RecurrenceError, next_occurrence
from pipeline.replicas import user_time_zone

QUIET = "crm_task_quiet"  # session.info: writing a next occurrence, which notifies nobody
LINKS = ("deal_id", "contact_id", "company_id", "ticket_id")
# What a new occurrence of a recurring task copies from the one completed.
COPIED = ("type", "title", "notes", "time_zone", "duration_minutes", "priority", *LINKS, "assignee_id",
          "recurrence", "series_id", "reminders")


def _actor() -> uuid.UUID | None:
    principal = context.current_principal()
    return principal.user_id if principal else None


class TaskService(RecordService[Task]):
    model = Task
    aggregate = "task"

    def __init__(self, *args: Any, now: Any = utcnow, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = now

    def fast_create(self, session: Session) -> bool:
        return False  # create() adds timers, activity and notifications

    # -- rules shared by create and update ---------------------------------------------------

    def _check_links(self, session: Session, values: dict[str, Any], record: Task | None) -> None:
        def current(name: str) -> Any:
            return values[name] if name in values else (getattr(record, name) if record else None)

        if all(current(name) is None for name in LINKS):
            raise validation_error({"deal_id": [f"Give at least one of: {', '.join(LINKS)}."]})
        # Scoped to the tenant: another tenant's deal does not exist here. Contacts, companies and
        # tickets live in other services and are not checked.
        if values.get("deal_id") is not None and session.scalars(select(Deal.id).where(Deal.id == values["deal_id"])).first() is None:
            raise validation_error({"deal_id": [f"No deal with id {values['deal_id']}."]})

    def _zone(self, session: Session, values: dict[str, Any], record: Task | None) -> str:
        """The task's zone: as given, else the assignee's (the caller's for an unassigned task), else UTC."""
        if values.get("time_zone"):
            return str(values["time_zone"])
        assignee = values["assignee_id"] if "assignee_id" in values else (record.assignee_id if record else None)
        if record is not None and "assignee_id" not in values and record.time_zone:
            return record.time_zone
        return user_time_zone(session, assignee or _actor()) or DEFAULT_TIME_ZONE

    def _due(self, session: Session, values: dict[str, Any], record: Task | None) -> None:
        """due_at / due_date / time_zone / recurrence: all-day dates become the start of the day."""
        zone = self._zone(session, values, record)
        values["time_zone"] = zone
        due_date = values["due_date"] if "due_date" in values else (record.due_date if record else None)
        if values.get("due_at") is not None:
            values["due_date"] = None  # a moment replaces an all-day date
        elif due_date is not None and ("due_date" in values or "time_zone" in values or "assignee_id" in values
                                       or record is None):
            values["due_at"] = start_of_day(due_date, zone)
        elif "due_date" in values and due_date is None and "due_at" not in values:
            values["due_at"] = None  # clearing the date clears the due time it stood for
        recurrence = values["recurrence"] if "recurrence" in values else (record.recurrence if record else None)
        due_at = values["due_at"] if "due_at" in values else (record.due_at if record else None)
        if recurrence and due_at is None:
            raise validation_error({"recurrence": ["A recurring task needs due_at or due_date."]})
        if recurrence:
            try:
                next_occurrence(recurrence, as_utc(due_at), zone)
            except RecurrenceError as exc:
                raise validation_error({"recurrence": [str(exc)]}) from exc
        if record is not None and ("due_at" in values or "due_date" in values) and \
                values.get("due_at") != record.due_at:
            values["snoozed_until"] = None  # a new due time replaces a snooze of the old one

    # -- hooks -------------------------------------------------------------------------------

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._check_links(session, values, None)
        values.setdefault("assignee_id", _actor())  # a task is its creator's unless assigned
        values.setdefault("id", uuid7())
        self._due(session, values, None)
        if values.get("recurrence"):
            values.setdefault("series_id", values["id"])
        if values.get("done"):
            values["completed_at"] = self.now()

    def create(self, session: Session, values: dict[str, Any]) -> Task:
        task = super().create(session, values)
        self._after_write(session, task, previous_deal=None, previous_assignee=None)
        if task.done:
            self._completed(session, task)
        return task

    def before_update(self, session: Session, record: Task, values: dict[str, Any]) -> None:
        self._check_links(session, values, record)
        if any(k in values for k in ("due_at", "due_date", "time_zone", "assignee_id", "recurrence")):
            self._due(session, values, record)
        if "done" in values and values["done"] != record.done:
            values["completed_at"] = self.now() if values["done"] else None
            if values["done"]:
                values["snoozed_until"] = None
        session.info.setdefault("crm_task_before", {})[record.id] = (record.deal_id, record.assignee_id)

    def update(self, session: Session, record_id: uuid.UUID, values: dict[str, Any],
               expected_version: int | None = None) -> Task:
        task = super().update(session, record_id, values, expected_version)
        before = session.info.get("crm_task_before", {}).pop(task.id, None)
        if before is not None:  # replanned even without visible changes: cheap, and never stale
            self._after_write(session, task, previous_deal=before[0], previous_assignee=before[1])
        return task

    def after_update(self, session: Session, record: Task, changes: dict[str, list[Any]]) -> None:
        if changes.get("done") == [False, True]:
            self._completed(session, record)

    def delete(self, session: Session, record_id: uuid.UUID, expected_version: int | None = None) -> None:
        record = self.get(session, record_id)
        deal_id = record.deal_id
        super().delete(session, record_id, expected_version)
        reminders.cancel(session, record_id)
        if deal_id is not None:
            refresh_deal_activity(session, [deal_id])

    def _after_write(self, session: Session, task: Task, *, previous_deal: uuid.UUID | None,
                     previous_assignee: uuid.UUID | None) -> None:
        reminders.replan(session, task, self.now())
        deals = {d for d in (previous_deal, task.deal_id) if d is not None}
        if deals:
            refresh_deal_activity(session, deals)
        actor = _actor()
        assigned = task.assignee_id not in (None, previous_assignee, actor)
        if assigned and not session.info.get(QUIET):
            assert task.assignee_id is not None
            notify(session, self.outbox, user_id=task.assignee_id, kind="task_assigned",
                   title=f"Task assigned to you: {task.title}", subject_type="task", subject_id=task.id, actor_id=actor)

    def _completed(self, session: Session, task: Task) -> Task | None:
        """crm.task.completed, and the next occurrence of a recurring task (None at the series' end)."""
        self.outbox.emit(session, "crm.task.completed", task.id, self.body(session, task))
        if not task.recurrence or task.due_at is None:
            return None
        series = task.series_id or task.id
        if session.scalars(select(Task.id).where(Task.series_id == series, Task.due_at > task.due_at).limit(1)).first():
            return None  # completed again after a reopen: its next occurrence exists already
        found = next_occurrence(task.recurrence, as_utc(task.due_at), task.time_zone, all_day=task.due_date is not None)
        if found is None:
            return None
        due_at, rule = found
        values: dict[str, Any] = {name: getattr(task, name) for name in COPIED}
        values.update(recurrence=rule, series_id=task.series_id or task.id, done=False)
        if task.due_date is not None:
            values["due_date"] = local_date(due_at, task.time_zone)
        else:
            values["due_at"] = due_at
        session.info[QUIET] = True  # the next occurrence is no new assignment
        try:
            nxt = self.create(session, values)
        finally:
            session.info.pop(QUIET, None)
        session.info.setdefault("crm_next_occurrence", {})[task.id] = nxt
        return nxt

    # -- the task's own operations -----------------------------------------------------------

    def complete(self, session: Session, task_id: uuid.UUID, expected_version: int | None = None) -> tuple[Task, Task | None]:
        task = self.update(session, task_id, {"done": True}, expected_version)
        return task, session.info.get("crm_next_occurrence", {}).get(task.id)

    def snooze(self, session: Session, task_id: uuid.UUID, until: dt.datetime,
               expected_version: int | None = None) -> Task:
        """Every reminder of the task fires at `until` instead (once); a new due time ends the snooze."""
        if as_utc(until) <= self.now():
            raise validation_error({"until": ["Snooze until a time in the future."]})
        if self.get(session, task_id).done:
            raise Conflict("A completed task has no reminders to snooze.", errors={"until": ["The task is done."]})
        return self.update(session, task_id, {"snoozed_until": as_utc(until)}, expected_version)
