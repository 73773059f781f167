"""Task recurrence: RFC 5545 RRULEs (python-dateutil) evaluated in the task's time zone.

Each open occurrence carries the rule of the rest of its series: completing it creates the next
one at the rule's next time after it, with COUNT lowered by the occurrences used up, so COUNT and
UNTIL end a series without a pointer to its first task. Arithmetic runs on wall-clock time in the
task's zone, so a 09:00 weekly call stays at 09:00 across a DST change.
"""

from __future__ import annotations

import datetime as dt
import re

from dateutil.rrule import rrule, rrulestr

from crm_core.timezones import from_local_naive, local_naive, zone

MAX_RULE = 500
_COUNT = re.compile(r"(?:^|;)COUNT=(\d+)", re.IGNORECASE)
_UNTIL = re.compile(r"(^|;)UNTIL=(\d{8})(T\d{6})?(Z?)", re.IGNORECASE)


class RecurrenceError(ValueError):
    pass


def normalise(raw: str) -> str:
    """The rule without an RRULE: prefix, upper case; RecurrenceError when it is not one RRULE."""
    text = raw.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    text = text.upper()
    if not text or len(text) > MAX_RULE or "\n" in text or "\r" in text or ":" in text:
        raise RecurrenceError("Give one RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO.")
    if "FREQ=" not in text:
        raise RecurrenceError("An RRULE needs FREQ (DAILY, WEEKLY, MONTHLY, YEARLY...).")
    if "DTSTART" in text:
        raise RecurrenceError("DTSTART comes from the task's due time, not the rule.")
    _rule(text, dt.datetime(2027, 1, 4, 9, 0), "UTC")
    return text


def _with_utc_until(text: str, time_zone: str | None) -> str:
    """UNTIL in UTC, as dateutil wants it beside a zoned start: a local date or time is read in the
    task's zone (a bare date: the whole of that day)."""
    def fix(m: re.Match[str]) -> str:
        if m.group(4):
            return m.group(0)
        day = dt.datetime.strptime(m.group(2), "%Y%m%d")
        wall = dt.datetime.strptime(m.group(2) + m.group(3), "%Y%m%dT%H%M%S") if m.group(3) else day.replace(
            hour=23, minute=59, second=59)
        return f"{m.group(1)}UNTIL={from_local_naive(wall, time_zone).strftime('%Y%m%dT%H%M%SZ')}"

    return _UNTIL.sub(fix, text)


def _rule(text: str, wall_start: dt.datetime, time_zone: str | None) -> rrule:
    try:
        rule = rrulestr(_with_utc_until(text, time_zone), dtstart=wall_start.replace(tzinfo=zone(time_zone)))
    except (ValueError, TypeError, OverflowError) as exc:
        raise RecurrenceError(f"Not a valid RRULE: {exc}") from exc
    if not isinstance(rule, rrule):
        raise RecurrenceError("Give one RRULE, not a set.")
    return rule


def next_occurrence(text: str, due_at: dt.datetime, time_zone: str | None,
                    *, all_day: bool = False) -> tuple[dt.datetime, str] | None:
    """(next due time in UTC, the rule the next occurrence carries), or None when the series ends.
    For an all-day task the wall start is its day's midnight and the next one is a whole day too."""
    wall = local_naive(due_at, time_zone)
    if all_day:
        wall = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    rule = _rule(text, wall, time_zone)
    aware_start = wall.replace(tzinfo=zone(time_zone))
    for index, occurrence in enumerate(rule):
        if index > 10_000:
            return None  # a rule whose instances never pass the start: give up rather than spin
        if occurrence > aware_start:
            match = _COUNT.search(text)
            if match is None:
                return from_local_naive(occurrence.replace(tzinfo=None), time_zone), text
            left = int(match.group(1)) - index
            if left < 1:
                return None
            rest = text[:match.start(1)] + str(left) + text[match.end(1):]
            return from_local_naive(occurrence.replace(tzinfo=None), time_zone), rest
    return None
