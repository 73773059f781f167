"""crm_hours: business-hours math against hand-worked cases (weekends, holidays, multi-slot days,
DST in Europe/Berlin and America/New_York, pauses), property tests (due times inside business
hours; add and between are inverse), segments and iCalendar holiday feeds."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_hours import (
    ALWAYS_OPEN,
    Calendar,
    CalendarError,
    NoBusinessHours,
    add_business_minutes,
    business_minutes_between,
    business_time_between,
    next_open,
    run_clock,
    segments,
)
from crm_hours.feed import FeedError, check_url, parse_holidays

UTC = dt.UTC
WEEKDAYS_SPLIT = {d: [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}
WEEKDAYS_9_17 = {d: [{"start": "09:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}


def z(text: str) -> dt.datetime:
    """'2027-03-01 08:00' in UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


BERLIN = Calendar.from_spec("Europe/Berlin", WEEKDAYS_SPLIT)  # 7 h a day, lunch 12-13
BERLIN_HOLIDAY = Calendar.from_spec("Europe/Berlin", WEEKDAYS_SPLIT, [{"date": "2027-03-26", "name": "Pretend day"}])
NEW_YORK = Calendar.from_spec("America/New_York", WEEKDAYS_9_17)
BERLIN_24_7 = Calendar.from_spec("Europe/Berlin", {d: [{"start": "00:00", "end": "24:00"}] for d in
                                                   ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})

# (calendar, start UTC, business minutes, expected due UTC) — worked by hand:
CASES = [
    # Mon 2027-03-01 10:00 CET (+1) + 60 -> 11:00 CET = 10:00Z
    (BERLIN, "2027-03-01 09:00", 60, "2027-03-01 10:00"),
    # Mon 10:30 CET + 120: 10:30-12:00 is 90, lunch closed, 13:00 + 30 = 13:30 CET = 12:30Z
    (BERLIN, "2027-03-01 09:30", 120, "2027-03-01 12:30"),
    # Lunch start: Mon 12:30 CET + 15 -> the clock waits for 13:00, due 13:15 CET = 12:15Z
    (BERLIN, "2027-03-01 11:30", 15, "2027-03-01 12:15"),
    # Exactly to the close: Mon 16:00 CET + 60 -> 17:00 CET (the end of the slot) = 16:00Z
    (BERLIN, "2027-03-01 15:00", 60, "2027-03-01 16:00"),
    # Weekend: Fri 2027-03-05 16:00 CET + 120: 60 on Friday, Sat/Sun closed, Mon 09:00 + 60 = 10:00 CET = 09:00Z
    (BERLIN, "2027-03-05 15:00", 120, "2027-03-08 09:00"),
    # Starting on a Saturday: Sat 12:00 + 30 -> Mon 2027-03-08 09:30 CET = 08:30Z
    (BERLIN, "2027-03-06 11:00", 30, "2027-03-08 08:30"),
    # A full week of 7 h days: Mon 09:00 CET + 35 h -> Fri 17:00 CET = 16:00Z
    (BERLIN, "2027-03-01 08:00", 35 * 60, "2027-03-05 16:00"),
    # Holiday + DST spring (Sun 2027-03-28 02:00 CET -> 03:00 CEST): Thu 2027-03-25 16:30 CET + 60:
    # 30 on Thursday, Fri 26 holiday, weekend, Mon 29 09:00 CEST (+2) + 30 = 09:30 CEST = 07:30Z
    (BERLIN_HOLIDAY, "2027-03-25 15:30", 60, "2027-03-29 07:30"),
    # DST spring without the holiday: Fri 26 16:00 CET (15:00Z) + 120: 60 Fri, Mon 09:00 CEST + 60 = 10:00 CEST = 08:00Z
    (BERLIN, "2027-03-26 15:00", 120, "2027-03-29 08:00"),
    # DST fall (Sun 2027-10-31 03:00 CEST -> 02:00 CET): Fri 29 16:00 CEST (14:00Z) + 120: 60 Fri,
    # Mon 2027-11-01 09:00 CET + 60 = 10:00 CET = 09:00Z
    (BERLIN, "2027-10-29 14:00", 120, "2027-11-01 09:00"),
    # Around the clock in Berlin across the spring gap: Sat 27 23:00 CET (22:00Z) + 180 real minutes
    # -> 01:00Z = 03:00 CEST (the wall clock moved 4 h; 02:xx never existed)
    (BERLIN_24_7, "2027-03-27 22:00", 180, "2027-03-28 01:00"),
    # ... and across the fall overlap: Sun 31 00:00 CEST (30th 22:00Z) + 240 -> 02:00Z = 03:00 CET
    (BERLIN_24_7, "2027-10-30 22:00", 240, "2027-10-31 02:00"),
    # New York spring (Sun 2027-03-14 02:00 EST -> 03:00 EDT): Fri 12 16:00 EST (21:00Z) + 120:
    # 60 Fri, Mon 15 09:00 EDT (13:00Z) + 60 = 14:00Z
    (NEW_YORK, "2027-03-12 21:00", 120, "2027-03-15 14:00"),
    # New York fall (Sun 2027-11-07 02:00 EDT -> 01:00 EST): Fri 5 16:30 EDT (20:30Z) + 60:
    # 30 Fri, Mon 8 09:00 EST (14:00Z) + 30 = 14:30Z
    (NEW_YORK, "2027-11-05 20:30", 60, "2027-11-08 14:30"),
    # A day's 8 hours on the (weekday after the) DST change: Mon 15 09:00 EDT + 480 = 17:00 EDT = 21:00Z
    (NEW_YORK, "2027-03-15 13:00", 480, "2027-03-15 21:00"),
    # Zero minutes: due at the start, even when closed
    (BERLIN, "2027-03-06 11:00", 0, "2027-03-06 11:00"),
]


@pytest.mark.parametrize(("calendar", "start", "minutes", "due"), CASES)
def test_hand_worked_due_times(calendar: Calendar, start: str, minutes: int, due: str) -> None:
    assert add_business_minutes(calendar, z(start), minutes) == z(due)
    assert business_minutes_between(calendar, z(start), z(due)) == minutes


def test_dst_days_keep_their_hours() -> None:
    sunday_9_17 = Calendar.from_spec("America/New_York", {"sun": [{"start": "09:00", "end": "17:00"}]})
    # Sun 2027-03-14 (spring forward at 02:00) local midnight 05:00Z to Mon midnight 04:00Z: 8 h open
    assert business_minutes_between(sunday_9_17, z("2027-03-14 05:00"), z("2027-03-15 04:00")) == 480
    # Sun 2027-11-07 (fall back at 02:00): 8 h too
    assert business_minutes_between(sunday_9_17, z("2027-11-07 04:00"), z("2027-11-08 05:00")) == 480
    # A slot inside the spring gap only has its existing part: 02:00-04:00 Berlin on 2027-03-28 is
    # 03:00-04:00 CEST = 01:00Z-02:00Z
    gap = Calendar.from_spec("Europe/Berlin", {"sun": [{"start": "02:00", "end": "04:00"}]})
    assert gap.intervals(dt.date(2027, 3, 28)) == ((z("2027-03-28 01:00"), z("2027-03-28 02:00")),)
    # A slot over the fall overlap is open during both 02:xx hours: 02:00 CEST (00:00Z) to 03:00 CET (02:00Z)
    overlap = Calendar.from_spec("Europe/Berlin", {"sun": [{"start": "02:00", "end": "03:00"}]})
    assert overlap.intervals(dt.date(2027, 10, 31)) == ((z("2027-10-31 00:00"), z("2027-10-31 02:00")),)
    # The whole around-the-clock day: 23 h in spring, 25 h in the fall
    assert business_minutes_between(BERLIN_24_7, z("2027-03-27 23:00"), z("2027-03-28 22:00")) == 23 * 60
    assert business_minutes_between(BERLIN_24_7, z("2027-10-30 22:00"), z("2027-10-31 23:00")) == 25 * 60


def test_next_open_and_segments() -> None:
    assert next_open(BERLIN, z("2027-03-01 09:00")) == z("2027-03-01 09:00")  # open: itself
    assert next_open(BERLIN, z("2027-03-01 11:10")) == z("2027-03-01 12:00")  # lunch: 13:00 CET
    assert next_open(BERLIN_HOLIDAY, z("2027-03-25 17:00")) == z("2027-03-29 07:00")  # holiday, weekend, CEST
    got = [(s.start, s.end, s.open, s.reason) for s in segments(BERLIN_HOLIDAY, z("2027-03-25 15:00"), z("2027-03-29 08:00"))]
    assert got == [
        (z("2027-03-25 15:00"), z("2027-03-25 16:00"), True, None),
        (z("2027-03-25 16:00"), z("2027-03-25 23:00"), False, "outside_hours"),
        (z("2027-03-25 23:00"), z("2027-03-26 23:00"), False, "holiday"),  # Fri 26, local midnight to midnight
        (z("2027-03-26 23:00"), z("2027-03-29 07:00"), False, "outside_hours"),
        (z("2027-03-29 07:00"), z("2027-03-29 08:00"), True, None),
    ]


def test_pauses_stretch_the_due_time() -> None:
    # Created Mon 2027-03-01 09:00 CET (08:00Z), 240 business minutes. Pending 10:00-14:00 CET:
    # runs 09-10 (60), then from 14:00: 180 more = 14:00-17:00 -> due 17:00 CET = 16:00Z
    # (unpaused it would be 09-12 + 13-14 -> 14:00 CET = 13:00Z).
    target = dt.timedelta(minutes=240)
    plain = run_clock(BERLIN, target, [(z("2027-03-01 08:00"), None)], z("2027-03-01 08:00"))
    assert plain.due_at == z("2027-03-01 13:00")
    paused = run_clock(BERLIN, target, [(z("2027-03-01 08:00"), z("2027-03-01 09:00")), (z("2027-03-01 13:00"), None)],
                       z("2027-03-01 14:00"))
    assert paused.due_at == z("2027-03-01 16:00")
    assert paused.elapsed == dt.timedelta(minutes=120) and paused.remaining == dt.timedelta(minutes=120)
    # Paused now (no open stretch): no due time, 180 minutes left
    stopped = run_clock(BERLIN, target, [(z("2027-03-01 08:00"), z("2027-03-01 09:00"))], z("2027-03-02 08:00"))
    assert stopped.due_at is None and stopped.remaining == dt.timedelta(minutes=180)
    # Paused Fri 16:00 CET to Mon 10:00 CET: the weekend's pause costs nothing, Monday 09-10 does.
    # Start Fri 2027-03-05 15:00 CET (14:00Z), 180: Fri 15-16 (60), resume Mon 10:00 CET, 120 more: 10-12 -> 12:00 CET = 11:00Z
    weekend = run_clock(BERLIN, dt.timedelta(minutes=180), [(z("2027-03-05 14:00"), z("2027-03-05 15:00")),
                                                           (z("2027-03-08 09:00"), None)], z("2027-03-08 09:00"))
    assert weekend.due_at == z("2027-03-08 11:00")


def test_validation_names_the_field() -> None:
    with pytest.raises(CalendarError) as bad_zone:
        Calendar.from_spec("Mars/Olympus", WEEKDAYS_9_17)
    assert set(bad_zone.value.errors) == {"time_zone"}
    for frames in ({"mon": [{"start": "17:00", "end": "09:00"}]}, {"mon": [{"start": "9", "end": "10:00"}]},
                   {"funday": []}, {"mon": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]},
                   {}, {"mon": [{"start": "09:00", "end": "24:30"}]}, "nope"):
        with pytest.raises(CalendarError) as bad:
            Calendar.from_spec("UTC", frames)  # type: ignore[arg-type]
        assert set(bad.value.errors) == {"frames"}, frames
    with pytest.raises(CalendarError) as bad_day:
        Calendar.from_spec("UTC", WEEKDAYS_9_17, [{"date": "2027-02-30"}])
    assert set(bad_day.value.errors) == {"holidays"}
    never = Calendar.from_spec("UTC", {"mon": [{"start": "09:00", "end": "10:00"}]},
                               [dt.date(2027, 1, 4) + dt.timedelta(weeks=w) for w in range(200)])
    with pytest.raises(NoBusinessHours):
        add_business_minutes(never, z("2027-01-01 00:00"), 60)


# --- properties ------------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago", "UTC"]
HHMM = st.integers(min_value=0, max_value=48).map(lambda half_hours: half_hours * 30)


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    frames: dict[str, list[dict[str, str]]] = {}
    for day in draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, unique=True)):
        cuts = sorted(draw(st.lists(HHMM, min_size=2, max_size=6, unique=True)))
        slots = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
        frames[day] = [{"start": f"{s // 60:02d}:{s % 60:02d}", "end": f"{e // 60:02d}:{e % 60:02d}"} for s, e in slots]
    holidays = draw(st.lists(st.dates(min_value=dt.date(2027, 1, 1), max_value=dt.date(2027, 12, 31)), max_size=20))
    return Calendar.from_spec(draw(st.sampled_from(ZONES)), frames, holidays)


MOMENTS = st.datetimes(min_value=dt.datetime(2027, 1, 1), max_value=dt.datetime(2027, 12, 31)).map(lambda d: d.replace(tzinfo=UTC))


def _inside_business_hours(calendar: Calendar, moment: dt.datetime) -> bool:
    """Open, or the closing instant of an open interval (a due time at 17:00 of 09:00-17:00)."""
    day = calendar.local_date(moment)
    return any(s < moment <= e for d in (day - dt.timedelta(days=1), day) for s, e in calendar.intervals(d))


@settings(max_examples=200, deadline=None)
@given(calendars(), MOMENTS, st.integers(min_value=1, max_value=60 * 24 * 10))
def test_due_times_never_fall_outside_business_hours(calendar: Calendar, start: dt.datetime, minutes: int) -> None:
    try:
        due = add_business_minutes(calendar, start, minutes)
    except NoBusinessHours:
        return
    assert due > start
    assert _inside_business_hours(calendar, due)
    # add and between are inverse
    assert business_minutes_between(calendar, start, due) == minutes


@settings(max_examples=200, deadline=None)
@given(calendars(), MOMENTS, st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=40)))
def test_between_then_add_lands_on_the_same_open_time(calendar: Calendar, a: dt.datetime, span: dt.timedelta) -> None:
    b = a + span
    minutes = business_minutes_between(calendar, a, b)
    if minutes == 0:
        return
    due = add_business_minutes(calendar, a, minutes)
    # b itself, or the end of the last open interval before b (closed time adds nothing)
    assert due <= b and business_minutes_between(calendar, due, b) == 0
    total = sum(((s.end - s.start) for s in segments(calendar, a, b) if s.open), dt.timedelta(0))
    assert total / dt.timedelta(minutes=1) == minutes


@settings(max_examples=100, deadline=None)
@given(calendars(), MOMENTS)
def test_intervals_are_ordered_and_within_their_day(calendar: Calendar, moment: dt.datetime) -> None:
    day = calendar.local_date(moment)
    previous_end = None
    for d in (day, day + dt.timedelta(days=1)):
        for s, e in calendar.intervals(d):
            assert s < e and calendar.local_date(s) == d
            assert previous_end is None or s >= previous_end
            previous_end = e


def test_always_open() -> None:
    assert add_business_minutes(ALWAYS_OPEN, z("2027-03-06 11:00"), 90) == z("2027-03-06 12:30")


# --- holiday feeds -----------------------------------------------------------------------------

FEED = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:1\r
DTSTART;VALUE=DATE:20271225\r
DTEND;VALUE=DATE:20271227\r
SUMMARY:Christmas\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:2\r
DTSTART;VALUE=DATE:20270101\r
RRULE:FREQ=YEARLY\r
SUMMARY:New Year\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:3\r
DTSTART:20270501T230000Z\r
SUMMARY:Timed (May 2 in Berlin)\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:4\r
STATUS:CANCELLED\r
DTSTART;VALUE=DATE:20270704\r
SUMMARY:Cancelled\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_parse_holiday_feed() -> None:
    found = {h.date: h.name for h in parse_holidays(FEED, "Europe/Berlin", today=dt.date(2027, 6, 1))}
    assert found[dt.date(2027, 12, 25)] == found[dt.date(2027, 12, 26)] == "Christmas"
    assert dt.date(2027, 12, 27) not in found  # DTEND is exclusive
    assert {dt.date(2027, 1, 1), dt.date(2028, 1, 1), dt.date(2029, 1, 1)} <= set(found)  # yearly, expanded
    assert found[dt.date(2027, 5, 2)].startswith("Timed")  # 23:00Z is May 2 in Berlin
    assert dt.date(2027, 7, 4) not in found
    with pytest.raises(FeedError):
        parse_holidays(b"not a calendar", "UTC")
    for url in ("ftp://x.example/feed.ics", "https://user:pw@x.example/", "https:///nohost", "https://x.example/a b"):
        with pytest.raises(FeedError):
            check_url(url)
    assert check_url("webcal://x.example/holidays.ics")


def test_fetch_refuses_private_addresses() -> None:
    from crm_hours.feed import fetch

    with pytest.raises(FeedError, match="not a public address"):
        fetch("http://127.0.0.1:9/holidays.ics", timeout=1)


@settings(max_examples=100, deadline=None)
@given(calendars(), MOMENTS, st.integers(min_value=1, max_value=60 * 24 * 3),
       st.lists(st.integers(min_value=1, max_value=60 * 24 * 2), min_size=0, max_size=6))
def test_paused_clocks_are_due_inside_business_hours_and_running_time(calendar: Calendar, start: dt.datetime, minutes: int,
                                                                      cuts: list[int]) -> None:
    # Alternate running and paused stretches of the given lengths, the last one running for good.
    running: list[tuple[dt.datetime, dt.datetime | None]] = []
    t, run = start, True
    for length in cuts:
        end = t + dt.timedelta(minutes=length)
        if run:
            running.append((t, end))
        t, run = end, not run
    running.append((t, None))
    try:
        result = run_clock(calendar, dt.timedelta(minutes=minutes), running, start)
    except NoBusinessHours:
        return
    due = result.due_at
    assert due is not None and _inside_business_hours(calendar, due)
    assert any(s < due and (e is None or due <= e) for s, e in running)  # only running time counts
    counted = sum((business_time_between(calendar, s, min(e, due) if e is not None else due)
                   for s, e in running if s < due), dt.timedelta(0))
    assert counted == dt.timedelta(minutes=minutes)


def test_fetch_from_a_local_server_with_redirect_and_size_limit() -> None:
    import http.server
    import threading

    from crm_hours.feed import fetch

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/holidays.ics")
                self.end_headers()
                return
            self.send_response(200 if self.path == "/holidays.ics" else 404)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()
            self.wfile.write(FEED)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert fetch(f"{base}/moved", timeout=5, allow_private=True) == FEED
        with pytest.raises(FeedError, match="HTTP 404"):
            fetch(f"{base}/missing", timeout=5, allow_private=True)
        with pytest.raises(FeedError, match="larger than"):
            fetch(f"{base}/holidays.ics", timeout=5, allow_private=True, max_bytes=100)
    finally:
        server.shutdown()
        server.server_close()
