"""The personal calendar feed: its lifecycle (create, show, rotate, revoke), and the iCalendar it
serves, parsed with icalendar: timed tasks in their zone, all-day tasks as DATE values, recurrence,
recently done tasks, meetings from the replica; caching with ETag."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import icalendar
from calendar_helpers import activity, as_user, events_of, fetch, task, user
from dateutil.rrule import rrulestr
from tasks_helpers import user_event

from crm_core.context import Principal
from crm_core.internal_token import HEADER
from crm_testing.apps import ServiceHarness

FEED = "/v1/calendar/feed"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def test_feed_lifecycle(pipeline_service: ServiceHarness) -> None:
    svc, c = pipeline_service, pipeline_service.client
    me = as_user(svc, "a")
    assert c.get(FEED, headers=me).get_json() == {"active": False, "created_at": None, "last_fetched_at": None}
    resp = c.post(FEED, headers=me)
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    first = resp.get_json()
    assert first["active"] is True and first["url"].startswith("http://") and first["url"].endswith(".ics")
    shown = c.get(FEED, headers=me).get_json()
    assert shown["active"] is True and "url" not in shown and first["url"].rsplit("/", 1)[1] not in str(shown)
    ics = fetch(c, svc, first["url"])
    assert ics.content_type.startswith("text/calendar") and ics.headers["ETag"]
    assert c.get(FEED, headers=me).get_json()["last_fetched_at"] is not None
    # POST again rotates: the old URL is dead at once, the new one works.
    second = c.post(FEED, headers=me).get_json()
    assert second["url"] != first["url"]
    fetch(c, svc, first["url"], 404)
    fetch(c, svc, second["url"])
    assert c.delete(FEED, headers=me).status_code == 204
    gone = fetch(c, svc, second["url"], 404)
    unknown = fetch(c, svc, second["url"].replace(".ics", "x.ics"), 404)
    assert gone.get_json() == unknown.get_json()  # revoked and never-issued look alike
    fetch(c, svc, "http://x/calendar/" + "a" * 500 + ".ics", 404)
    assert c.get(FEED, headers=me).get_json()["active"] is False
    assert c.delete(FEED, headers=me).status_code == 204  # revoking nothing is fine
    # An API key has no user: no feed. A credential without the scope: 403.
    assert c.post(FEED, headers=svc.headers("a")).status_code == 201  # harness tokens carry a user
    keyed = {HEADER: svc.signer.mint(Principal(svc.tenant("a"), None, ("member",), ("pipeline:read",)), "pipeline")}
    assert c.post(FEED, headers=keyed).status_code == 403
    assert c.post(FEED, headers=svc.headers("a", scopes=("contacts:read",))).status_code == 403


def test_feed_serves_tasks_and_meetings_as_calendars_show_them(pipeline_service: ServiceHarness) -> None:
    svc, c = pipeline_service, pipeline_service.client
    me, other = user(svc, "a"), user(svc, "a", "colleague")
    berlin = dt.datetime(2027, 3, 29, 7, 30, tzinfo=dt.UTC)  # 09:30 CEST
    task(svc, "a", me, "Call Ada", due_at=berlin, time_zone="Europe/Berlin", duration_minutes=45, notes="Pricing")
    task(svc, "a", me, "Renewal day", due_date=dt.date(2027, 4, 1), due_at=dt.datetime(2027, 3, 31, 22, tzinfo=dt.UTC),
         time_zone="Europe/Berlin")
    task(svc, "a", me, "Weekly pipeline review", due_at=dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC),
         recurrence="FREQ=WEEKLY;BYDAY=MO;COUNT=4")
    task(svc, "a", me, "Sent quote", due_at=NOW - dt.timedelta(days=2), done=True, completed_at=NOW - dt.timedelta(days=1),
         recurrence="FREQ=DAILY")
    task(svc, "a", me, "Ancient", due_at=NOW - dt.timedelta(days=90), done=True, completed_at=NOW - dt.timedelta(days=60))
    task(svc, "a", me, "Someday")  # no date: not on a calendar
    task(svc, "a", other, "Colleague's call", due_at=berlin)
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    activity(svc, "a", {"id": str(mine), "type": "meeting", "author_id": str(me), "subject": "Demo with Acme",
                        "starts_at": "2027-03-30T13:00:00Z", "ends_at": "2027-03-30T14:00:00Z", "time_zone": "America/New_York",
                        "location": "Zoom", "attendees": [{"email": "bea@example.com", "status": "accepted"}], "sequence": 2})
    activity(svc, "a", {"id": str(theirs), "type": "meeting", "author_id": str(other), "subject": "Not mine",
                        "starts_at": "2027-03-30T13:00:00Z"})
    url = c.post(FEED, headers=as_user(svc, "a")).get_json()["url"]
    resp = fetch(c, svc, url)
    body = resp.data
    events = events_of(body)
    assert set(events) == {"Call Ada", "Renewal day", "Weekly pipeline review", "✓ Sent quote", "Demo with Acme"}

    call = events["Call Ada"]
    start = call.decoded("DTSTART")
    assert (str(start.tzinfo), start.hour, start.minute) == ("Europe/Berlin", 9, 30)
    assert start.astimezone(dt.UTC) == berlin and call.decoded("DTEND") - start == dt.timedelta(minutes=45)
    assert str(call["DESCRIPTION"]) == "Pricing" and "DTSTART;TZID=Europe/Berlin:20270329T093000" in body.decode()
    tzids = {str(tz["TZID"]) for tz in icalendar_components(body, "VTIMEZONE")}
    assert tzids == {"Europe/Berlin", "America/New_York"}  # every TZID used has its VTIMEZONE

    day = events["Renewal day"]
    assert day.decoded("DTSTART") == dt.date(2027, 4, 1) and day.decoded("DTEND") == dt.date(2027, 4, 2)
    assert "DTSTART;VALUE=DATE:20270401" in body.decode() and str(day["TRANSP"]) == "TRANSPARENT"

    weekly = events["Weekly pipeline review"]
    assert weekly["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=4;BYDAY=MO"
    occurrences = list(rrulestr(weekly["RRULE"].to_ical().decode(), dtstart=weekly.decoded("DTSTART")))
    assert [o.date() for o in occurrences] == [dt.date(2027, 3, d) for d in (1, 8, 15, 22)]
    assert "RRULE" not in events["✓ Sent quote"]  # a done occurrence stands alone

    demo = events["Demo with Acme"]
    assert str(demo["UID"]) == f"{mine}@crm" and int(demo["SEQUENCE"]) == 2  # the invitation's UID
    assert str(demo.decoded("DTSTART").tzinfo) == "America/New_York" and demo.decoded("DTSTART").hour == 9
    assert str(demo["LOCATION"]) == "Zoom" and str(demo["ATTENDEE"]) == "mailto:bea@example.com"

    # Cache: the same ETag while nothing changed, 304 for it; a change makes a new one.
    again = fetch(c, svc, url)
    assert again.data == body and again.headers["ETag"] == resp.headers["ETag"]
    assert "max-age" in resp.headers["Cache-Control"] and resp.headers["Cache-Control"].startswith("private")
    fetch(c, svc, url, 304, **{"If-None-Match": resp.headers["ETag"]})
    activity(svc, "a", {"id": str(mine), "type": "meeting", "author_id": str(me), "subject": "Demo with Acme",
                        "starts_at": "2027-03-31T13:00:00Z", "version": 2, "cancelled": True, "sequence": 3},
             "crm.activity.updated")
    changed = fetch(c, svc, url, 200, **{"If-None-Match": resp.headers["ETag"]})
    assert changed.headers["ETag"] != resp.headers["ETag"]
    demo = events_of(changed.data)["Demo with Acme"]
    assert (str(demo["STATUS"]), int(demo["SEQUENCE"])) == ("CANCELLED", 3)


def icalendar_components(body: bytes, name: str) -> list[icalendar.cal.Component]:
    return icalendar.Calendar.from_ical(body).walk(name)


def test_a_deactivated_users_feed_stops(pipeline_service: ServiceHarness) -> None:
    """Offboarding ends the secret URL: at once (the replica says inactive) and for good (revoked)."""
    svc, c = pipeline_service, pipeline_service.client
    me = as_user(svc, "a")
    me_id = user(svc, "a")
    task(svc, "a", me_id, "Secret plan", due_at=NOW + dt.timedelta(days=1))
    url = c.post(FEED, headers=me).get_json()["url"]
    assert b"Secret plan" in fetch(c, svc, url).data
    user_event(svc, "a", me_id, event_type="crm.user.updated", active=False)
    fetch(c, svc, url, 404)
    assert c.get(FEED, headers=me).get_json()["active"] is False  # revoked, not only hidden
    user_event(svc, "a", me_id, event_type="crm.user.updated", active=True)
    fetch(c, svc, url, 404)  # reactivating brings back no old URL


def test_noting_a_fetch_does_not_change_the_feed(pipeline_service: ServiceHarness) -> None:
    """The first fetch notes last_fetched_at; that bookkeeping must not move DTSTAMP or the ETag
    (it used to bump updated_at, so a fetch after the noted one looked like a change)."""
    svc, c = pipeline_service, pipeline_service.client
    url = c.post(FEED, headers=as_user(svc, "a", "noted")).get_json()["url"]
    task(svc, "a", user(svc, "a", "noted"), "Call Ada", due_at=NOW + dt.timedelta(days=1))
    time.sleep(1.05)  # DTSTAMP has whole seconds: the first fetch is a second after the feed's creation
    first = fetch(c, svc, url)
    again = fetch(c, svc, url)
    assert b"DTSTAMP" in first.data and again.headers["ETag"] == first.headers["ETag"] and again.data == first.data
