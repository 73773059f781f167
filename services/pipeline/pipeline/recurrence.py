"""Task recurrence: RFC 5545 RRULEs (python-dateutil) evaluated in the task's time zone.

Each open occurrence carries the rule of the rest of its series: completing it creates the next
one at the rule's next time after it, with COUNT lowered by the occurrences used up, so COUNT and
UNTIL end a series without a pointer to its first task. Arithmetic runs on wall-clock time in the
task's zone, so a 09:00 weekly call stays at 09:00 across a DST change.

Tasks recur daily at most often (FREQ=SECONDLY/MINUTELY/HOURLY are refused), and the next
occurrence is searched for at most MAX_GAP_YEARS ahead: a rule with no instance in that time (say
BYMONTH=2;BYMONTHDAY=30) ends its series instead of burning CPU. dateutil itself only stops an
instance-less rule at year 9999, so the search runs on the wall times shifted by a whole number of
400-year Gregorian cycles (which keep every weekday and leap day) to a few centuries before 9999;
COUNT and UNTIL are applied here, on the real times.
"""

from __future__ import annotations

import datetime as dt
import re

from dateutil.rrule import rrule, rrulestr

from crm_core.timezones import from_local_naive, local_naive, zone

MAX_RULE = 500
_COUNT = re.compile(r"(?:^|;)COUNT=(\d+)", re.IGNORECASE)
_UNTIL = re.compile(r"(^|;)UNTIL=(\d{8})(T\d{6})?(Z?)", re.IGNORECASE)
_FREQ = re.compile(r"(?:^|;)FREQ=([A-Z]+)")
_BOUNDS = re.compile(r"(^|;)(?:COUNT|UNTIL)=[^;]*", re.IGNORECASE)
SUB_DAILY = ("SECONDLY", "MINUTELY", "HOURLY")
MAX_GAP_YEARS = 10
CYCLE_YEARS = 400  # the Gregorian calendar repeats exactly every 400 years (146097 days, 20871 weeks)
LAST_YEAR = 9998  # due times stop here (the schemas' bound), leaving room for reminders and offsets


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
    freq = _FREQ.search(text)
    if freq is not None and freq.group(1) in SUB_DAILY:
        raise RecurrenceError("Tasks recur daily at most often: use FREQ=DAILY, WEEKLY, MONTHLY or YEARLY.")
    if "BYEASTER" in text:
        raise RecurrenceError("BYEASTER is not RFC 5545.")
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


def feed_rule(text: str, time_zone: str | None, *, all_day: bool = False) -> str:
    """The rule as a calendar feed writes it (RFC 5545 3.3.10): UNTIL in UTC beside a zoned or UTC
    start, a DATE beside an all-day one (a UTC UNTIL then gives its date in the task's zone)."""
    if not all_day:
        return _with_utc_until(text, time_zone)

    def to_date(m: re.Match[str]) -> str:
        if not m.group(3):
            return m.group(0)
        day = m.group(2)
        if m.group(4):
            moment = dt.datetime.strptime(day + m.group(3), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
            day = local_naive(moment, time_zone).strftime("%Y%m%d")
        return f"{m.group(1)}UNTIL={day}"

    return _UNTIL.sub(to_date, text)


def _rule(text: str, wall_start: dt.datetime, time_zone: str | None) -> rrule:
    try:
        rule = rrulestr(_with_utc_until(text, time_zone), dtstart=wall_start.replace(tzinfo=zone(time_zone)))
    except (ValueError, TypeError, OverflowError) as exc:
        raise RecurrenceError(f"Not a valid RRULE: {exc}") from exc
    if not isinstance(rule, rrule):
        raise RecurrenceError("Give one RRULE, not a set.")
    return rule


def _until_utc(text: str, time_zone: str | None) -> dt.datetime | None:
    match = _UNTIL.search(_with_utc_until(text, time_zone))
    if match is None:
        return None
    return dt.datetime.strptime(match.group(2) + (match.group(3) or "T000000"), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)


def next_occurrence(text: str, due_at: dt.datetime, time_zone: str | None,
                    *, all_day: bool = False) -> tuple[dt.datetime, str] | None:
    """(next due time in UTC, the rule the next occurrence carries), or None when the series ends
    (COUNT or UNTIL used up, or no instance within MAX_GAP_YEARS, or past LAST_YEAR).
    For an all-day task the wall start is its day's midnight and the next one is a whole day too."""
    wall = local_naive(due_at, time_zone)
    if all_day:
        wall = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    freq = _FREQ.search(text.upper())
    if freq is not None and freq.group(1) in SUB_DAILY:
        return None  # refused by the schemas; a rule stored before that ends its series
    until = _until_utc(text, time_zone)
    count = _COUNT.search(text)
    # The search bound lives in dateutil's year limit: shifted start + the rest up to 9999.
    shift = max(0, (9999 - MAX_GAP_YEARS - 1 - wall.year) // CYCLE_YEARS) * CYCLE_YEARS
    unbounded = _BOUNDS.sub("", text).strip(";")
    rule = _rule(unbounded, wall.replace(year=wall.year + shift), None)
    try:
        limit = wall + dt.timedelta(days=round(365.25 * MAX_GAP_YEARS))
    except OverflowError:
        limit = dt.datetime.max
    for index, shifted in enumerate(rule):
        if index > 10_000:
            return None  # a rule whose instances never pass the start: give up rather than spin
        occurrence = shifted.replace(tzinfo=None, year=shifted.year - shift)
        if count is not None and index >= int(count.group(1)):
            return None
        if occurrence > limit or occurrence.year > LAST_YEAR:
            return None
        moment = from_local_naive(occurrence, time_zone)
        if until is not None and moment > until:
            return None
        if occurrence > wall:
            if count is None:
                return moment, text
            left = int(count.group(1)) - index
            rest = text[:count.start(1)] + str(left) + text[count.end(1):]
            return moment, rest
    return None
