"""One inbound message, parsed with the std email package (policy.default) and classified.

Mail from the internet is often malformed: a bad charset, a broken header, a truncated part.
Nothing here raises on content; what cannot be read is left out (or read with replacement
characters) and the raw message is kept as received. Every string is made storable (no NUL, no
lone surrogate) and cut to its column's length.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import functools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import nh3

from mail.service.headers import addresses, clean, header, message_ids, policy, sent_date

log = logging.getLogger(__name__)

KINDS = ("message", "auto_reply", "bounce", "complaint", "loop")
# The header the sending side stamps on every message the platform sends: mail that comes back
# with it (a forward rule, an auto-redirect) was made by us and must not start another round.
LOOP_HEADER = "X-CRM-Loop"
AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
# Subjects only automatic replies start with (Exchange, Gmail, common German clients).
AUTO_SUBJECT = re.compile(r"^\s*(automatic reply|auto-?reply|out of office( auto-?reply)?|autoreply|"
                          r"automatische antwort|abwesenheitsnotiz)\s*:", re.IGNORECASE)
MAX_PARTS = 500
MAX_DEPTH = 20


@dataclass
class Attachment:
    filename: str | None
    content_type: str
    content_id: str | None
    inline: bool
    data: bytes


@dataclass
class Parsed:
    message: Message
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    from_: dict[str, Any] | None = None
    to: list[dict[str, Any]] = field(default_factory=list)
    cc: list[dict[str, Any]] = field(default_factory=list)
    reply_to: list[dict[str, Any]] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)  # Delivered-To, X-Original-To
    subject: str | None = None
    date: dt.datetime | None = None
    auto_submitted_header: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    kind: str = "message"
    size: int = 0

    @property
    def auto_submitted(self) -> bool:
        return self.kind != "message"


@functools.cache
def _cleaner() -> nh3.Cleaner:
    # nh3's defaults keep basic formatting, tables, links and images, drop scripts and styles with
    # their content, every event handler and style attribute, and unknown URL schemes
    # (javascript:, data:, vbscript:); cid: is added for inline images of the message itself.
    return nh3.Cleaner(url_schemes=nh3.ALLOWED_URL_SCHEMES | {"cid"}, link_rel="noopener noreferrer nofollow")


def sanitise_html(html: str) -> str:
    return _cleaner().clean(html)


def _text(part: Message) -> str | None:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        return content if isinstance(content, str) else None
    except Exception:  # an unknown charset (LookupError), a broken transfer encoding
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None


def _leaves(part: Message, depth: int = 0) -> Iterator[Message]:
    """Non-multipart parts in order; an attached message (message/*) is one leaf, not opened."""
    if part.get_content_maintype() == "multipart" and depth < MAX_DEPTH:
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else ():
            yield from _leaves(sub, depth + 1)
    else:
        yield part


def _payload_bytes(part: Message) -> bytes:
    try:
        if part.get_content_maintype() == "message":
            payload = part.get_payload()
            if isinstance(payload, list):  # message/rfc822: one message; delivery-status: blocks
                return b"\n".join(m.as_bytes() for m in payload)
            return str(payload).encode("utf-8", "surrogateescape")
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else b""
    except Exception:
        log.debug("unreadable part", exc_info=True)
        return b""


def _attachment(part: Message) -> Attachment:
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    content_id = header(part, "Content-ID")
    disposition = part.get_content_disposition()
    return Attachment(filename=clean(filename, 255) or None, content_type=part.get_content_type()[:255],
                      content_id=clean(content_id.strip("<> "), 255) if content_id else None,
                      inline=disposition == "inline" or (disposition is None and bool(content_id)),
                      data=_payload_bytes(part))


def _bodies(parsed: Parsed, msg: Message) -> None:
    chosen = []
    for kind in ("plain", "html"):
        try:
            part = msg.get_body(preferencelist=(kind,))  # type: ignore[attr-defined]
        except Exception:
            part = None
        if part is not None and part.get_content_type() == f"text/{kind}":
            chosen.append(part)
            body = _text(part)
            if kind == "plain":
                parsed.text = clean(body)
            elif body is not None:
                parsed.html = clean(sanitise_html(body))
    for i, part in enumerate(_leaves(msg)):
        if i >= MAX_PARTS:
            break
        if any(part is c for c in chosen):
            continue
        attachment = _attachment(part)
        if attachment.data or attachment.filename:
            parsed.attachments.append(attachment)


def _token(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


@functools.lru_cache(maxsize=8)
def _own_id(domain: str) -> re.Pattern[str]:
    """The Message-IDs the platform makes: <{message uuid}@{message_id_domain}>."""
    return re.compile(r"^<[0-9a-fA-F-]{32,36}@" + re.escape(domain) + r">$", re.IGNORECASE)


def classify(parsed: Parsed, *, envelope_from: str | None, own_domain: str) -> str:
    """bounce | complaint (reports), loop (made by this platform), auto_reply, or message."""
    msg = parsed.message
    if msg.get_content_type() == "multipart/report":
        report = (msg.get_param("report-type") or "")
        report = report.lower() if isinstance(report, str) else ""
        if report == "delivery-status":
            return "bounce"
        if report == "feedback-report":
            return "complaint"
    if header(msg, LOOP_HEADER) is not None or (parsed.message_id and _own_id(own_domain).match(parsed.message_id)):
        return "loop"
    if _token(parsed.auto_submitted_header) not in ("", "no"):
        return "auto_reply"
    if _token(header(msg, "Precedence")) in AUTO_PRECEDENCE:
        return "auto_reply"
    if header(msg, "X-Autoreply") is not None or header(msg, "X-Autorespond") is not None:
        return "auto_reply"
    # RFC 3834: automatic responses go to (and come from) the null sender.
    if envelope_from == "" or (header(msg, "Return-Path") or "").strip() == "<>":
        return "auto_reply"
    if parsed.subject and AUTO_SUBJECT.match(parsed.subject):
        return "auto_reply"
    return "message"


def parse(raw: bytes, *, envelope_from: str | None = None, own_domain: str = "") -> Parsed:
    msg = email.message_from_bytes(raw, policy=policy())
    parsed = Parsed(message=msg, size=len(raw))
    ids = message_ids(header(msg, "Message-ID"))
    parsed.message_id = ids[0] if ids else clean(header(msg, "Message-ID"), 998) or None
    replied = message_ids(header(msg, "In-Reply-To"))
    parsed.in_reply_to = replied[0] if replied else None
    parsed.references = message_ids(header(msg, "References"))[:100]
    senders = addresses(msg, "From")
    parsed.from_ = senders[0] if senders else None
    parsed.to, parsed.cc, parsed.reply_to = (addresses(msg, n) for n in ("To", "Cc", "Reply-To"))
    parsed.delivered_to = [a["address"] for n in ("Delivered-To", "X-Original-To") for a in addresses(msg, n)]
    parsed.subject = header(msg, "Subject")
    parsed.date = sent_date(msg)
    parsed.auto_submitted_header = clean(header(msg, "Auto-Submitted"), 200)
    try:
        _bodies(parsed, msg)
    except Exception:  # a structure the walk cannot follow: keep the headers and the raw message
        log.warning("could not read the bodies of an inbound message", exc_info=True)
    parsed.kind = classify(parsed, envelope_from=envelope_from, own_domain=own_domain)
    return parsed
