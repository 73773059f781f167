"""IANA time zones: validation, and the UTC moments a user's local days start at.

Stored times are UTC (crm_db.base); a user's or task's zone turns them into local days.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

DEFAULT_TIME_ZONE = "UTC"


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None  # a file path or garbage: ZoneInfo would look it up on disk
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def is_time_zone(name: object) -> bool:
    return isinstance(name, str) and _zone(name) is not None


def zone(name: str | None) -> zoneinfo.ZoneInfo:
    """The zone of that name; UTC for none or an unknown name (stored names were validated)."""
    return _zone(name or DEFAULT_TIME_ZONE) or zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE)


def start_of_day(day: dt.date, time_zone: str | None) -> dt.datetime:
    """The UTC moment `day` begins in `time_zone` (midnight, or the first valid time on a DST gap day)."""
    local = dt.datetime.combine(day, dt.time(), tzinfo=zone(time_zone))
    # A wall time in a gap (no midnight that day) round-trips to a later one: take the real instant.
    return local.astimezone(dt.UTC)


def local_date(moment: dt.datetime, time_zone: str | None) -> dt.date:
    return moment.astimezone(zone(time_zone)).date()


def local_naive(moment: dt.datetime, time_zone: str | None) -> dt.datetime:
    """Wall-clock time in the zone, without tzinfo (what RRULE arithmetic runs on)."""
    return moment.astimezone(zone(time_zone)).replace(tzinfo=None)


def from_local_naive(wall: dt.datetime, time_zone: str | None) -> dt.datetime:
    """A wall-clock time in the zone as UTC (an ambiguous time takes its first occurrence)."""
    return wall.replace(tzinfo=zone(time_zone), fold=0).astimezone(dt.UTC)
