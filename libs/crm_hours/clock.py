"""A stopwatch over business hours: a target amount of open time, counted only while the clock
runs (an SLA clock pauses while a ticket waits on the customer; a workflow delay while a record
is on hold)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from crm_hours.calendar import Calendar, add_business_time, business_time_between

Running = tuple[dt.datetime, dt.datetime | None]  # [start, end), end None: still running


@dataclass(frozen=True)
class ClockRun:
    # When the target is reached; None when the clock stopped (paused, done) before reaching it.
    due_at: dt.datetime | None
    elapsed: dt.timedelta  # open time counted up to `until`
    remaining: dt.timedelta  # target - elapsed, never below zero


def run_clock(calendar: Calendar, target: dt.timedelta, running: Sequence[Running], until: dt.datetime) -> ClockRun:
    """`running`: the clock's running stretches in order, disjoint; only the last may be open."""
    due: dt.datetime | None = None
    left = target
    for start, end in running:
        if end is None:
            due = add_business_time(calendar, start, left)
            break
        span = business_time_between(calendar, start, end)
        if span >= left:
            due = add_business_time(calendar, start, left)
            break
        left -= span
    elapsed = dt.timedelta(0)
    for start, end in running:
        if start >= until:
            break
        elapsed += business_time_between(calendar, start, until if end is None else min(end, until))
    return ClockRun(due, elapsed, max(target - elapsed, dt.timedelta(0)))
