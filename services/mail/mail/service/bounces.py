"""Delivery status notifications (RFC 3464) and complaints (ARF, RFC 5965) about mail we sent.

A report only ever acts on a message of the tenant whose mailbox it reached (the ORM's tenant
criteria and RLS both apply to the lookup), and only on addresses that message was sent to: a
forged report can neither reach into another tenant nor suppress an arbitrary address.
"""

from __future__ import annotations

import email
import logging
import re
import uuid
from dataclasses import dataclass, field
from email.message import Message

from flufl.bounce import all_failures
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.metrics import metrics
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from mail.models import InboundMessage, MailMessage
from mail.schemas.messages import message_body
from mail.service.headers import clean, header, parse_headers
from mail.service.parsing import Parsed
from mail.service.requests import recipients as requested_recipients
from mail.service.suppressions import add_suppression

log = logging.getLogger(__name__)

BOUNCED = "crm.mail.bounced"
# The header the sending side may stamp with the message's id (a reserved header for requesters).
CRM_ID_HEADER = "X-CRM-Message-Id"
STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")


@dataclass(frozen=True)
class Failure:
    address: str
    permanent: bool
    status: str | None = None
    diagnostic: str | None = None


@dataclass
class Report:
    failures: list[Failure] = field(default_factory=list)
    original: Message | None = None  # the returned message or its headers
    complainant: list[str] = field(default_factory=list)  # ARF Original-Rcpt-To

    @property
    def permanent(self) -> list[Failure]:
        return [f for f in self.failures if f.permanent]


def _field_value(value: str | None) -> str | None:
    """`rfc822; a@b.example` -> `a@b.example`; `smtp; 550 5.1.1 ...` -> `550 5.1.1 ...`."""
    if not value:
        return None
    return value.split(";", 1)[-1].strip().strip("<>").strip() or None


def _original(part: Message) -> Message | None:
    ctype = part.get_content_type()
    if ctype in ("message/rfc822", "message/global"):
        payload = part.get_payload()
        return payload[0] if isinstance(payload, list) and payload else None
    if ctype in ("text/rfc822-headers", "text/global-headers"):
        try:
            return parse_headers(part.get_content())  # type: ignore[attr-defined]
        except Exception:
            return None
    return None


def _recipient_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else []
    return [b for b in blocks if header(b, "Final-Recipient") or header(b, "Original-Recipient")]


def _failure(block: Message) -> Failure | None:
    address = _field_value(header(block, "Final-Recipient")) or _field_value(header(block, "Original-Recipient"))
    if not address or "@" not in address:
        return None
    action = (header(block, "Action") or "").lower()
    status_match = STATUS.search(header(block, "Status") or "")
    status = status_match.group(0) if status_match else None
    if action in ("delivered", "relayed", "expanded"):
        return None  # a success notice, not a failure
    permanent = action == "failed" if action in ("failed", "delayed") else bool(status and status.startswith("5"))
    diagnostic = _field_value(header(block, "Diagnostic-Code")) or (f"Status {status}" if status else None)
    return Failure(clean(address.lower(), 320) or "", permanent, status, clean(diagnostic, 2000))


def read_report(parsed: Parsed, raw: bytes) -> Report:
    """The failed recipients (or the complainant) and the returned original of a report."""
    report = Report()
    payload = parsed.message.get_payload()
    for part in payload if isinstance(payload, list) else ():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            report.failures += [f for f in map(_failure, _recipient_blocks(part)) if f is not None]
        elif ctype == "message/feedback-report":
            fields = part.get_payload()
            block = fields[0] if isinstance(fields, list) and fields else part
            for value in (block.get_all("Original-Rcpt-To") or []):
                report.complainant.append(str(value).strip().strip("<>").lower())
        elif report.original is None:
            report.original = _original(part)
    if parsed.kind == "bounce" and not report.failures:
        # No machine-readable recipient fields: flufl.bounce knows the non-standard formats.
        try:
            temporary, permanent = all_failures(email.message_from_bytes(raw))
        except Exception:
            temporary, permanent = frozenset(), frozenset()
        for addresses, is_permanent in ((permanent, True), (temporary, False)):
            for address in sorted(addresses):
                text = address.decode("utf-8", "replace").lower()
                report.failures.append(Failure(clean(text, 320) or "", is_permanent, None, "Bounced"))
    return report


def _message_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip().strip("<>").split("@", 1)[0]) if value else None
    except ValueError:
        return None


def find_original(session: Session, report: Report, verp_token: str | None) -> MailMessage | None:
    """Our message the report is about, in the current tenant: by the VERP envelope sender
    (<mailbox>+b-<id hex>@), else by the returned message's X-CRM-Message-Id or Message-ID."""
    candidates = [_message_uuid(verp_token)]
    original = report.original
    if original is not None:
        candidates.append(_message_uuid(header(original, CRM_ID_HEADER)))
    for message_id in filter(None, candidates):
        found = session.scalars(select(MailMessage).where(MailMessage.id == message_id)).first()
        if found is not None:
            return found
    mid = header(original, "Message-ID") if original is not None else None
    if mid:
        return session.scalars(select(MailMessage).where(MailMessage.message_id_header == mid.strip())).first()
    return None


def apply_report(session: Session, outbox: Outbox, inbound: InboundMessage, parsed: Parsed, raw: bytes,
                 verp_token: str | None) -> MailMessage | None:
    """A DSN or complaint stored as `inbound`: link it to our message, and when permanent mark
    that message bounced, suppress the failed addresses and announce crm.mail.bounced."""
    report = read_report(parsed, raw)
    message = find_original(session, report, verp_token)
    if message is None:
        log.info("report without a message of ours in this tenant (kind %s)", parsed.kind)
        return None
    inbound.reports_on_id = message.id
    recipients = set(requested_recipients(message))
    if parsed.kind == "complaint":
        # The complainant is the recipient the feedback names, or the message's only recipient.
        named = [a for a in report.complainant if a in recipients] or (sorted(recipients)[:1] if len(recipients) == 1 else [])
        for address in named:
            add_suppression(session, address, "complaint", detail="Spam complaint (feedback report)",
                            source_message_id=message.id)
        return message
    permanent = [f for f in report.permanent if f.address in recipients]
    if not permanent:
        return message  # a delay notice, or failures of addresses this message never had
    for failure in permanent:
        add_suppression(session, failure.address, "hard_bounce", detail=failure.diagnostic,
                        source_message_id=message.id)
    if message.status != "bounced":
        message.status = "bounced"
        message.bounced_at = utcnow()
        message.last_error = permanent[0].diagnostic
        session.flush()
        outbox.emit(session, BOUNCED, message.id, message_body(message))
        metrics().mail_messages.labels("bounced").inc()
    return message
