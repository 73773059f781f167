"""Messages for the inbound tests, built with the std email package (what a real MTA would send)."""

from __future__ import annotations

import email.utils
import uuid
from email.message import EmailMessage
from email.policy import SMTP


def plain(to: str, *, subject: str = "Hello", sender: str = "Jürgen Müller <juergen@example.com>",
          body: str = "Hi there", message_id: str | None = None, cc: str | None = None,
          **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(1767225600, localtime=False)
    msg["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@example.com>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def with_attachment(to: str) -> EmailMessage:
    msg = plain(to, subject="Angebot für Zoë ✓", body="Text body")
    msg.add_alternative('<p onclick="x()">Hi <b>there</b><script>alert(1)</script>'
                        '<a href="javascript:alert(1)">bad</a><a href="https://ok.example/">ok</a>'
                        '<img src="cid:logo1"></p>', subtype="html")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="Angebot Zoë.pdf")
    return msg


def dsn(to: str, *, failed: str, original_message_id: str, status: str = "5.1.1", action: str = "failed",
        diagnostic: str = "smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected") -> bytes:
    boundary = "dsn-boundary-1"
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: {to}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.example.net>\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nOriginal-Recipient: rfc822;{failed}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nDiagnostic-Code: {diagnostic}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Acme <no-reply@inbound.localhost>\r\nTo: {failed}\r\nSubject: Your invoice\r\n"
        f"Message-ID: {original_message_id}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def arf(to: str, *, complainant: str, original_message_id: str) -> bytes:
    boundary = "arf-boundary-1"
    return (
        f"From: FBL <fbl@isp.example>\r\nTo: {to}\r\nSubject: Abuse report\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@isp.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
        f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: {complainant}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: Acme <news@acme.example>\r\nTo: {complainant}\r\nSubject: News\r\n"
        f"Message-ID: {original_message_id}\r\n\r\nHello\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def as_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=SMTP)
