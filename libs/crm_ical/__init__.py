"""iCalendar (RFC 5545) pieces every service that writes calendars shares: the VCALENDAR shell,
times in a zone with their VTIMEZONE, and serialising. Built on the `icalendar` library."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar

from crm_core.timezones import is_time_zone

PRODID = "-//CRM//Calendar 1.0//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"


def new_calendar(method: str | None = None, name: str | None = None) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)  # the name Apple Calendar and Outlook show for a subscription
    return cal


def zone(name: str | None) -> ZoneInfo | None:
    # Every invalid name (unknown, a directory such as "Europe", a path, too long) is no zone: the
    # shared check refuses them all before ZoneInfo goes to disk.
    if not name or not is_time_zone(name):
        return None
    return ZoneInfo(name)


def local(moment: dt.datetime, time_zone: str | None) -> dt.datetime:
    """An aware moment as the wall time of `time_zone` (DTSTART;TZID=...), else in UTC (a trailing Z)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    tz = zone(time_zone)
    return aware.astimezone(tz) if tz is not None else aware.astimezone(dt.UTC)


def to_bytes(cal: icalendar.Calendar) -> bytes:
    """The calendar with a VTIMEZONE for every TZID it uses (clients need them), CRLF lines."""
    cal.add_missing_timezones()
    return cal.to_ical()
