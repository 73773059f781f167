"""Delivery status notifications and complaints over the inbound SMTP server: a permanent DSN
marks our message bounced, suppresses the address and announces crm.mail.bounced; a delay changes
nothing; a report can never touch another tenant's message nor an address the message never had."""

from __future__ import annotations

import uuid

import pytest
from inbound_fixtures import DOMAIN, Inbound, MailTopic
from inbound_helpers import arf, dsn
from sqlalchemy import select

from crm_core.context import tenant_context
from crm_core.ids import uuid7
from mail.models import InboundMessage, MailMessage, Suppression

pytestmark = pytest.mark.integration


def _message(inbound: Inbound, tenant: str, to: str) -> MailMessage:
    """A message the sending side sent (made directly: the send path is not part of this branch)."""
    mid = uuid7()
    with tenant_context(inbound.svc.tenant(tenant)), inbound.svc.db.transaction() as session:
        row = MailMessage(id=mid, purpose="transactional", status="sent", from_address=f"no-reply@{DOMAIN}",
                          to=[{"address": to}], cc=[], bcc=[], subject="Your invoice", size=10, attempts=1,
                          message_id_header=f"<{mid}@{DOMAIN}>")
        session.add(row)
    return row


def _state(inbound: Inbound, tenant: str, message_id: uuid.UUID) -> tuple[MailMessage | None, list[Suppression]]:
    with tenant_context(inbound.svc.tenant(tenant)), inbound.svc.db.transaction() as session:
        message = session.scalars(select(MailMessage).where(MailMessage.id == message_id)).first()
        suppressions = list(session.scalars(select(Suppression)))
        return message, suppressions


def _inbound(inbound: Inbound, tenant: str, reports_on: uuid.UUID) -> list[InboundMessage]:
    with tenant_context(inbound.svc.tenant(tenant)), inbound.svc.db.transaction() as session:
        return list(session.scalars(select(InboundMessage).where(InboundMessage.reports_on_id == reports_on)))


def test_permanent_dsn_by_verp_bounces_and_suppresses(inbound: Inbound, mail_topic: MailTopic) -> None:
    box = inbound.mailbox("a", "Acme")
    to = f"gone-{uuid.uuid4().hex[:6]}@example.net"
    sent = _message(inbound, "a", to)
    raw = dsn(f"{box}+b-{sent.id.hex}@{DOMAIN}", failed=to.upper(), original_message_id="<not-ours@x>")
    assert inbound.send(raw, [f"{box}+b-{sent.id.hex}@{DOMAIN}"], mail_from="") == {}
    message, suppressions = _state(inbound, "a", sent.id)
    assert message.status == "bounced" and message.bounced_at is not None
    assert "550 5.1.1" in message.last_error
    [entry] = [s for s in suppressions if s.address == to]
    assert (entry.reason, entry.source_message_id) == ("hard_bounce", sent.id)
    [stored] = _inbound(inbound, "a", sent.id)
    assert (stored.kind, stored.auto_submitted, stored.tag) == ("bounce", True, "b")
    inbound.svc.publish_outbox()
    events = mail_topic.read(lambda ev: any(e["type"] == "crm.mail.bounced" for e in ev))
    [bounced] = [e for e in events if e["type"] == "crm.mail.bounced"]
    assert bounced["subject"] == str(sent.id) and bounced["data"]["status"] == "bounced"
    assert bounced["tenant_id"] == str(inbound.svc.tenant("a"))
    received = [e for e in events if e["type"] == "crm.mail.received"]
    assert received and received[0]["data"]["kind"] == "bounce"


def test_permanent_dsn_by_message_id(inbound: Inbound) -> None:
    box = inbound.mailbox("a", "Acme")
    to = f"gone-{uuid.uuid4().hex[:6]}@example.net"
    sent = _message(inbound, "a", to)
    inbound.send(dsn(f"{box}@{DOMAIN}", failed=to, original_message_id=sent.message_id_header),
                 [f"{box}@{DOMAIN}"], mail_from="")
    message, suppressions = _state(inbound, "a", sent.id)
    assert message.status == "bounced" and any(s.address == to for s in suppressions)


def test_transient_dsn_changes_nothing(inbound: Inbound) -> None:
    box = inbound.mailbox("a", "Acme")
    to = f"slow-{uuid.uuid4().hex[:6]}@example.net"
    sent = _message(inbound, "a", to)
    inbound.send(dsn(f"{box}+b-{sent.id.hex}@{DOMAIN}", failed=to, original_message_id=sent.message_id_header,
                     status="4.4.7", action="delayed", diagnostic="smtp; 451 4.4.7 try later"),
                 [f"{box}+b-{sent.id.hex}@{DOMAIN}"], mail_from="")
    message, suppressions = _state(inbound, "a", sent.id)
    assert message.status == "sent" and message.bounced_at is None
    assert not any(s.address == to for s in suppressions)
    [stored] = _inbound(inbound, "a", sent.id)
    assert stored.kind == "bounce"


def test_a_dsn_never_touches_another_tenants_message(inbound: Inbound) -> None:
    inbound.mailbox("a", "Acme")
    box_b = inbound.mailbox("b", "Bolt")
    to = f"victim-{uuid.uuid4().hex[:6]}@example.net"
    sent_a = _message(inbound, "a", to)
    # B's mailbox gets a DSN naming A's message by VERP id and by Message-ID.
    raw = dsn(f"{box_b}+b-{sent_a.id.hex}@{DOMAIN}", failed=to, original_message_id=sent_a.message_id_header)
    inbound.send(raw, [f"{box_b}+b-{sent_a.id.hex}@{DOMAIN}"], mail_from="")
    message, suppressions_a = _state(inbound, "a", sent_a.id)
    _, suppressions_b = _state(inbound, "b", sent_a.id)
    assert message.status == "sent"
    assert not any(s.address == to for s in [*suppressions_a, *suppressions_b])
    assert _inbound(inbound, "b", sent_a.id) == []


def test_a_forged_dsn_cannot_suppress_an_address_the_message_never_had(inbound: Inbound) -> None:
    box = inbound.mailbox("a", "Acme")
    sent = _message(inbound, "a", f"real-{uuid.uuid4().hex[:6]}@example.net")
    other = f"customer-{uuid.uuid4().hex[:6]}@example.org"
    inbound.send(dsn(f"{box}+b-{sent.id.hex}@{DOMAIN}", failed=other, original_message_id=sent.message_id_header),
                 [f"{box}+b-{sent.id.hex}@{DOMAIN}"], mail_from="")
    message, suppressions = _state(inbound, "a", sent.id)
    assert message.status == "sent" and not any(s.address == other for s in suppressions)


def test_complaint_suppresses(inbound: Inbound) -> None:
    box = inbound.mailbox("a", "Acme")
    to = f"angry-{uuid.uuid4().hex[:6]}@example.org"
    sent = _message(inbound, "a", to)
    inbound.send(arf(f"{box}@{DOMAIN}", complainant=to, original_message_id=sent.message_id_header),
                 [f"{box}@{DOMAIN}"], mail_from="fbl@isp.example")
    message, suppressions = _state(inbound, "a", sent.id)
    [entry] = [s for s in suppressions if s.address == to]
    assert entry.reason == "complaint" and message.status == "sent"
    [stored] = _inbound(inbound, "a", sent.id)
    assert (stored.kind, stored.auto_submitted) == ("complaint", True)
