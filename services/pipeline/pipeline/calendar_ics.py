"""A user's calendar feed as iCalendar (RFC 5545): their tasks and meetings as VEVENTs.

VEVENT, not VTODO: Google Calendar, Outlook and Apple Calendar show the events of a subscribed
calendar, and none of them shows a subscribed VTODO. So a task is an event:
- an all-day task (due_date) is DTSTART;VALUE=DATE on that day and DTEND the next (RFC 5545 3.6.1:
  DTEND is exclusive), floating as all-day dates are in every client;
- a timed task starts at due_at, as wall time of its time zone (TZID, with the VTIMEZONE the
  calendar then carries) or in UTC, and lasts duration_minutes (else DEFAULT_TASK_MINUTES);
- an open recurring task carries its RRULE from its own occurrence on (completing it makes the next
  one, which the next fetch shows instead); a done one is shown alone, ticked.
Meetings keep the UID of their invitations (`<activity id>@crm`) and their SEQUENCE, so a client
that has the invitation too sees one event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import icalendar

from crm_db.base import as_utc
from crm_ical import local, new_calendar, to_bytes
from pipeline.models import Task
from pipeline.models.calendar import Meeting
from pipeline.recurrence import feed_rule

DEFAULT_TASK_MINUTES = 30
DEFAULT_MEETING_MINUTES = 30
REFRESH = dt.timedelta(minutes=15)  # what clients that honour it poll at (Apple, Outlook)
DONE_MARK = "✓ "


def _rrule(value: str | None, time_zone: str | None, all_day: bool) -> icalendar.vRecur | None:
    if not value:
        return None
    try:
        # As stored, UNTIL may be the task's local time: the feed writes it as RFC 5545 wants it.
        return icalendar.vRecur.from_ical(feed_rule(value.removeprefix("RRULE:"), time_zone, all_day=all_day))
    except (ValueError, TypeError, OverflowError):
        return None  # a rule the task service would not have stored: the occurrence alone


def task_event(task: Task, stamp: dt.datetime) -> icalendar.Event | None:
    if task.due_date is None and task.due_at is None:
        return None  # nothing to put on a calendar
    event = icalendar.Event()
    event.add("uid", f"task-{task.id}@crm")
    event.add("dtstamp", stamp)
    event.add("last-modified", as_utc(task.updated_at))
    event.add("sequence", max(task.version - 1, 0))
    event.add("summary", (DONE_MARK if task.done else "") + task.title)
    if task.notes:
        event.add("description", task.notes)
    if task.due_date is not None:
        event.add("dtstart", task.due_date)
        event.add("dtend", task.due_date + dt.timedelta(days=1))
        event.add("transp", "TRANSPARENT")  # an all-day to-do does not make the day busy
    else:
        starts = local(as_utc(task.due_at), task.time_zone)  # type: ignore[arg-type]
        event.add("dtstart", starts)
        event.add("dtend", starts + dt.timedelta(minutes=task.duration_minutes or DEFAULT_TASK_MINUTES))
    rule = None if task.done else _rrule(task.recurrence, task.time_zone, task.due_date is not None)
    if rule is not None:
        event.add("rrule", rule)
    event.add("categories", ["Task", task.type])
    event.add("status", "CONFIRMED")
    return event


def meeting_event(meeting: Meeting, stamp: dt.datetime) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", f"{meeting.id}@crm")
    event.add("dtstamp", stamp)
    event.add("last-modified", as_utc(meeting.updated_at))
    event.add("sequence", meeting.sequence)
    event.add("summary", meeting.title or "Meeting")
    if meeting.description:
        event.add("description", meeting.description)
    if meeting.location:
        event.add("location", meeting.location)
    starts = as_utc(meeting.starts_at)
    ends = as_utc(meeting.ends_at) if meeting.ends_at else starts + dt.timedelta(minutes=DEFAULT_MEETING_MINUTES)
    event.add("dtstart", local(starts, meeting.time_zone))
    event.add("dtend", local(ends, meeting.time_zone))
    for email in meeting.attendees or ():
        event.add("attendee", icalendar.vCalAddress(f"mailto:{email}"))
    event.add("categories", ["Meeting"])
    event.add("status", "CANCELLED" if meeting.cancelled else "CONFIRMED")
    return event


def feed(tasks: Iterable[Task], meetings: Iterable[Meeting], stamp: dt.datetime, name: str = "CRM") -> bytes:
    """The whole feed; `stamp` is its DTSTAMP (the newest change it shows, so an unchanged feed is
    byte-identical and its ETag holds)."""
    cal = new_calendar(name=name)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})  # RFC 7986
    cal.add("x-published-ttl", "PT15M")  # the same for Outlook
    for task in tasks:
        event = task_event(task, stamp)
        if event is not None:
            cal.add_component(event)
    for meeting in meetings:
        cal.add_component(meeting_event(meeting, stamp))
    return to_bytes(cal)
