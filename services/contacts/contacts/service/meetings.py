"""Meeting invitations by mail (iCalendar, RFC 5546 iTIP) and the attendees' answers.

A meeting with `send_invitations` gets a reply token when first sent; its invitation is
METHOD:REQUEST with UID `<activity id>@crm` (stable), SEQUENCE 0, and ORGANIZER the reply address of
that token (crm_mail.REPLY_ADDRESS_PLACEHOLDER; the mail service puts the tenant's address in), so
an attendee's calendar sends its METHOD:REPLY there. A change of time, place or attendees sends
the update with SEQUENCE + 1 (and METHOD:CANCEL to attendees taken off); cancelling or deleting
the meeting sends METHOD:CANCEL. A reply (crm.mail.received with the token and a calendar part)
sets that attendee's status.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

import icalendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.models import Activity
from contacts.schemas.activities import as_utc, attendee
from crm_db.base import utcnow
from crm_events.envelope import Event
from crm_events.outbox import Outbox
from crm_ical import local, new_calendar, to_bytes
from crm_mail.requests import REPLY_ADDRESS_PLACEHOLDER, new_reply_token, request_mail

log = logging.getLogger(__name__)

REPLY_TAG = "t"  # mail to <mailbox>+t-<token>@
# What an attendee's calendar shows changed: these make a new SEQUENCE and an update by mail.
MATERIAL = ("starts_at", "ends_at", "location", "time_zone", "attendees", "subject")
PARTSTAT = {"NEEDS-ACTION": "needs_action", "ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentative"}
DEFAULT_LENGTH = dt.timedelta(minutes=30)


def uid(activity: Activity) -> str:
    return f"{activity.id}@crm"


def emails(attendees: Iterable[Any] | None) -> list[str]:
    return [a["email"] for a in (attendee(x) for x in attendees or ()) if a["email"]]


def invitation(activity: Activity, method: str, recipients: Iterable[str] | None = None,
               now: dt.datetime | None = None) -> bytes:
    """The VCALENDAR of a REQUEST or CANCEL for this meeting (its current SEQUENCE)."""
    cal = new_calendar(method)
    event = icalendar.Event()
    event.add("uid", uid(activity))
    event.add("sequence", activity.sequence or 0)
    event.add("dtstamp", (now or utcnow()).astimezone(dt.UTC))
    starts = as_utc(activity.starts_at) or as_utc(activity.occurred_at)
    ends = as_utc(activity.ends_at) or (starts + DEFAULT_LENGTH if starts else None)
    if starts is not None:
        event.add("dtstart", local(starts, activity.time_zone))
    if ends is not None:
        event.add("dtend", local(ends, activity.time_zone))
    event.add("summary", activity.subject or "Meeting")
    if activity.body:
        event.add("description", activity.body)
    if activity.location:
        event.add("location", activity.location)
    organizer = icalendar.vCalAddress(f"mailto:{REPLY_ADDRESS_PLACEHOLDER}")
    organizer.params["CN"] = "CRM"
    event.add("organizer", organizer)
    wanted = set(recipients) if recipients is not None else None
    for a in (attendee(x) for x in activity.attendees or ()):
        if wanted is not None and a["email"] not in wanted:
            continue
        address = icalendar.vCalAddress(f"mailto:{a['email']}")
        if a.get("name"):
            address.params["CN"] = a["name"]
        address.params.update({"ROLE": "REQ-PARTICIPANT", "RSVP": "TRUE",
                               "PARTSTAT": next(k for k, v in PARTSTAT.items() if v == a["status"])})
        event.add("attendee", address)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    cal.add_component(event)
    return to_bytes(cal)


def send(session: Session, outbox: Outbox, activity: Activity, method: str, recipients: list[str]) -> None:
    """One message per invitation (every recipient in To, as calendar clients expect)."""
    if not recipients:
        return
    title = activity.subject or "Meeting"
    when = as_utc(activity.starts_at)
    when_text = f"{local(when, activity.time_zone):%Y-%m-%d %H:%M} {activity.time_zone or 'UTC'}" if when else ""
    if method == "CANCEL":
        subject, text = f"Cancelled: {title}", f"The meeting {title!r} ({when_text}) is cancelled."
    else:
        subject = f"{'Updated invitation' if activity.sequence else 'Invitation'}: {title}"
        text = f"You are invited to {title!r} on {when_text}" + (f" at {activity.location}" if activity.location else "") + "."
    ics = invitation(activity, method, recipients)
    request_mail(outbox, session, to=[{"address": r} for r in recipients], subject=subject[:998], text=text,
                 purpose="transactional", reply_token=activity.reply_token,
                 attachments=[{"filename": "invite.ics", "content_type": f"text/calendar; method={method}",
                               "content_base64": base64.b64encode(ics).decode()}],
                 refers_to={"type": "activity", "id": str(activity.id)})


def prepare(values: dict[str, Any], record: Activity | None) -> None:
    """Before a meeting is written: mint its reply token the first time invitations are wanted,
    and bump SEQUENCE when an invitation already sent changes materially."""
    wanted = values.get("send_invitations", record.send_invitations if record is not None else None)
    if not wanted:
        return
    if (record is None or not record.reply_token) and not values.get("reply_token"):
        values["reply_token"] = new_reply_token()
    if record is None or not record.send_invitations:
        values.setdefault("sequence", 0 if record is None else (record.sequence or 0) + 1)
        return
    changed = any(name in values and _comparable(name, values[name]) != _comparable(name, getattr(record, name))
                  for name in MATERIAL)
    cancelling = bool(values.get("cancelled")) and not record.cancelled
    if changed or cancelling:
        values["sequence"] = (record.sequence or 0) + 1
    if any(name in values and as_utc(values[name]) != as_utc(getattr(record, name)) for name in ("starts_at", "ends_at")):
        # Another time needs another answer: every attendee is asked again (as calendar apps do).
        people = values.get("attendees", record.attendees) or []
        values["attendees"] = [{**attendee(a), "status": "needs_action"} for a in people]


def _comparable(name: str, value: Any) -> Any:
    if name in ("starts_at", "ends_at"):
        return as_utc(value)
    if name == "attendees":
        return sorted(emails(value))  # an answer (a status) is no change of the invitation
    return value


def after_create(session: Session, outbox: Outbox, activity: Activity) -> None:
    if activity.type == "meeting" and activity.send_invitations and not activity.cancelled:
        send(session, outbox, activity, "REQUEST", emails(activity.attendees))


def after_change(session: Session, outbox: Outbox, before: dict[str, Any], activity: Activity) -> None:
    """`before`: sequence, cancelled, send_invitations and attendee emails before the change."""
    if activity.type != "meeting" or not activity.send_invitations:
        return
    if activity.sequence == before["sequence"] and before["send_invitations"]:
        return  # nothing an attendee sees changed (a status, a note in the body)
    now, then = emails(activity.attendees), before["emails"] if before["send_invitations"] else []
    if activity.cancelled:
        if not before["cancelled"]:
            send(session, outbox, activity, "CANCEL", sorted(set(now) | set(then)))
        return
    send(session, outbox, activity, "REQUEST", now)
    removed = [e for e in then if e not in now]
    send(session, outbox, activity, "CANCEL", removed)


def snapshot(activity: Activity) -> dict[str, Any]:
    return {"sequence": activity.sequence, "cancelled": bool(activity.cancelled),
            "send_invitations": bool(activity.send_invitations), "emails": emails(activity.attendees)}


def before_delete(session: Session, outbox: Outbox, activity: Activity) -> None:
    if activity.type == "meeting" and activity.send_invitations and not activity.cancelled:
        activity.sequence = (activity.sequence or 0) + 1
        send(session, outbox, activity, "CANCEL", emails(activity.attendees))


def replies(calendar: str) -> list[tuple[str, str, str]]:
    """(uid, attendee email, status) of each answer in a METHOD:REPLY calendar; [] for anything else."""
    try:
        cal = icalendar.Calendar.from_ical(calendar)
    except (ValueError, KeyError, IndexError, TypeError):
        return []
    if str(cal.get("method", "")).upper() != "REPLY":
        return []
    out = []
    for event in cal.walk("VEVENT"):
        people = event.get("attendee")
        for person in people if isinstance(people, list) else [people] if people is not None else []:
            status = PARTSTAT.get(str(person.params.get("PARTSTAT", "")).upper())
            address = str(person).removeprefix("mailto:").removeprefix("MAILTO:").strip().lower()
            if status and address:
                out.append((str(event.get("uid", "")), address, status))
    return out


def on_reply(session: Session, outbox: Outbox, event: Event) -> Activity | None:
    """crm.mail.received at <mailbox>+t-<token>@ with a calendar part: the attendee's answer. Only the
    sending attendee of the meeting with that token (in this tenant) is changed, and only their status."""
    data = event.data or {}
    token, calendar = data.get("token"), data.get("calendar")
    if data.get("tag") != REPLY_TAG or not token or not isinstance(calendar, str):
        return None
    meeting = session.scalars(select(Activity).where(Activity.reply_token == str(token)[:64],
                                                     Activity.type == "meeting")).first()
    if meeting is None:
        return None
    # Every attendee got the same token: one may answer only for themselves (the From address),
    # never set another attendee's status.
    sender = str((data.get("from") or {}).get("address") or "").strip().lower()
    answers = {email: status for found_uid, email, status in replies(calendar)
               if found_uid == uid(meeting) and email == sender}
    if not answers:
        return None
    attendees = [attendee(a) for a in meeting.attendees or ()]
    changed = [{**a, "status": answers.get(a["email"], a["status"])} for a in attendees]
    if changed == attendees:
        return meeting
    from contacts.service.activities import activity_service  # the service writes the event; it imports us

    return activity_service(outbox).update(session, meeting.id, {"attendees": changed})
