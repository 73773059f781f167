"""Mail for deals and meetings (unit: no servers): <mailbox>+deal-<n>@ routes as logged mail carrying
the deal number; the first text/calendar part of an inbound message travels in crm.mail.received;
an invitation's ORGANIZER placeholder becomes the reply address when the request is rendered."""

from __future__ import annotations

import base64
import email
import email.policy
import uuid
from email.message import EmailMessage

from crm_mail.requests import REPLY_ADDRESS_PLACEHOLDER, build_request
from mail.models import InboundAttachment, InboundMessage
from mail.service import mailboxes
from mail.service.inbound import EVENT_CALENDAR_LIMIT, event_data
from mail.service.parsing import parse
from mail.service.render import Identity, render

DOMAIN = "inbound.localhost"
REPLY = "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:m1@crm\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def test_deal_tag_carries_the_deal_number() -> None:
    address, ours = mailboxes.split_address("Acme+Deal-0042@inbound.localhost", DOMAIN)
    assert ours and address == mailboxes.Address("acme", "deal", "42")
    assert address.render(DOMAIN) == "acme+deal-42@inbound.localhost"
    # Not a number: an ordinary detail, never a deal.
    for local in ("acme+deal-4x", "acme+deal-", "acme+deal-" + "9" * 19, "acme+deal-٤٢"):
        found, _ = mailboxes.split_address(f"{local}@{DOMAIN}", DOMAIN)
        assert found is not None and found.tag != "deal", local


def _row(tag: str | None, token: str | None) -> InboundMessage:
    return InboundMessage(id=uuid.uuid4(), mailbox="acme", tag=tag, token=token, kind="message", recipient="r",
                          references=[], to=[], cc=[], reply_to=[], size=1, auto_submitted=False)


def test_event_names_the_deal_and_carries_the_calendar() -> None:
    cal = InboundAttachment(id=uuid.uuid4(), filename="invite.ics", content_type="text/calendar", inline=False,
                            size=len(REPLY), data=REPLY.encode())
    pdf = InboundAttachment(id=uuid.uuid4(), filename="a.pdf", content_type="application/pdf", inline=False,
                            size=3, data=b"pdf")
    data = event_data(_row("deal", "42"), [pdf, cal])
    assert (data["tag"], data["token"], data["deal_number"], data["calendar"]) == ("deal", "42", 42, REPLY)
    plain = event_data(_row("log", None), [pdf])
    assert (plain["deal_number"], plain["calendar"]) == (None, None)
    huge = InboundAttachment(id=uuid.uuid4(), filename="x.ics", content_type="text/calendar", inline=False,
                             size=EVENT_CALENDAR_LIMIT + 1, data=b"x" * (EVENT_CALENDAR_LIMIT + 1))
    assert event_data(_row("t", "tok12345"), [huge])["calendar"] is None


def test_a_calendar_reply_is_parsed_as_an_attachment() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "bea@example.com", "acme+t-Tok3n_abc@inbound.localhost", "Accepted"
    msg.set_content("Bea has accepted.")
    msg.add_alternative(REPLY, subtype="calendar", params={"method": "REPLY"})
    parsed = parse(msg.as_bytes(policy=email.policy.SMTP), own_domain=DOMAIN)
    assert parsed.text.strip() == "Bea has accepted."
    [part] = parsed.attachments
    assert part.content_type == "text/calendar" and part.data.decode().replace("\r\n", "\n") == REPLY.replace("\r\n", "\n")


def test_organizer_placeholder_becomes_the_reply_address() -> None:
    ics = f"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nORGANIZER:mailto:{REPLY_ADDRESS_PLACEHOLDER}\r\nEND:VCALENDAR\r\n"
    data = build_request(to=["bea@example.com"], subject="Demo", purpose="transactional", text="Invitation",
                         reply_token="Tok3n_abc", attachments=[{
                             "filename": "invite.ics", "content_type": "text/calendar; method=REQUEST",
                             "content_base64": base64.b64encode(ics.encode()).decode()}])
    raw = render(data, sender=Identity("crm@example.com"), message_id="<m@x>",
                 reply_to="acme+t-Tok3n_abc@inbound.localhost")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    [part] = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REQUEST"
    content = part.get_content()
    assert "ORGANIZER:mailto:acme+t-Tok3n_abc@inbound.localhost" in content and REPLY_ADDRESS_PLACEHOLDER not in content
    # Without a reply address nothing is touched.
    untouched = email.message_from_bytes(render(data, sender=Identity("crm@example.com"), message_id="<m@x>",
                                                reply_to=None), policy=email.policy.default)
    assert REPLY_ADDRESS_PLACEHOLDER in [p for p in untouched.walk() if p.get_content_type() == "text/calendar"][0].get_content()
