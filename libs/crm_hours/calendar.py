"""The calendar and its math (see the package doc for what "open" means)."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from crm_core.timezones import is_time_zone, zone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
DAY_MINUTES = 24 * 60
# How far the math looks for open time before it gives up: a calendar that is closed for
# longer than this (every day a holiday, say) has no answer rather than an endless loop.
MAX_DAYS = 3 * 366
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_UTC = dt.UTC
_ONE_DAY = dt.timedelta(days=1)
_TICK = dt.timedelta(microseconds=1)
_ZERO = dt.timedelta(0)

Slot = tuple[int, int]  # [start, end) in minutes after local midnight; end may be 1440 (24:00)
Interval = tuple[dt.datetime, dt.datetime]  # [start, end) in UTC
Reason = Literal["outside_hours", "holiday"]


class CalendarError(ValueError):
    """A calendar definition that does not hold; `errors` names the field (`frames`, `holidays`,
    `time_zone`) with messages that say where."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class NoBusinessHours(ValueError):
    """No open time within MAX_DAYS of the starting point."""


@dataclass(frozen=True)
class Segment:
    start: dt.datetime
    end: dt.datetime
    open: bool
    reason: Reason | None = None  # why a closed segment is closed


@dataclass(frozen=True, eq=False)
class Calendar:
    """time_zone: IANA name; week: seven tuples of slots (mon..sun), sorted, not overlapping;
    holidays: local dates that are closed all day. Build it with from_spec() to validate."""

    time_zone: str
    week: tuple[tuple[Slot, ...], ...]
    holidays: frozenset[dt.date] = frozenset()
    # Open intervals by local date, filled as the math asks (a calendar is immutable).
    _days: dict[dt.date, tuple[Interval, ...]] = field(default_factory=dict, repr=False, compare=False)
    # Open time from the start of the first day asked about to the start of each day, filled as a
    # contiguous range of days: business time between two instants is a difference of two lookups.
    _cumulative: dict[dt.date, dt.timedelta] = field(default_factory=dict, repr=False, compare=False)
    _range: list[dt.date] = field(default_factory=list, repr=False, compare=False)
    _last_day: list[Any] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_spec(cls, time_zone: str, frames: Mapping[str, Any], holidays: Iterable[Any] = ()) -> Calendar:
        """frames: {"mon": [{"start": "09:00", "end": "12:00"}, ...], ...} (days left out are closed);
        holidays: dates, ISO strings or {"date": ...} mappings. Raises CalendarError."""
        errors: dict[str, list[str]] = {}
        if not is_time_zone(time_zone):
            errors["time_zone"] = [f"Unknown IANA time zone {time_zone!r}."]
        try:
            week = parse_frames(frames)
        except CalendarError as exc:
            errors.update(exc.errors)
            week = ((),) * 7
        try:
            days = parse_holidays(holidays)
        except CalendarError as exc:
            errors.update(exc.errors)
            days = frozenset()
        if errors:
            raise CalendarError(errors)
        return cls(time_zone, week, days)

    def with_holidays(self, more: Iterable[dt.date]) -> Calendar:
        return Calendar(self.time_zone, self.week, self.holidays | frozenset(more))

    def key(self) -> tuple[Any, ...]:
        return (self.time_zone, self.week, tuple(sorted(self.holidays)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Calendar) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    @property
    def weekly_minutes(self) -> int:
        return sum(e - s for day in self.week for s, e in day)

    def local_date(self, moment: dt.datetime) -> dt.date:
        # Most lookups fall on the day looked up last: its UTC bounds answer without a zone lookup.
        last = self._last_day
        if last and last[0] <= moment < last[1]:
            return last[2]  # type: ignore[no-any-return]
        day = moment.astimezone(zone(self.time_zone)).date()
        start, end = day_bounds(self.time_zone, day)
        if start <= moment < end:
            self._last_day[:] = [start, end, day]
        return day

    def intervals(self, day: dt.date) -> tuple[Interval, ...]:
        """The open UTC intervals of one local date, in order."""
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = () if day in self.holidays else _day_intervals(self.time_zone, day, self.week[day.weekday()])
        return found

    def _day_total(self, day: dt.date) -> dt.timedelta:
        return sum((e - s for s, e in self.intervals(day)), _ZERO)

    def _at_day_start(self, day: dt.date) -> dt.timedelta:
        found = self._cumulative.get(day)
        if found is not None:
            return found
        cum, bounds = self._cumulative, self._range
        if not bounds:
            cum[day] = _ZERO
            bounds[:] = [day, day]
            return _ZERO
        lo, hi = bounds
        if day > hi:
            d, acc = hi, cum[hi]
            while d < day:
                acc += self._day_total(d)
                d += _ONE_DAY
                cum[d] = acc
            bounds[1] = day
        else:
            d, acc = lo, cum[lo]
            while d > day:
                d -= _ONE_DAY
                acc -= self._day_total(d)
                cum[d] = acc
            bounds[0] = day
        return cum[day]

    def cumulative(self, moment: dt.datetime) -> dt.timedelta:
        """Open time from a fixed (per calendar object) origin to `moment`; differences of two
        are business time between them."""
        day = self.local_date(moment)
        total = self._at_day_start(day)
        for s, e in self.intervals(day):
            if s >= moment:
                break
            total += (e if e <= moment else moment) - s
        return total

    def is_open(self, moment: dt.datetime) -> bool:
        moment = _utc(moment)
        return any(s <= moment < e for s, e in self.intervals(self.local_date(moment)))

    def open_intervals(self, start: dt.datetime, end: dt.datetime) -> Iterator[Interval]:
        """Open intervals clipped to [start, end)."""
        start, end = _utc(start), _utc(end)
        day, last = self.local_date(start), self.local_date(end)
        while day <= last:
            for s, e in self.intervals(day):
                if e > start and s < end:
                    yield max(s, start), min(e, end)
            day += _ONE_DAY


ALWAYS_OPEN = Calendar("UTC", (((0, DAY_MINUTES),),) * 7)


def _minutes(text: Any, where: str) -> int:
    if not isinstance(text, str) or not _HHMM.match(text):
        raise CalendarError({"frames": [f"{where}: use HH:MM (00:00 to 24:00), got {text!r}."]})
    hours, minutes = int(text[:2]), int(text[3:])
    if hours == 24 and minutes:
        raise CalendarError({"frames": [f"{where}: 24:00 is the latest time, got {text!r}."]})
    return hours * 60 + minutes


def parse_frames(frames: Mapping[str, Any]) -> tuple[tuple[Slot, ...], ...]:
    if not isinstance(frames, Mapping):
        raise CalendarError({"frames": ["An object of weekdays (mon..sun) to lists of {start, end}."]})
    unknown = sorted(set(frames) - set(WEEKDAYS))
    if unknown:
        raise CalendarError({"frames": [f"Unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAYS)}."]})
    week: list[tuple[Slot, ...]] = []
    for name in WEEKDAYS:
        raw = frames.get(name) or []
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise CalendarError({"frames": [f"{name}: a list of {{start, end}}."]})
        slots: list[Slot] = []
        for i, slot in enumerate(raw):
            where = f"{name}[{i}]"
            if not isinstance(slot, Mapping) or set(slot) - {"start", "end"}:
                raise CalendarError({"frames": [f"{where}: an object {{\"start\": \"09:00\", \"end\": \"17:00\"}}."]})
            start, end = _minutes(slot.get("start"), f"{where}.start"), _minutes(slot.get("end"), f"{where}.end")
            if start >= end:
                raise CalendarError({"frames": [f"{where}: start must be before end."]})
            slots.append((start, end))
        slots.sort()
        for (_, prev_end), (start, _) in zip(slots, slots[1:], strict=False):
            if start < prev_end:
                raise CalendarError({"frames": [f"{name}: slots overlap."]})
        week.append(tuple(slots))
    if not any(week):
        raise CalendarError({"frames": ["At least one open slot in the week."]})
    return tuple(week)


def frames_spec(week: tuple[tuple[Slot, ...], ...]) -> dict[str, list[dict[str, str]]]:
    """The inverse of parse_frames (what the API shows)."""
    def hhmm(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    return {name: [{"start": hhmm(s), "end": hhmm(e)} for s, e in slots] for name, slots in zip(WEEKDAYS, week, strict=True)
            if slots}


def parse_holidays(items: Iterable[Any]) -> frozenset[dt.date]:
    days: set[dt.date] = set()
    for i, item in enumerate(items):
        value = item.get("date") if isinstance(item, Mapping) else item
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                value = None
        if not isinstance(value, dt.date):
            raise CalendarError({"holidays": [f"[{i}]: a date (YYYY-MM-DD)."]})
        days.add(value)
    return frozenset(days)


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass aware UTC datetimes")
    return moment.astimezone(_UTC)


def _offset(moment_utc: dt.datetime, tz: dt.tzinfo) -> dt.timedelta:
    return moment_utc.astimezone(tz).utcoffset() or dt.timedelta(0)


def _day_intervals(time_zone: str, day: dt.date, slots: tuple[Slot, ...]) -> tuple[Interval, ...]:
    """The instants of local date `day` whose wall time lies in a slot, as UTC intervals.

    The day is cut at its offset change (if any) into pieces of one UTC offset each; in a piece,
    wall time = UTC + offset, so each slot maps back linearly. A gap's wall times exist in no
    piece (lost); an overlap's in both (open twice)."""
    if not slots:
        return ()
    wall0 = dt.datetime.combine(day, dt.time())
    pieces = _day_pieces(time_zone, day)
    out: list[Interval] = []
    for p_start, p_end, offset in pieces:
        naive_start, naive_end = p_start.replace(tzinfo=None) + offset, p_end.replace(tzinfo=None) + offset
        for s, e in slots:
            lo, hi = max(wall0 + dt.timedelta(minutes=s), naive_start), min(wall0 + dt.timedelta(minutes=e), naive_end)
            if lo < hi:
                out.append(((lo - offset).replace(tzinfo=_UTC), (hi - offset).replace(tzinfo=_UTC)))
    out.sort()
    merged: list[Interval] = []
    for s, e in out:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return tuple(merged)


@functools.lru_cache(maxsize=65536)
def _day_pieces(time_zone: str, day: dt.date) -> tuple[tuple[dt.datetime, dt.datetime, dt.timedelta], ...]:
    """The local day's instants as pieces of one UTC offset each: (start, end, offset)."""
    tz = zone(time_zone)
    # PEP 495: a midnight in a gap resolves to the first instant after it, the day's real start.
    day_start = dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(_UTC)
    day_end = dt.datetime.combine(day + _ONE_DAY, dt.time(), tzinfo=tz).astimezone(_UTC)
    first, last = _offset(day_start, tz), _offset(day_end - _TICK, tz)
    if first == last:
        return ((day_start, day_end, first),)
    change = _transition(day_start, day_end, tz, first)
    return ((day_start, change, first), (change, day_end, _offset(change, tz)))


def day_bounds(time_zone: str, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants a local date starts and ends at."""
    pieces = _day_pieces(time_zone, day)
    return pieces[0][0], pieces[-1][1]


def _transition(lo: dt.datetime, hi: dt.datetime, tz: dt.tzinfo, before: dt.timedelta) -> dt.datetime:
    """The first instant in (lo, hi) whose offset differs from `before` (to the second)."""
    while hi - lo > dt.timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            break
        if _offset(mid, tz) == before:
            lo = mid
        else:
            hi = mid
    return hi


def add_business_time(calendar: Calendar, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
    """The earliest instant u >= start with business_time_between(start, u) == amount. For a
    positive amount u is open time or the end of an open interval (17:00 of 09:00-17:00)."""
    t = _utc(start)
    remaining = amount
    if remaining <= dt.timedelta(0):
        return t
    day = calendar.local_date(t)
    for _ in range(MAX_DAYS):
        for s, e in calendar.intervals(day):
            if e <= t:
                continue
            s = max(s, t)
            available = e - s
            if remaining <= available:
                return s + remaining
            remaining -= available
        day += _ONE_DAY
    raise NoBusinessHours(f"No business hours within {MAX_DAYS} days of {t.isoformat()}.")


def add_business_minutes(calendar: Calendar, start: dt.datetime, minutes: float) -> dt.datetime:
    return add_business_time(calendar, start, dt.timedelta(minutes=minutes))


def business_time_between(calendar: Calendar, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    """Open time in [a, b); zero when b <= a."""
    if b <= a:
        return _ZERO
    return calendar.cumulative(_utc(b)) - calendar.cumulative(_utc(a))


def business_minutes_between(calendar: Calendar, a: dt.datetime, b: dt.datetime) -> float:
    return business_time_between(calendar, a, b) / dt.timedelta(minutes=1)


def next_open(calendar: Calendar, moment: dt.datetime) -> dt.datetime:
    """`moment` if it is open, else the start of the next open interval."""
    t = _utc(moment)
    day = calendar.local_date(t)
    for _ in range(MAX_DAYS):
        for s, e in calendar.intervals(day):
            if e > t:
                return max(s, t)
        day += _ONE_DAY
    raise NoBusinessHours(f"No business hours within {MAX_DAYS} days of {t.isoformat()}.")


def segments(calendar: Calendar, start: dt.datetime, end: dt.datetime) -> list[Segment]:
    """[start, end) cut into open and closed stretches; a closed one says why (a holiday's whole
    local day is `holiday`, other closed time `outside_hours`). Neighbours of one kind are merged."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return []
    raw: list[Segment] = []
    day, last = calendar.local_date(start), calendar.local_date(end)
    while day <= last:
        day_start, day_end = day_bounds(calendar.time_zone, day)
        if day in calendar.holidays:
            raw.append(Segment(day_start, day_end, False, "holiday"))
        else:
            cursor = day_start
            for s, e in calendar.intervals(day):
                if s > cursor:
                    raw.append(Segment(cursor, s, False, "outside_hours"))
                raw.append(Segment(s, e, True))
                cursor = e
            if cursor < day_end:
                raw.append(Segment(cursor, day_end, False, "outside_hours"))
        day += _ONE_DAY
    out: list[Segment] = []
    for seg in raw:
        s, e = max(seg.start, start), min(seg.end, end)
        if s >= e:
            continue
        if out and out[-1].open == seg.open and out[-1].reason == seg.reason and out[-1].end >= s:
            out[-1] = Segment(out[-1].start, e, seg.open, seg.reason)
        else:
            out.append(Segment(s, e, seg.open, seg.reason))
    return out
