"""A controllable clock for code that takes `now: Callable[[], datetime]` (timer schedulers, say):
it starts at the given time (or now) and moves only when told."""

from __future__ import annotations

import datetime as dt

from crm_db.base import utcnow


class Clock:
    def __init__(self, at: dt.datetime | None = None) -> None:
        self.at = at or utcnow()

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        """`advance(days=7, seconds=1)`: the arguments of datetime.timedelta."""
        self.at += dt.timedelta(**delta)
