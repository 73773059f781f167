"""Parsing and classification of inbound mail (unit: no servers), and the mailbox names."""

from __future__ import annotations

import uuid

import pytest
from inbound_helpers import arf, as_bytes, dsn, plain, with_attachment

from mail.service import bounces, mailboxes
from mail.service.parsing import parse

DOMAIN = "inbound.localhost"


def test_headers_decoded_and_bodies_read() -> None:
    raw = as_bytes(with_attachment("Acme <acme+support@inbound.localhost>"))
    parsed = parse(raw, envelope_from="juergen@example.com", own_domain=DOMAIN)
    assert parsed.subject == "Angebot für Zoë ✓"
    assert parsed.from_ == {"address": "juergen@example.com", "name": "Jürgen Müller"}
    assert parsed.to == [{"address": "acme+support@inbound.localhost", "name": "Acme"}]
    assert parsed.text.strip() == "Text body"
    assert parsed.date is not None and parsed.date.year == 2026
    assert parsed.kind == "message" and not parsed.auto_submitted
    [pdf] = parsed.attachments
    assert (pdf.filename, pdf.content_type, pdf.data, pdf.inline) == ("Angebot Zoë.pdf", "application/pdf",
                                                                      b"%PDF-1.4 fake", False)


def test_html_sanitised() -> None:
    parsed = parse(as_bytes(with_attachment("acme@inbound.localhost")), own_domain=DOMAIN)
    html = parsed.html
    assert "<b>there</b>" in html and 'href="https://ok.example/"' in html and 'src="cid:logo1"' in html
    for bad in ("<script", "alert(1)", "onclick", "javascript:"):
        assert bad not in html


def test_threading_headers() -> None:
    msg = plain("acme@inbound.localhost", In_Reply_To="<a1@inbound.localhost>",
                References="<r0@x.example> <a1@inbound.localhost>")
    parsed = parse(as_bytes(msg), own_domain=DOMAIN)
    assert parsed.in_reply_to == "<a1@inbound.localhost>"
    assert parsed.references == ["<r0@x.example>", "<a1@inbound.localhost>"]
    assert parsed.kind == "message"  # a customer's reply to one of ours is no loop


@pytest.mark.parametrize(("headers", "envelope_from", "subject"), [
    ({"Auto_Submitted": "auto-replied"}, "x@example.com", "Re: hi"),
    ({"Precedence": "bulk"}, "x@example.com", "News"),
    ({"X_Autoreply": "yes"}, "x@example.com", "Hi"),
    ({}, "", "Hi"),
    ({}, "x@example.com", "Automatic reply: Re: your ticket"),
])
def test_auto_replies(headers: dict[str, str], envelope_from: str, subject: str) -> None:
    parsed = parse(as_bytes(plain("acme@inbound.localhost", subject=subject, **headers)),
                   envelope_from=envelope_from, own_domain=DOMAIN)
    assert (parsed.kind, parsed.auto_submitted) == ("auto_reply", True)


def test_auto_submitted_no_is_a_message() -> None:
    parsed = parse(as_bytes(plain("acme@inbound.localhost", Auto_Submitted="no")), envelope_from="x@example.com")
    assert parsed.kind == "message"


def test_loops() -> None:
    ours = parse(as_bytes(plain("acme@inbound.localhost", message_id=f"<{uuid.uuid4()}@{DOMAIN}>")),
                 envelope_from="x@example.com", own_domain=DOMAIN)
    stamped = parse(as_bytes(plain("acme@inbound.localhost", X_CRM_Loop="acme")), envelope_from="x@example.com",
                    own_domain=DOMAIN)
    assert ours.kind == stamped.kind == "loop" and ours.auto_submitted


def test_reports() -> None:
    bounce = parse(dsn("acme+b-00@inbound.localhost", failed="Nobody@Example.net", original_message_id="<m1@x>"),
                   envelope_from="", own_domain=DOMAIN)
    assert bounce.kind == "bounce" and bounce.auto_submitted
    report = bounces.read_report(bounce, b"")
    assert report.failures == [bounces.Failure("nobody@example.net", True, "5.1.1",
                                               "550 5.1.1 <nobody@example.net>: Recipient address rejected")]
    assert report.original is not None and report.original["Message-ID"] == "<m1@x>"
    delayed = parse(dsn("acme@inbound.localhost", failed="a@example.net", original_message_id="<m1@x>",
                        status="4.4.1", action="delayed"), own_domain=DOMAIN)
    assert bounces.read_report(delayed, b"").permanent == []
    complaint = parse(arf("acme@inbound.localhost", complainant="eve@example.org", original_message_id="<m2@x>"))
    assert complaint.kind == "complaint"
    assert bounces.read_report(complaint, b"").complainant == ["eve@example.org"]


@pytest.mark.parametrize("raw", [
    b"",
    b"garbage without headers",
    b"Subject: =?x-unknown?B?SGVsbG8=?=\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nHi \xff\xfe\r\n",
    b"From: <<<@@>>>\r\nTo: ,,,\r\nDate: yesterday\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    b"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64\r\n",
    b"Subject: nul\x00here\r\nMessage-ID: <\x00@x>\r\n\r\nbody \x00 with NUL\r\n",
])
def test_malformed_never_raises(raw: bytes) -> None:
    parsed = parse(raw, envelope_from="x@example.com", own_domain=DOMAIN)
    for value in (parsed.subject, parsed.text, parsed.html, parsed.message_id):
        assert value is None or "\x00" not in value
    assert parsed.size == len(raw)


def test_mailbox_names() -> None:
    assert mailboxes.slug("Acme GmbH & Co. KG") == "acme-gmbh-co-kg"
    assert mailboxes.slug("Zoë's Café") == "zoe-s-cafe"
    assert mailboxes.slug("Support") == "support-team"  # reserved
    assert mailboxes.slug("X") == "x-team"
    assert mailboxes.slug("日本") == "team"
    assert len(mailboxes.slug("a" * 100)) <= mailboxes.MAX_LENGTH
    for bad in ("ab", "postmaster", "Acme", "a--b", "-ab", "a b", "a" * 41):
        assert mailboxes.name_problem(bad) is not None, bad
    assert mailboxes.name_problem("acme-2") is None


def test_addresses_parsed() -> None:
    assert mailboxes.split_address("Acme+Support@Inbound.Localhost", DOMAIN) == (
        mailboxes.Address("acme", "support", None), True)
    assert mailboxes.split_address("acme+t-AbC_12345@inbound.localhost", DOMAIN) == (
        mailboxes.Address("acme", "t", "AbC_12345"), True)
    assert mailboxes.split_address("acme+b-0123abcd@inbound.localhost", DOMAIN)[0].tag == "b"
    assert mailboxes.split_address("acme@elsewhere.example", DOMAIN) == (None, False)


def test_raw_8bit_headers_decoded() -> None:
    utf8 = parse(b"From: Z\xc3\xb6e <z@x.example>\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\n\r\nx")
    latin1 = parse(b"From: J\xfcrgen <j@x.example>\r\nSubject: Gr\xfc\xdfe\r\n\r\nx")
    assert (utf8.subject, utf8.from_["name"]) == ("Grüße", "Zöe")
    assert (latin1.subject, latin1.from_["name"]) == ("Grüße", "Jürgen")
