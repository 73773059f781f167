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
    marks: tuple[dt.datetime | None, ...] = ()  # when each of `marks` (amounts) is reached, likewise


def run_clock(calendar: Calendar, target: dt.timedelta, running: Sequence[Running], until: dt.datetime,
              marks: Sequence[dt.timedelta] = ()) -> ClockRun:
    """`running`: the clock's running stretches in order, disjoint; only the last may be open.
    `marks`: more amounts to find the instants of (a warning at 80 % of the target), in one pass."""
    amounts = [target, *marks]
    found: list[dt.datetime | None] = [None] * len(amounts)
    counted = elapsed = dt.timedelta(0)
    for start, end in running:
        if start < until:
            elapsed += business_time_between(calendar, start, until if end is None else min(end, until))
        span = None if end is None else business_time_between(calendar, start, end)
        for i, amount in enumerate(amounts):
            if found[i] is None and (span is None or counted + span >= amount):
                found[i] = add_business_time(calendar, start, amount - counted)
        if span is None:
            break
        counted += span
    return ClockRun(found[0], elapsed, max(target - elapsed, dt.timedelta(0)), tuple(found[1:]))
