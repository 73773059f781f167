"""Sending over a real SMTP relay (aiosmtpd on 127.0.0.1): MIME, encodings, attachments, DKIM,
retries and failures, Maildir, suppressions."""

from __future__ import annotations

import base64
import email
import email.policy
import mailbox
from email.header import decode_header, make_header
from pathlib import Path

import dkim
from send_helpers import drain, queue, worker
from sqlalchemy import select

import mail
from crm_core.context import tenant_context
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.smtp import SmtpSink
from mail.app import create_app
from mail.models import DkimKey, MailAttempt, Mailbox, MailMessage, Suppression, mail_queue, metadata
from mail.service import dkim as mail_dkim
from mail.service.suppressions import add_suppression

ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:1@x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def message(svc: ServiceHarness, tenant: object, mid: object) -> MailMessage:
    with tenant_context(tenant), svc.db.transaction() as session:  # type: ignore[arg-type]
        found = session.scalars(select(MailMessage).where(MailMessage.id == mid)).one()
        session.expunge(found)
        return found


def test_a_message_arrives_with_its_mime_encodings_attachments_and_envelope(relayed: ServiceHarness,
                                                                            sink: SmtpSink) -> None:
    tenant = relayed.tenant("a")
    mid = queue(relayed, tenant, to=[{"address": "jose@example.com", "name": "José Müller"}],
                cc=["cc@example.com"], bcc=["hidden@example.com"], subject="Réunion — ça marche ✓",
                text="Bonjour José", html="<p>Bonjour <b>José</b></p>", reply_token="tok-abcdefgh",
                headers={"List-Unsubscribe": "<https://example.com/u>"}, refers_to={"type": "ticket", "id": "T-1"},
                attachments=[{"filename": "invite.ics", "content_type": "text/calendar; method=REQUEST",
                              "content_base64": base64.b64encode(ICS.encode()).decode()},
                             {"filename": "r\u00e9sum\u00e9.pdf", "content_type": "application/pdf",
                              "content_base64": base64.b64encode(b"%PDF-1.4 bytes").decode()}])
    assert drain(worker(relayed)) == 1
    assert sink.wait_for(1)
    got = sink.messages[0]
    with tenant_context(tenant), relayed.db.transaction() as session:
        box = session.scalars(select(Mailbox)).one().name
    assert got.mail_from == f"{box}+b-{mid.hex}@inbound.localhost"
    assert sorted(got.rcpt_tos) == ["cc@example.com", "hidden@example.com", "jose@example.com"]
    raw = got.data
    assert raw.isascii()  # everything non-ASCII went out encoded
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "Réunion — ça marche ✓"
    assert parsed["To"].addresses[0].display_name == "José Müller"
    assert parsed["Bcc"] is None
    assert parsed["Message-ID"] == f"<{mid}@inbound.localhost>"
    assert parsed["Reply-To"] == f"{box}+t-tok-abcdefgh@inbound.localhost"
    assert parsed["Date"] is not None and parsed["List-Unsubscribe"] == "<https://example.com/u>"
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed.get_body(("plain",)).get_content().strip() == "Bonjour José"
    assert "<b>José</b>" in parsed.get_body(("html",)).get_content()
    parts = {p.get_filename(): p for p in parsed.iter_attachments()}
    assert parts["invite.ics"].get_content_type() == "text/calendar"
    assert parts["invite.ics"].get_param("method") == "REQUEST"
    assert "BEGIN:VEVENT" in parts["invite.ics"].get_content()
    assert parts["résumé.pdf"].get_content() == b"%PDF-1.4 bytes"
    sent = message(relayed, tenant, mid)
    assert (sent.status, sent.attempts, sent.last_smtp_code, sent.refers_to_id) == ("sent", 1, 250, "T-1")
    with tenant_context(tenant), relayed.db.transaction() as session:
        assert session.execute(select(mail_queue)).all() == []


def test_dkim_signatures_verify_against_the_published_record(relayed: ServiceHarness, sink: SmtpSink) -> None:
    tenant = relayed.tenant("a")
    with tenant_context(tenant), relayed.db.transaction() as session:
        key = mail_dkim.create_key(session, "example.com", "crm1")
        record = mail_dkim.dns_record(key)["value"]
        from mail.models import Sender
        session.add(Sender(address="sales@example.com", name="Ventes Ünited", verified_at=key.created_at, is_default=True))
    queue(relayed, tenant, to=["x@example.org"], subject="Signé ✓", html="<p>hi</p>")
    drain(worker(relayed))
    assert sink.wait_for(1)
    raw = sink.messages[0].data
    assert raw.startswith(b"DKIM-Signature:")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"crm1._domainkey.example.com."
        return record.encode()

    assert dkim.verify(raw, dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"Subject:", b"Subject: X"), dnsfunc=dns)
    with tenant_context(tenant), relayed.db.transaction() as session:
        assert session.scalars(select(DkimKey)).one().domain == "example.com"


def test_relay_down_defers_with_retries_then_sends_when_it_is_back(relayed: ServiceHarness, sink: SmtpSink) -> None:
    tenant = relayed.tenant("a")
    sink.stop()
    mid = queue(relayed, tenant, to=["a@example.com"])
    w = worker(relayed, max_attempts=5)
    assert w.deliver_due() == 1
    deferred = message(relayed, tenant, mid)
    assert deferred.status == "deferred" and deferred.attempts == 1 and "Connection" in (deferred.last_error or "")
    w.deliver_due()
    assert message(relayed, tenant, mid).attempts == 2
    sink.restart()
    w.deliver_due()
    assert sink.wait_for(1)
    done = message(relayed, tenant, mid)
    assert (done.status, done.attempts) == ("sent", 3)
    with tenant_context(tenant), relayed.db.transaction() as session:
        outcomes = [a.outcome for a in session.scalars(select(MailAttempt).order_by(MailAttempt.attempt))]
    assert outcomes == ["deferred", "deferred", "sent"]


def test_421_defers_550_fails_and_a_refused_recipient_is_recorded(relayed: ServiceHarness, sink: SmtpSink) -> None:
    tenant = relayed.tenant("a")
    sink.data_replies.append("421 4.3.2 Try again later")
    later = queue(relayed, tenant, to=["a@example.com"])
    w = worker(relayed)
    w.deliver_due()
    m = message(relayed, tenant, later)
    assert (m.status, m.last_smtp_code) == ("deferred", 421)
    w.deliver_due()
    assert message(relayed, tenant, later).status == "sent"

    sink.data_replies.append("550 5.7.1 Rejected by policy")
    failed = queue(relayed, tenant, to=["b@example.com"])
    w.deliver_due()
    m = message(relayed, tenant, failed)
    assert (m.status, m.last_smtp_code, m.attempts) == ("failed", 550, 1)
    assert w.deliver_due() == 0  # not retried

    sink.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    partly = queue(relayed, tenant, to=["gone@example.com", "here@example.com"], purpose="marketing")
    w.deliver_due()
    m = message(relayed, tenant, partly)
    assert m.status == "sent" and "gone@example.com" in (m.last_error or "")
    assert sink.messages[-1].rcpt_tos == ["here@example.com"]
    with tenant_context(tenant), relayed.db.transaction() as session:
        assert [(s.address, s.reason) for s in session.scalars(select(Suppression))] == [("gone@example.com", "hard_bounce")]


def test_recipients_deferred_by_a_4xx_are_retried_alone_after_the_others_were_taken(
        relayed: ServiceHarness, sink: SmtpSink) -> None:
    """The relay takes one recipient and answers 452 for another: the message is not done; the
    retry goes only to the deferred one, and when it is taken too the message is sent."""
    tenant = relayed.tenant("a")
    sink.rcpt_replies["full@example.com"] = "452 4.2.2 Mailbox full"
    mid = queue(relayed, tenant, to=["here@example.com", "full@example.com"])
    w = worker(relayed)
    w.deliver_due()
    m = message(relayed, tenant, mid)
    assert (m.status, m.delivered_to, m.attempts) == ("deferred", ["here@example.com"], 1)
    assert m.sent_at is not None and "full@example.com: 452" in (m.last_error or "")
    assert [r.rcpt_tos for r in sink.messages] == [["here@example.com"]]
    w.deliver_due()  # still full
    assert message(relayed, tenant, mid).status == "deferred"
    assert [r.rcpt_tos for r in sink.messages] == [["here@example.com"]]
    del sink.rcpt_replies["full@example.com"]
    w.deliver_due()  # the third and last attempt (CRM_MAIL_MAX_ATTEMPTS=3) reaches it
    m = message(relayed, tenant, mid)
    assert (m.status, m.attempts) == ("sent", 3)
    assert [r.rcpt_tos for r in sink.messages] == [["here@example.com"], ["full@example.com"]]


def test_attempts_running_out_after_a_partial_delivery_leave_the_message_sent(
        relayed: ServiceHarness, sink: SmtpSink) -> None:
    tenant = relayed.tenant("a")
    sink.rcpt_replies["full@example.com"] = "452 4.2.2 Mailbox full"
    mid = queue(relayed, tenant, to=["here@example.com", "full@example.com"])
    w = worker(relayed)
    for _ in range(3):
        w.deliver_due()
    m = message(relayed, tenant, mid)
    assert (m.status, m.attempts) == ("sent", 3) and "full@example.com: 452" in (m.last_error or "")
    assert w.deliver_due() == 0


def test_a_dropped_connection_defers_and_retries_run_out(relayed: ServiceHarness, sink: SmtpSink) -> None:
    tenant = relayed.tenant("a")
    sink.drop_next_data = 10
    mid = queue(relayed, tenant, to=["a@example.com"])
    w = worker(relayed)  # CRM_MAIL_MAX_ATTEMPTS=3
    for _ in range(3):
        w.deliver_due()
    m = message(relayed, tenant, mid)
    assert (m.status, m.attempts) == ("failed", 3)


def test_marketing_to_a_suppressed_address_is_never_sent_transactional_only_stops_on_hard_bounces(
        relayed: ServiceHarness, sink: SmtpSink) -> None:
    tenant = relayed.tenant("a")
    with tenant_context(tenant), relayed.db.transaction() as session:
        add_suppression(session, "Unsub@Example.com", "unsubscribe")
        add_suppression(session, "bounced@example.com", "hard_bounce")
    campaign = queue(relayed, tenant, to=["unsub@example.com"], purpose="marketing")
    reset = queue(relayed, tenant, to=["unsub@example.com"])
    dead = queue(relayed, tenant, to=["bounced@example.com"])
    drain(worker(relayed))
    assert sink.wait_for(1)
    assert message(relayed, tenant, campaign).status == "suppressed"
    assert message(relayed, tenant, reset).status == "sent"
    assert message(relayed, tenant, dead).status == "suppressed"
    assert len(sink.messages) == 1


def test_without_a_relay_messages_are_written_to_the_maildir(tmp_path: Path) -> None:
    svc = make_harness("mail", create_app, metadata(), migrations_dir(mail.__file__), tmp_path)
    tenant = svc.tenant("a")
    mid = queue(svc, tenant, to=["a@example.com"], subject="Dans la boîte")
    drain(worker(svc))
    box = tmp_path / "mail" / "sent"
    files = list((box / "new").glob("*.eml"))
    assert len(files) == 1 and mid.hex in files[0].name
    stored = list(mailbox.Maildir(box, create=False))
    assert len(stored) == 1 and str(make_header(decode_header(stored[0]["Subject"]))) == "Dans la boîte"
    assert stored[0]["Return-Path"] == f"<{mailbox_name(svc, tenant)}+b-{mid.hex}@inbound.localhost>"
    assert message(svc, tenant, mid).status == "sent"


def mailbox_name(svc: ServiceHarness, tenant: object) -> str:
    with tenant_context(tenant), svc.db.transaction() as session:  # type: ignore[arg-type]
        return session.scalars(select(Mailbox).where(Mailbox.tenant_id == tenant)).one().name


def test_rates_limit_what_a_round_claims_per_tenant_and_overall(relayed: ServiceHarness, sink: SmtpSink) -> None:
    a, b = relayed.tenant("a"), relayed.tenant("b")
    for _ in range(5):
        queue(relayed, a, to=["x@example.com"], purpose="marketing")
    queue(relayed, b, to=["y@example.com"])
    w = worker(relayed, tenant_rate_per_second=0.2)  # a bucket of 1, refilled every 5 s
    assert w.deliver_due() == 2  # one of A's, and B's
    assert w.deliver_due() == 0  # A's bucket is empty for now; nothing else is due
    overall = worker(relayed, rate_per_second=0.2)
    assert overall.deliver_due() == 1
    assert overall.deliver_due() == 0


def test_a_first_message_before_the_tenant_event_names_the_mailbox_from_its_hint(relayed: ServiceHarness,
                                                                                  sink: SmtpSink) -> None:
    """Signup's verification mail can be handled before crm.tenant.created: its mailbox_hint (the
    company's name) names the mailbox then, and a later hint renames nothing."""
    tenant = relayed.tenant("hinted")
    queue(relayed, tenant, source="gateway", to=["owner@example.com"], mailbox_hint="Hinted Works GmbH")
    queue(relayed, tenant, source="gateway", to=["owner@example.com"], mailbox_hint="Something Else")
    drain(worker(relayed))
    assert [r.mail_from.split("+b-")[0] for r in sink.messages] == ["hinted-works-gmbh", "hinted-works-gmbh"]
