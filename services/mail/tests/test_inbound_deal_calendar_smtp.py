"""On the real inbound SMTP server (PostgreSQL, Kafka): mail to A's <mailbox>+deal-<n>@ is A's
logged mail for deal n (never B's, whose mailbox differs), and a calendar reply to +t-<token>@
carries its calendar part in crm.mail.received."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import Any

import pytest
from inbound_fixtures import DOMAIN, Inbound, MailTopic

pytestmark = pytest.mark.integration
REPLY = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:m1@crm\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def _received(events: list[dict[str, Any]], tenant: uuid.UUID) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "crm.mail.received" and e["tenant_id"] == str(tenant)]


def test_deal_mail_and_calendar_replies_announced(inbound: Inbound, mail_topic: MailTopic) -> None:
    box_a, box_b = inbound.mailbox("a", "Acme"), inbound.mailbox("b", "Bolt")
    ta, tb = inbound.svc.tenant("a"), inbound.svc.tenant("b")
    marker = uuid.uuid4().hex[:8]
    deal = EmailMessage()
    deal["From"], deal["To"], deal["Subject"] = "me@ourco.example", f"{box_a}+deal-42@{DOMAIN}", f"Proposal {marker}"
    deal.set_content("See attached.")
    assert inbound.send(deal.as_bytes(), [f"{box_a}+deal-42@{DOMAIN}"]) == {}
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = "bea@example.com", f"{box_b}+t-Tok3n_{marker}@{DOMAIN}", f"Accepted {marker}"
    reply.set_content("Bea has accepted.")
    reply.add_alternative(REPLY, subtype="calendar", params={"method": "REPLY"})
    assert inbound.send(reply.as_bytes(), [f"{box_b}+t-Tok3n_{marker}@{DOMAIN}"]) == {}
    inbound.svc.publish_outbox()
    events = mail_topic.read(lambda ev: any(marker in (e["data"]["subject"] or "") for e in _received(ev, ta))
                             and any(marker in (e["data"]["subject"] or "") for e in _received(ev, tb)))
    [to_deal] = [e["data"] for e in _received(events, ta) if marker in (e["data"]["subject"] or "")]
    assert (to_deal["tag"], to_deal["token"], to_deal["deal_number"], to_deal["calendar"]) == ("deal", "42", 42, None)
    assert to_deal["recipient"] == f"{box_a}+deal-42@{DOMAIN}"
    [answer] = [e["data"] for e in _received(events, tb) if marker in (e["data"]["subject"] or "")]
    assert (answer["tag"], answer["deal_number"]) == ("t", None)
    assert answer["calendar"].replace("\r\n", "\n") == REPLY.replace("\r\n", "\n")
    assert not [e for e in _received(events, tb) if e["data"]["deal_number"] is not None]
