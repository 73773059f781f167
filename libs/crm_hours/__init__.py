"""Business-hours calendar math: a time zone, weekly frames (several slots a day) and holidays.

Shared by the service desk's SLA clocks and by workflows ("delay 4 business hours"). Every
function takes and returns aware UTC datetimes; the calendar's zone only decides which instants
are open. An instant is open when its wall-clock time in the calendar's zone falls in a slot of
its local weekday and its local date is no holiday. That one rule settles DST: a 09:00-17:00 day
is 8 hours on a DST day too (the change happens at night); a slot over a spring-forward gap
loses the hour that does not exist; a slot over a fall-back overlap is open during both
occurrences of the repeated hour.
"""

from __future__ import annotations

from crm_hours.calendar import (
    ALWAYS_OPEN,
    WEEKDAYS,
    Calendar,
    CalendarError,
    NoBusinessHours,
    Segment,
    add_business_minutes,
    add_business_time,
    business_minutes_between,
    business_time_between,
    next_open,
    segments,
)
from crm_hours.clock import ClockRun, run_clock

__all__ = ["ALWAYS_OPEN", "WEEKDAYS", "Calendar", "CalendarError", "ClockRun", "NoBusinessHours", "Segment",
           "add_business_minutes", "add_business_time", "business_minutes_between", "business_time_between",
           "next_open", "run_clock", "segments"]
