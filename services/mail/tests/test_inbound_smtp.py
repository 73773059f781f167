"""Inbound mail over the wire: smtplib to the inbound SMTP server (aiosmtpd on 127.0.0.1), stored in
PostgreSQL (app role, RLS on), announced through the outbox on the real Kafka."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import uuid

import pytest
from inbound_fixtures import DOMAIN, Inbound, MailTopic
from inbound_helpers import as_bytes, plain, with_attachment

pytestmark = pytest.mark.integration


def _received(events: list[dict], tenant: uuid.UUID) -> list[dict]:
    return [e for e in events if e["type"] == "crm.mail.received" and e["tenant_id"] == str(tenant)]


def test_routed_parsed_and_announced(inbound: Inbound, mail_topic: MailTopic) -> None:
    box = inbound.mailbox("a", "Acme")
    tenant = inbound.svc.tenant("a")
    tags = {f"{box}@{DOMAIN}": (None, None), f"{box}+support@{DOMAIN}": ("support", None),
            f"{box}+log@{DOMAIN}": ("log", None), f"{box}+t-Tok3n_abcDEF@{DOMAIN}": ("t", "Tok3n_abcDEF")}
    subjects = {}
    for rcpt in tags:
        msg = with_attachment(f"Acme Support <{rcpt}>")
        del msg["Subject"]
        msg["Subject"] = subjects[rcpt] = f"Grüße, Zoë ✓ {uuid.uuid4().hex[:6]}"
        assert inbound.send(as_bytes(msg), [rcpt]) == {}
    inbound.svc.publish_outbox()
    events = mail_topic.read(lambda ev: len(_received(ev, tenant)) >= 4)
    by_recipient = {e["data"]["recipient"]: e for e in _received(events, tenant)}
    for rcpt, (tag, token) in tags.items():
        data = by_recipient[rcpt]["data"]
        assert (data["mailbox"], data["tag"], data["token"], data["kind"]) == (box, tag, token, "message")
        assert data["subject"] == subjects[rcpt] and data["from"] == {"address": "juergen@example.com",
                                                                       "name": "Jürgen Müller"}
        assert data["auto_submitted"] is False and data["truncated"] is False
        assert "<script" not in data["html"] and data["text"].strip() == "Text body"
        [att] = data["attachments"]
        assert (att["filename"], att["content_type"], att["size"]) == ("Angebot Zoë.pdf", "application/pdf", 13)
        assert by_recipient[rcpt]["subject"] == data["id"]
    # The API serves the same message, and its attachment's bytes.
    one = by_recipient[f"{box}+support@{DOMAIN}"]["data"]
    body = inbound.get("a", f"/v1/mail/inbound/{one['id']}")
    assert body["tag"] == "support" and body["subject"] == one["subject"]
    resp = inbound.get("a", f"/v1/mail/inbound/{one['id']}/attachments/{one['attachments'][0]['id']}")
    assert resp.data == b"%PDF-1.4 fake" and resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("attachment;")


def test_unknown_mailbox_and_foreign_domain_refused_at_rcpt(inbound: Inbound) -> None:
    inbound.mailbox("a", "Acme")
    with inbound.smtp() as client:
        client.mail("sender@example.com")
        code, reply = client.rcpt(f"nosuchbox@{DOMAIN}")
        assert (code, reply[:5]) == (550, b"5.1.1")
        code, reply = client.rcpt("someone@elsewhere.example")
        assert (code, reply[:5]) == (550, b"5.7.1")
        code, _ = client.rcpt(f"postmaster@{DOMAIN}")
        assert code == 550
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        inbound.send(as_bytes(plain(f"nosuchbox@{DOMAIN}")), [f"nosuchbox@{DOMAIN}"])


def test_oversize_refused_with_552(inbound: Inbound) -> None:
    box = inbound.mailbox("a", "Acme")
    big = as_bytes(plain(f"{box}@{DOMAIN}", body="x" * 70 + ("\n" + "y" * 70) * 1200))  # > 64 KiB
    with inbound.smtp() as client:
        assert client.has_extn("size") and int(client.esmtp_features["size"]) == inbound.settings.max_message_bytes
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:  # SIZE= in MAIL FROM
            client.sendmail("sender@example.com", [f"{box}@{DOMAIN}"], big)
        assert declared.value.smtp_code == 552 and declared.value.smtp_error.startswith(b"5.3.4")
    with inbound.smtp() as client:  # no SIZE declared: counted during DATA
        client.mail("sender@example.com")
        assert client.rcpt(f"{box}@{DOMAIN}")[0] == 250
        code, reply = client.data(big)
        assert (code, reply[:5]) == (552, b"5.3.4")


def test_auto_reply_marked(inbound: Inbound, mail_topic: MailTopic) -> None:
    box = inbound.mailbox("a", "Acme")
    tenant = inbound.svc.tenant("a")
    msg = plain(f"{box}+t-tokenAuto1@{DOMAIN}", subject="Out of office: Re: your ticket",
                Auto_Submitted="auto-replied", In_Reply_To=f"<{uuid.uuid4()}@{DOMAIN}>")
    inbound.send(as_bytes(msg), [f"{box}+t-tokenAuto1@{DOMAIN}"])
    inbound.svc.publish_outbox()
    [event] = _received(mail_topic.read(lambda ev: bool(_received(ev, tenant))), tenant)
    assert (event["data"]["kind"], event["data"]["auto_submitted"], event["data"]["token"]) == (
        "auto_reply", True, "tokenAuto1")


def test_malformed_mime_is_stored(inbound: Inbound) -> None:
    box = inbound.mailbox("a", "Acme")
    marker = uuid.uuid4().hex[:8]
    raw = (b"From: <<<@@>>>\r\nSubject: broken-" + marker.encode() + b" =?x-unknown?B?SGVsbG8=?=\r\nDate: someday\r\n"
           b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=x-bogus\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n!!not base64\xff\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hi")
    reply = inbound.send(raw, [f"{box}@{DOMAIN}"])
    assert reply == {}
    listed = inbound.get("a", "/v1/mail/inbound?limit=200")["data"]
    [stored] = [m for m in listed if marker in (m["subject"] or "")]
    detail = inbound.get("a", f"/v1/mail/inbound/{stored['id']}")
    assert detail["date"] is None and detail["from"]["address"] is None
    assert detail["html"] == "<p>hi</p>" or "hi" in (detail["html"] or "")


def test_a_message_lands_only_in_the_tenants_it_was_addressed_to(inbound: Inbound) -> None:
    a, b = inbound.mailbox("a", "Acme"), inbound.mailbox("b", "Bolt")
    # A's mailbox in RCPT, B's only in the Cc header: only A gets it.
    only_a = plain(f"{a}@{DOMAIN}", cc=f"{b}@{DOMAIN}", subject=f"only-a-{uuid.uuid4().hex[:6]}")
    inbound.send(as_bytes(only_a), [f"{a}@{DOMAIN}"])
    # Both mailboxes in RCPT: each its own copy.
    both = plain(f"{a}@{DOMAIN}, {b}@{DOMAIN}", subject=f"both-{uuid.uuid4().hex[:6]}")
    inbound.send(as_bytes(both), [f"{a}@{DOMAIN}", f"{b}@{DOMAIN}"])
    subjects_a = {m["subject"]: m for m in inbound.get("a", "/v1/mail/inbound?limit=200")["data"]}
    subjects_b = {m["subject"]: m for m in inbound.get("b", "/v1/mail/inbound?limit=200")["data"]}
    assert only_a["Subject"] in subjects_a and only_a["Subject"] not in subjects_b
    assert both["Subject"] in subjects_a and both["Subject"] in subjects_b
    copy_a, copy_b = subjects_a[both["Subject"]], subjects_b[both["Subject"]]
    assert copy_a["id"] != copy_b["id"] and (copy_a["mailbox"], copy_b["mailbox"]) == (a, b)
    # Neither tenant can read the other's copy (404, like an unknown id).
    inbound.get("b", f"/v1/mail/inbound/{copy_a['id']}", 404)
    inbound.get("a", f"/v1/mail/inbound/{copy_b['id']}", 404)


def test_the_smtp_command_serves_and_stops(inbound: Inbound) -> None:
    """`python -m mail smtp` as deployed: its own process, the settings from the environment."""
    box = inbound.mailbox("a", "Acme")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CRM_DATABASE_URL": inbound.svc.settings.database_url, "CRM_INBOUND_SMTP_HOST": "127.0.0.1",
           "CRM_INBOUND_SMTP_PORT": str(port), "CRM_INBOUND_DOMAIN": DOMAIN, "CRM_METRICS_PORT": "0",
           "CRM_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "mail", "smtp"], env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert b"inbound SMTP listening" in proc.stdout.readline()
        subject = f"via-command-{uuid.uuid4().hex[:6]}"
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("x@example.com", [f"{box}@{DOMAIN}"], as_bytes(plain(f"{box}@{DOMAIN}", subject=subject)))
        assert any(m["subject"] == subject for m in inbound.get("a", "/v1/mail/inbound?limit=200")["data"])
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
