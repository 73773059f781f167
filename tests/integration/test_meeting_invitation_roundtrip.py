"""A meeting invitation's round trip through the real contract between contacts and mail, without
servers: contacts' send request is rendered by mail (ORGANIZER = the reply address), the
attendee's calendar answers METHOD:REPLY to that address, mail parses and routes the answer into
crm.mail.received (with its calendar part), and contacts sets the attendee's status."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import uuid
from email.message import EmailMessage
from pathlib import Path

import icalendar
from sqlalchemy import text

import contacts
from contacts.app import create_app
from contacts.consumer import handlers
from contacts.models import metadata
from crm_core.context import tenant_context
from crm_events.envelope import Event
from crm_runtime.service import migrations_dir
from crm_testing.apps import make_harness
from mail.models import InboundAttachment, InboundMessage
from mail.service.inbound import event_data
from mail.service.mailboxes import split_address
from mail.service.parsing import parse
from mail.service.render import Identity, render

DOMAIN = "inbound.localhost"


def test_an_invitation_and_its_reply_go_round(tmp_path: Path) -> None:
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path)
    h = svc.headers("a")
    ada = svc.client.post("/v1/contacts", json={"email": "ada@example.com"}, headers=h).get_json()
    meeting = svc.client.post(f"/v1/contacts/{ada['id']}/activities", headers=h, json={
        "type": "meeting", "subject": "Demo", "starts_at": "2027-03-05T09:00:00Z", "time_zone": "Europe/Berlin",
        "send_invitations": True, "attendees": [{"email": "bea@example.com", "name": "Bea"}]}).get_json()
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        [payload] = session.execute(text("SELECT payload FROM outbox WHERE event_type = 'crm.mail.send_requested'")).scalars()
    request = json.loads(payload)["data"]

    # mail renders the request as the mail service's send path does (reply address of the token).
    reply_address = f"acme+t-{request['reply_token']}@{DOMAIN}"
    sent = email.message_from_bytes(render(request, sender=Identity("crm@ourco.example"), message_id="<m1@x>",
                                           reply_to=reply_address), policy=email.policy.default)
    [part] = [p for p in sent.walk() if p.get_content_type() == "text/calendar"]
    invitation = icalendar.Calendar.from_ical(part.get_content())
    [event] = invitation.walk("VEVENT")
    assert part.get_param("method") == "REQUEST" and str(event["ORGANIZER"]) == f"mailto:{reply_address}"

    # Bea's calendar answers to the ORGANIZER.
    answer = icalendar.Calendar()
    answer.add("prodid", "-//Bea's calendar//EN")
    answer.add("version", "2.0")
    answer.add("method", "REPLY")
    reply_event = icalendar.Event()
    for key in ("UID", "SEQUENCE", "DTSTAMP", "ORGANIZER"):
        reply_event[key] = event[key]
    bea = icalendar.vCalAddress("mailto:bea@example.com")
    bea.params["PARTSTAT"] = "ACCEPTED"
    reply_event.add("attendee", bea)
    answer.add_component(reply_event)
    msg = EmailMessage()
    organizer = str(event["ORGANIZER"]).removeprefix("mailto:")
    msg["From"], msg["To"], msg["Subject"] = "Bea <bea@example.com>", organizer, "Accepted: Demo"
    msg.set_content("Bea has accepted this invitation.")
    msg.add_alternative(answer.to_ical().decode(), subtype="calendar", params={"method": "REPLY"})

    # mail routes and announces it, as its inbound path stores and emits it.
    raw = msg.as_bytes(policy=email.policy.SMTP)
    parsed = parse(raw, envelope_from="bea@example.com", own_domain=DOMAIN)
    address, ours = split_address(organizer, DOMAIN)
    assert ours and address is not None and (address.tag, address.token) == ("t", request["reply_token"])
    row = InboundMessage(id=uuid.uuid4(), mailbox=address.mailbox, tag=address.tag, token=address.token, kind=parsed.kind,
                         recipient=address.render(DOMAIN), references=[], to=parsed.to, cc=[], reply_to=[], size=len(raw),
                         from_address="bea@example.com", auto_submitted=False, text=parsed.text)
    attachments = [InboundAttachment(id=uuid.uuid4(), filename=a.filename, content_type=a.content_type, inline=a.inline,
                                     size=len(a.data), data=a.data) for a in parsed.attachments]
    data = event_data(row, attachments)
    assert data["calendar"] and "METHOD:REPLY" in data["calendar"]

    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        handlers()["crm.mail.received"](session, Event(type="crm.mail.received", source="mail",
                                                       tenant_id=str(svc.tenant("a")), subject=data["id"], data=data))
    shown = svc.client.get(f"/v1/contacts/{ada['id']}/activities/{meeting['id']}", headers=h).get_json()
    assert shown["attendees"] == [{"email": "bea@example.com", "name": "Bea", "status": "accepted"}]
    assert base64.b64decode(request["attachments"][0]["content_base64"])  # the request itself was untouched
