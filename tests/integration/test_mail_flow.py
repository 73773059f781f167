"""Mail end to end on the whole platform (PostgreSQL, Kafka, every worker a process): signup
verification mailed over real SMTP to an aiosmtpd relay and followed through the gateway; a
sender verified by its link on the open path; mail in over SMTP (the `smtp` server) logged on a
contact's timeline, threaded, or kept as unmatched; a DSN to the VERP address bouncing the
original and suppressing the address; the raw-MIME webhook through the gateway; and tenant B
seeing none of it.
"""

from __future__ import annotations

import email
import email.utils
import re
import smtplib
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from crm_testing.platform import Platform, start_platform, wait_for, wait_for_json
from crm_testing.smtp import Received, SmtpSink

pytestmark = pytest.mark.integration

LINK = re.compile(r"https?://[^\s\"<>]+")
DOMAIN = "inbound.localhost"  # CRM_INBOUND_DOMAIN's default


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str,
             sink: SmtpSink) -> Iterator[Platform]:
    mail = {"CRM_SMTP_URL": sink.url, "CRM_MAIL_RETRY_BASE_SECONDS": "0", "CRM_MAIL_SMTP_TIMEOUT_SECONDS": "5"}
    p = start_platform(Path(tmp_path_factory.mktemp("mailflow")), pg_admin_url=pg_admin_url,
                       kafka_bootstrap=kafka_bootstrap, service_extra={"mail": mail})
    try:
        p.start_workers()
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def inbound_smtp(platform: Platform) -> tuple[str, int]:
    return platform.start_inbound_smtp()


def _arrived(sink: SmtpSink, to: str, timeout: float = 60.0, subject: str = "") -> tuple[Received, EmailMessage]:
    """The first message the relay received for `to` (whose Subject contains `subject`)."""
    def find() -> tuple[Received, EmailMessage] | None:
        for r in list(sink.messages):
            msg = email.message_from_bytes(r.data, policy=default)
            if to.lower() in [a.lower() for a in r.rcpt_tos] and subject in str(msg["Subject"]):
                return r, msg  # type: ignore[return-value]
        return None

    return wait_for(find, timeout=timeout, what=f"mail to {to} at the relay")


def _confirm_in_browser(platform: Platform, link: str) -> str:
    """What a person does: open the link, press the page's button (a form POST of its token)."""
    page = platform.http.request("GET", link, headers={"Accept": "text/html"}, retries=False)
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html"), page.data
    html_text = page.data.decode()
    action = re.search(r'action="([^"]+)"', html_text).group(1)
    token = re.search(r'name="?token"? value="([^"]+)"', html_text).group(1)
    done = platform.http.request("POST", platform.gateway_url + action, fields={"token": token},
                                 encode_multipart=False, headers={"Accept": "text/html"}, retries=False)
    assert done.status == 200, done.data
    return done.data.decode()


def _link(msg: EmailMessage) -> str:
    text = msg.get_body(preferencelist=("plain",))
    assert text is not None, msg
    return LINK.findall(text.get_content())[0]


def _send(address: tuple[str, int], msg: EmailMessage | bytes, sender: str, to: str) -> None:
    raw = msg if isinstance(msg, bytes) else msg.as_bytes(policy=SMTP_POLICY)
    with smtplib.SMTP(*address, timeout=10) as client:
        refused = client.sendmail(sender, [to], raw)
    assert refused == {}, refused


def _message(sender: str, to: str, subject: str, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def _dsn(to: str, failed: str, original_message_id: str) -> bytes:
    """A permanent-failure delivery status notification (RFC 3464), as a receiving MTA writes it."""
    b = "dsn-flow"
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: {to}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{uuid.uuid4().hex}@mx.example.net>\r\n"
        f"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{b}"\r\n\r\n'
        f"--{b}\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--{b}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: Recipient address rejected\r\n\r\n"
        f"--{b}\r\nContent-Type: text/rfc822-headers\r\n\r\nTo: {failed}\r\nSubject: Invitation\r\n"
        f"Message-ID: {original_message_id}\r\n\r\n--{b}--\r\n"
    ).encode()


def _get(platform: Platform, path: str, token: str, status: int = 200) -> Any:
    resp = platform.request("GET", path, token=token)
    assert resp.status == status, (path, resp.status, resp.data[:400])
    return resp.json() if resp.data and status == 200 else None


@pytest.fixture(scope="module")
def a(platform: Platform) -> dict[str, Any]:
    """Tenant A: signed up (the verification mail is what test (a) follows); `seen` collects its ids."""
    return {**platform.signup("Flow A"), "seen": set()}


@pytest.fixture(scope="module")
def b(platform: Platform) -> dict[str, Any]:
    return platform.signup("Flow B")


def test_signup_verification_mail_and_link(platform: Platform, sink: SmtpSink, a: dict[str, Any]) -> None:
    token, user_id = a["access_token"], a["user"]["id"]
    assert _get(platform, "/v1/me", token)["user"]["email_verified"] is False
    received, msg = _arrived(sink, a["email"])
    assert email.utils.parseaddr(str(msg["From"]))[1] == f"no-reply@{DOMAIN}"
    assert [addr for _, addr in email.utils.getaddresses([str(msg["To"])])] == [a["email"]]
    assert str(msg["Subject"]) == "Verify your email for Flow A"
    assert re.fullmatch(rf"<[0-9a-f-]{{36}}@{re.escape(DOMAIN)}>", str(msg["Message-ID"])), msg["Message-ID"]
    assert re.fullmatch(rf"[a-z0-9-]+\+b-[0-9a-f]{{32}}@{re.escape(DOMAIN)}", received.mail_from), received.mail_from
    link = _link(msg)
    assert link.startswith(platform.gateway_url + "/verify-email?token="), link  # the console's screen
    # The API's own page for the same token (what links sent before the console screen open):
    # opening it (or a mail scanner opening it) only asks to confirm; the page's button verifies.
    link = link.replace("/verify-email?", "/v1/auth/verify-email?", 1)
    opened = platform.http.request("GET", link, headers={"Accept": "application/json"}, retries=False)
    assert opened.status == 200 and opened.json()["email_verified"] is False, opened.data
    confirmed = _confirm_in_browser(platform, link)
    assert "Email verified" in confirmed
    assert _get(platform, "/v1/me", token)["user"]["email_verified"] is True

    listed = wait_for_json(platform, f"/v1/mail/messages?refers_to_type=user&refers_to_id={user_id}", token,
                           lambda body: body["data"] and body["data"][0]["status"] == "sent")["data"]
    assert len(listed) == 1 and listed[0]["message_id_header"] == str(msg["Message-ID"])
    assert listed[0]["attempts"] == 1 and listed[0]["last_smtp_code"] == 250 and listed[0]["purpose"] == "transactional"
    detail = _get(platform, f"/v1/mail/messages/{listed[0]['id']}", token)
    assert [(x["attempt"], x["outcome"], x["smtp_code"]) for x in detail["attempt_log"]] == [(1, "sent", 250)]
    a["seen"].add(listed[0]["id"])


def test_sender_verified_by_its_link_on_the_open_path(platform: Platform, sink: SmtpSink, a: dict[str, Any]) -> None:
    token = a["access_token"]
    address = f"sales-{uuid.uuid4().hex[:8]}@example.com"
    created = platform.request("POST", "/v1/mail/senders", {"address": address, "name": "Sales Team"}, token=token)
    assert created.status == 201, created.data
    sender = created.json()
    assert sender["verified"] is False
    _, msg = _arrived(sink, address)
    link = _link(msg)
    assert link.startswith(platform.gateway_url + "/v1/mail/verify/sender?token="), link
    opened = platform.http.request("GET", link, headers={"Accept": "application/json"}, retries=False)  # no credential
    assert opened.status == 200 and opened.json()["verified"] is False, opened.data  # a GET never verifies
    assert _get(platform, f"/v1/mail/senders/{sender['id']}", token)["verified"] is False
    assert "confirmed" in _confirm_in_browser(platform, link)
    assert _get(platform, f"/v1/mail/senders/{sender['id']}", token)["verified"] is True
    again = platform.http.request("GET", link, headers={"Accept": "application/json"}, retries=False)
    assert again.status == 404  # a link works once
    a["seen"].add(sender["id"])


def test_inbound_smtp_logs_on_the_contact_timeline(platform: Platform, inbound_smtp: tuple[str, int],
                                                   a: dict[str, Any]) -> None:
    token = a["access_token"]
    addresses = _get(platform, "/v1/mail/addresses", token)
    log_address = addresses["addresses"]["log"]
    assert log_address == f"{addresses['mailbox']}+log@{DOMAIN}"
    customer = f"x-{uuid.uuid4().hex[:8]}@example.com"
    contact = platform.request("POST", "/v1/contacts", {"first_name": "Xavier", "email": customer}, token=token).json()

    first = _message(f"Xavier <{customer}>", "sales@acme.example", "Quote for Zoë", "Can we talk?", Bcc=log_address)
    _send(inbound_smtp, first, customer, log_address)
    activities = f"/v1/contacts/{contact['id']}/activities"
    emails = wait_for_json(platform, activities, token, lambda body: [x for x in body["data"] if x["type"] == "email"],
                           timeout=20)["data"]
    logged = next(x for x in emails if x["type"] == "email")
    assert logged["message_id"] == str(first["Message-ID"]) and logged["thread_id"], logged
    listed = wait_for_json(platform, "/v1/mail/inbound?tag=log", token,
                           lambda body: any(m["message_id"] == str(first["Message-ID"]) for m in body["data"]))["data"]
    stored = next(m for m in listed if m["message_id"] == str(first["Message-ID"]))
    assert stored["from"]["address"] == customer and stored["subject"] == "Quote for Zoë" and stored["kind"] == "message"

    reply = _message(f"Xavier <{customer}>", "sales@acme.example", "Re: Quote for Zoë", "Tuesday?",
                     In_Reply_To=str(first["Message-ID"]), References=str(first["Message-ID"]))
    _send(inbound_smtp, reply, customer, log_address)
    thread = wait_for_json(platform, f"{activities}?thread_id={logged['thread_id']}", token,
                           lambda body: len(body["data"]) == 2, timeout=20)["data"]
    assert {x["message_id"] for x in thread} == {str(first["Message-ID"]), str(reply["Message-ID"])}

    stranger = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
    unknown = _message(stranger, "sales@acme.example", "Who is this", "Hello")
    _send(inbound_smtp, unknown, stranger, log_address)
    unmatched = wait_for_json(platform, "/v1/logged-emails?status=unmatched", token,
                              lambda body: any(e["message_id"] == str(unknown["Message-ID"]) for e in body["data"]),
                              timeout=20)["data"]
    row = next(e for e in unmatched if e["message_id"] == str(unknown["Message-ID"]))
    assert row["from"]["address"] == stranger and row["contact_ids"] == []
    a["seen"] |= {stored["id"], logged["id"], row["id"]}

    with smtplib.SMTP(*inbound_smtp, timeout=10) as client:  # an unknown mailbox: refused at RCPT
        client.ehlo()
        client.mail(customer)
        assert client.rcpt(f"no-such-box-{uuid.uuid4().hex[:6]}@{DOMAIN}")[0] == 550


def test_dsn_to_the_verp_address_bounces_and_suppresses(platform: Platform, sink: SmtpSink,
                                                        inbound_smtp: tuple[str, int], a: dict[str, Any]) -> None:
    token = a["access_token"]
    gone = f"gone-{uuid.uuid4().hex[:8]}@example.net"
    invited = platform.request("POST", "/v1/users", {"email": gone, "name": "Gone", "role": "member"}, token=token)
    assert invited.status == 201, invited.data
    received, original = _arrived(sink, gone)
    message = wait_for_json(platform, f"/v1/mail/messages?refers_to_type=user&refers_to_id={invited.json()['id']}",
                            token, lambda body: body["data"] and body["data"][0]["status"] == "sent")["data"][0]
    assert message["message_id_header"] == str(original["Message-ID"])
    verp = received.mail_from
    assert verp.endswith(f"+b-{uuid.UUID(message['id']).hex}@{DOMAIN}"), verp

    _send(inbound_smtp, _dsn(verp, gone, str(original["Message-ID"])), "", verp)
    bounced = wait_for_json(platform, f"/v1/mail/messages/{message['id']}", token,
                            lambda body: body["status"] == "bounced", timeout=20)
    assert bounced["bounced_at"]
    suppressions = _get(platform, f"/v1/mail/suppressions?address={gone}", token)["data"]
    assert [(s["address"], s["reason"], s["source_message_id"]) for s in suppressions] == [
        (gone, "hard_bounce", message["id"])], suppressions
    dsn = wait_for_json(platform, "/v1/mail/inbound?kind=bounce", token, lambda body: body["data"])["data"][0]
    assert dsn["reports_on"] == message["id"]
    a["seen"] |= {message["id"], suppressions[0]["id"], dsn["id"]}


def test_raw_mime_webhook_through_the_gateway(platform: Platform, a: dict[str, Any], b: dict[str, Any]) -> None:
    token = a["access_token"]
    rotated = platform.request("POST", "/v1/mail/addresses/inbound-secret", token=token)
    assert rotated.status == 201, rotated.data
    secret = rotated.json()["secret"]
    assert rotated.json()["url"] == f"{platform.gateway_url}/inbound/mime/{secret}"
    mailbox = _get(platform, "/v1/mail/addresses", token)["mailbox"]
    msg = _message("Partner <partner@example.com>", f"{mailbox}+support@{DOMAIN}", "Webhook hello", "Via the provider")
    msg.add_attachment(b"%PDF-1.4 flow", maintype="application", subtype="pdf", filename="terms.pdf")
    raw = msg.as_bytes(policy=SMTP_POLICY)
    url = f"{platform.gateway_url}/inbound/mime/{secret}"
    posted = platform.http.request("POST", url, body=raw, headers={"Content-Type": "message/rfc822"}, retries=False)
    assert posted.status == 202, posted.data
    assert posted.json()["mailbox"] == mailbox and posted.json()["tag"] == "support"
    inbound_id = posted.json()["id"]
    stored = _get(platform, f"/v1/mail/inbound/{inbound_id}", token)
    assert stored["subject"] == "Webhook hello" and [x["filename"] for x in stored["attachments"]] == ["terms.pdf"]
    attachment = stored["attachments"][0]["id"]
    file = platform.request("GET", f"/v1/mail/inbound/{inbound_id}/attachments/{attachment}", token=token)
    assert file.status == 200 and file.data == b"%PDF-1.4 flow"
    _get(platform, f"/v1/mail/inbound/{inbound_id}", b["access_token"], status=404)  # stored in A only

    wrong = platform.http.request("POST", f"{platform.gateway_url}/inbound/mime/{secret[:-2]}xx", body=raw,
                                  headers={"Content-Type": "message/rfc822"}, retries=False)
    assert wrong.status == 404, wrong.data
    a["seen"] |= {inbound_id, attachment}
    a["attachment"] = (inbound_id, attachment)


def test_tenant_b_sees_none_of_a(platform: Platform, a: dict[str, Any], b: dict[str, Any]) -> None:
    """Runs last: B, with its own mail (its signup verification), against every id A's tests collected."""
    token = b["access_token"]
    wait_for_json(platform, "/v1/mail/messages", token, lambda body: body["data"])  # B's own mail exists
    seen = a["seen"]
    assert len(seen) >= 8, seen
    for path in ("/v1/mail/messages", "/v1/mail/inbound", "/v1/mail/senders", "/v1/mail/suppressions",
                 "/v1/mail/dkim-keys", "/v1/logged-emails", "/v1/logged-emails?status=unmatched"):
        body = platform.request("GET", path + ("&" if "?" in path else "?") + "limit=200", token=token)
        assert body.status == 200, (path, body.data[:300])
        assert not {r["id"] for r in body.json()["data"]} & seen, path
        assert a["email"] not in body.data.decode(), path
    for record in seen:
        for path in (f"/v1/mail/messages/{record}", f"/v1/mail/inbound/{record}", f"/v1/mail/senders/{record}",
                     f"/v1/logged-emails/{record}"):
            assert platform.request("GET", path, token=token).status == 404, path
    inbound_id, attachment = a["attachment"]
    assert platform.request("GET", f"/v1/mail/inbound/{inbound_id}/attachments/{attachment}", token=token).status == 404
    assert platform.request("GET", f"/v1/mail/messages/{next(iter(seen))}/raw", token=token).status == 404
    assert _get(platform, "/v1/mail/addresses", token)["mailbox"] != _get(platform, "/v1/mail/addresses",
                                                                          a["access_token"])["mailbox"]
