"""Meetings with attendees: invitations by mail (METHOD:REQUEST, stable UID, SEQUENCE up on every
change attendees see, ORGANIZER the reply address), cancellations, and replies setting status."""

from __future__ import annotations

import datetime as dt
from typing import Any

import icalendar
from deal_timeline_helpers import deal, feed, invitations
from logged_mail_helpers import Api, received

from contacts.service.meetings import replies
from crm_mail.requests import REPLY_ADDRESS_PLACEHOLDER
from crm_testing.apps import ServiceHarness

MEETING = {"type": "meeting", "subject": "Demo", "starts_at": "2026-03-05T09:00:00Z", "ends_at": "2026-03-05T10:00:00Z",
           "location": "Room 1", "time_zone": "Europe/Berlin", "send_invitations": True,
           "attendees": [{"email": "Bea@Example.com", "name": "Bea"}, "carl@example.com"]}


def event_of(ics: str) -> tuple[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(ics)
    [event] = cal.walk("VEVENT")
    return str(cal["METHOD"]), event


def attendees_of(event: icalendar.Event) -> dict[str, str]:
    people = event.get("attendee")
    people = people if isinstance(people, list) else [people]
    return {str(p).removeprefix("mailto:"): str(p.params["PARTSTAT"]) for p in people}


def test_invitation_update_and_cancellation(contacts_service: ServiceHarness) -> None:
    svc, a = contacts_service, Api(contacts_service, "a")
    ada = a.contact("ada@example.com")
    path = f"/v1/contacts/{ada['id']}/activities"
    made = a("POST", path, MEETING, 201)
    assert made["attendees"] == [{"email": "bea@example.com", "name": "Bea", "status": "needs_action"},
                                 {"email": "carl@example.com", "name": None, "status": "needs_action"}]
    assert made["sequence"] == 0 and made["location"] == "Room 1" and "reply_token" not in made
    [(request, ics)] = invitations(svc)
    assert sorted(r["address"] for r in request["to"]) == ["bea@example.com", "carl@example.com"]
    assert request["reply_token"] and request["attachments"][0]["content_type"] == "text/calendar; method=REQUEST"
    method, event = event_of(ics)
    assert (method, str(event["UID"]), int(event["SEQUENCE"])) == ("REQUEST", f"{made['id']}@crm", 0)
    assert str(event["ORGANIZER"]) == f"mailto:{REPLY_ADDRESS_PLACEHOLDER}"
    start = event.decoded("DTSTART")
    assert str(start.tzinfo) == "Europe/Berlin" and start.hour == 10  # 09:00Z in Berlin, with its VTIMEZONE
    assert start.astimezone(dt.UTC) == dt.datetime(2026, 3, 5, 9, tzinfo=dt.UTC)
    assert "BEGIN:VTIMEZONE" in ics and "TZID:Europe/Berlin" in ics
    assert (str(event["LOCATION"]), str(event["SUMMARY"])) == ("Room 1", "Demo")
    assert attendees_of(event) == {"bea@example.com": "NEEDS-ACTION", "carl@example.com": "NEEDS-ACTION"}

    # A note in the body is no new invitation.
    a("PATCH", f"{path}/{made['id']}", {"body": "Agenda to follow"})
    assert len(invitations(svc)) == 1
    # Moved, and Carl taken off: an update (SEQUENCE 1) to Bea, a cancellation to Carl.
    moved = a("PATCH", f"{path}/{made['id']}", {"starts_at": "2026-03-06T09:00:00Z", "ends_at": "2026-03-06T10:00:00Z",
                                               "attendees": ["bea@example.com"]})
    assert moved["sequence"] == 1
    _, (update, update_ics), (cancel, cancel_ics) = invitations(svc)
    assert [r["address"] for r in update["to"]] == ["bea@example.com"] and update["reply_token"] == request["reply_token"]
    method, event = event_of(update_ics)
    assert (method, str(event["UID"]), int(event["SEQUENCE"])) == ("REQUEST", f"{made['id']}@crm", 1)
    assert event.decoded("DTSTART").astimezone(dt.UTC) == dt.datetime(2026, 3, 6, 9, tzinfo=dt.UTC)
    assert [r["address"] for r in cancel["to"]] == ["carl@example.com"]
    assert event_of(cancel_ics)[0] == "CANCEL"
    # Deleting the meeting cancels it for whoever is still invited, with a higher SEQUENCE.
    assert svc.client.delete(f"{path}/{made['id']}", headers=svc.headers("a")).status_code == 204
    last, last_ics = invitations(svc)[-1]
    method, event = event_of(last_ics)
    assert (method, int(event["SEQUENCE"]), str(event["STATUS"])) == ("CANCEL", 2, "CANCELLED")
    assert [r["address"] for r in last["to"]] == ["bea@example.com"] and last["subject"] == "Cancelled: Demo"


def test_cancelling_and_meetings_without_invitations(contacts_service: ServiceHarness) -> None:
    svc, a = contacts_service, Api(contacts_service, "a")
    did = deal(svc, "a", 4)
    quiet = a("POST", f"/v1/deals/{did}/activities", {**MEETING, "send_invitations": False}, 201)
    a("PATCH", f"/v1/deals/{did}/activities/{quiet['id']}", {"starts_at": "2026-03-07T09:00:00Z", "ends_at": "2026-03-07T10:00:00Z"})
    assert invitations(svc) == []
    made = a("POST", f"/v1/deals/{did}/activities", MEETING, 201)
    assert made["deal_id"] == did and len(invitations(svc)) == 1
    cancelled = a("PATCH", f"/v1/deals/{did}/activities/{made['id']}", {"cancelled": True})
    assert cancelled["cancelled"] is True and cancelled["sequence"] == 1
    method, event = event_of(invitations(svc)[-1][1])
    assert (method, int(event["SEQUENCE"])) == ("CANCEL", 1)
    assert svc.client.delete(f"/v1/deals/{did}/activities/{made['id']}", headers=svc.headers("a")).status_code == 204
    assert len(invitations(svc)) == 2  # already cancelled: no second cancellation
    # Turning invitations on later sends the first one then.
    a("PATCH", f"/v1/deals/{did}/activities/{quiet['id']}", {"send_invitations": True})
    assert event_of(invitations(svc)[-1][1])[0] == "REQUEST"


def reply_for(ics: str, email: str, partstat: str) -> str:
    """What Bea's calendar sends back: METHOD:REPLY with only her ATTENDEE line and its PARTSTAT."""
    cal = icalendar.Calendar.from_ical(ics)
    out = icalendar.Calendar()
    out.add("prodid", "-//Google Inc//Google Calendar 70.9054//EN")
    out.add("version", "2.0")
    out.add("method", "REPLY")
    [source] = cal.walk("VEVENT")
    event = icalendar.Event()
    for key in ("UID", "SEQUENCE", "DTSTART", "DTSTAMP", "ORGANIZER"):
        event[key] = source[key]
    person = icalendar.vCalAddress(f"mailto:{email}")
    person.params["PARTSTAT"] = partstat
    event.add("attendee", person)
    out.add_component(event)
    return out.to_ical().decode()


def status_of(a: Api, path: str) -> dict[str, Any]:
    return {x["email"]: x["status"] for x in a("GET", path)["attendees"]}


def test_replies_set_the_attendee_status(contacts_service: ServiceHarness) -> None:
    svc, a = contacts_service, Api(contacts_service, "a")
    ada = a.contact("ada@example.com")
    path = f"/v1/contacts/{ada['id']}/activities"
    made = a("POST", path, MEETING, 201)
    item = f"{path}/{made['id']}"
    [(request, ics)] = invitations(svc)
    token = request["reply_token"]
    answer = reply_for(ics, "bea@example.com", "ACCEPTED")
    assert replies(answer) == [(f"{made['id']}@crm", "bea@example.com", "accepted")]
    feed(svc, "a", "crm.mail.received", received(sender="bea@example.com", tag="t", token=token, calendar=answer))
    assert status_of(a, item) == {"bea@example.com": "accepted", "carl@example.com": "needs_action"}
    feed(svc, "a", "crm.mail.received", received(sender="carl@example.com", tag="t", token=token,
                                                 calendar=reply_for(ics, "carl@example.com", "TENTATIVE")))
    feed(svc, "a", "crm.mail.received", received(sender="bea@example.com", tag="t", token=token,
                                                 calendar=reply_for(ics, "bea@example.com", "DECLINED")))
    assert status_of(a, item) == {"bea@example.com": "declined", "carl@example.com": "tentative"}
    assert len(invitations(svc)) == 1  # an answer sends no new invitation
    assert a("GET", item)["sequence"] == 0
    # Not answers: a wrong token, another meeting's UID, a stranger, one attendee for another, a REQUEST, garbage.
    bea = "bea@example.com"
    for data in (received(sender=bea, tag="t", token="wrongtoken1", calendar=reply_for(ics, bea, "ACCEPTED")),
                 received(sender=bea, tag="t", token=token, calendar=answer.replace(made["id"], "00000000-0000-0000-0000-000000000000")),
                 received(sender="zed@example.com", tag="t", token=token,
                          calendar=reply_for(ics, "zed@example.com", "ACCEPTED")),
                 received(sender="carl@example.com", tag="t", token=token,  # Carl answering for Bea
                          calendar=reply_for(ics, "bea@example.com", "ACCEPTED")),
                 received(sender=bea, tag="t", token=token, calendar=ics.replace("NEEDS-ACTION", "ACCEPTED")),
                 received(sender=bea, tag="t", token=token, calendar="BEGIN:VCALENDAR\r\nbroken"),
                 received(sender=bea, tag="t", token=token, calendar=None)):
        feed(svc, "a", "crm.mail.received", data)
    assert status_of(a, item) == {"bea@example.com": "declined", "carl@example.com": "tentative"}
    # Moved: everyone is asked again.
    moved = a("PATCH", item, {"starts_at": "2026-03-05T11:00:00Z", "ends_at": "2026-03-05T12:00:00Z"})
    assert moved["sequence"] == 1 and {x["status"] for x in moved["attendees"]} == {"needs_action"}
    _, update = invitations(svc)[-1]
    assert set(attendees_of(event_of(update)[1]).values()) == {"NEEDS-ACTION"}


def test_meeting_fields_are_validated(contacts_service: ServiceHarness) -> None:
    a = Api(contacts_service, "a")
    ada = a.contact("ada@example.com")
    path = f"/v1/contacts/{ada['id']}/activities"
    for body, field in (({**MEETING, "time_zone": "Mars/Olympus"}, "time_zone"),
                        ({**MEETING, "attendees": [{"email": "bea@example.com", "status": "maybe"}]}, "attendees.0.status"),
                        ({"type": "note", "body": "x", "location": "here"}, "location")):
        assert field in a("POST", path, body, 422)["errors"], body
