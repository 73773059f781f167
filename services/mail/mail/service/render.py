"""Rendering a send request into the RFC 5322 message that goes on the wire, once.

email.message.EmailMessage with policy.SMTP (CRLF, RFC 2047 encoded words for non-ASCII display
names and subjects, 78-column folding): text and html become multipart/alternative, attachments
(text/calendar keeps its `method`) go around it in multipart/mixed, inline parts with a
Content-ID in multipart/related with the html.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from crm_mail.requests import REPLY_ADDRESS_PLACEHOLDER

# 7bit: bodies go quoted-printable or base64, never raw 8-bit, so no relay without 8BITMIME has to
# convert them on the way (which would break the DKIM body hash).
POLICY = email.policy.SMTP.clone(cte_type="7bit")
CRLF = "\r\n"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Identity:
    address: str
    name: str | None = None

    def header(self) -> str:
        return _address_header({"address": self.address, "name": self.name})


def _address_header(entry: Mapping[str, Any]) -> str:
    address, name = str(entry["address"]), entry.get("name") or ""
    local, _, domain = address.rpartition("@")
    try:
        return str(Address(display_name=name, username=local, domain=domain))
    except (ValueError, IndexError):  # an address the header registry will not split: keep it whole
        return email.utils.formataddr((name, address))


def _addresses(entries: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(_address_header(e) for e in entries)


def parse_identity(value: str) -> Identity:
    """"Name <address>" (CRM_MAIL_DEFAULT_FROM) as an identity."""
    name, address = email.utils.parseaddr(value)
    return Identity(address.lower(), name or None)


def _attach(msg: EmailMessage, part: Mapping[str, Any]) -> None:
    data = base64.b64decode(part["content_base64"])
    maintype, _, subtype = str(part["content_type"]).partition("/")
    subtype, *raw_params = subtype.split(";")
    params = dict(p.strip().split("=", 1) for p in raw_params if "=" in p)
    params = {k.strip().lower(): v.strip().strip('"') for k, v in params.items()}
    disposition = "inline" if part.get("inline") else "attachment"
    kwargs: dict[str, Any] = {"disposition": disposition, "filename": part.get("filename") or None,
                              "params": params}
    if maintype == "text":
        msg.add_attachment(data.decode(params.pop("charset", "utf-8"), errors="replace"), subtype=subtype,
                           **kwargs)
    else:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, **kwargs)
    added = msg.get_payload()[-1]
    if part.get("content_id"):
        cid = str(part["content_id"]).strip("<>")
        added["Content-ID"] = f"<{cid}>"


def _encoded(name: str, value: str) -> bytes:
    """One header field, RFC 2047-encoded if it is not ASCII, folded at 78 columns."""
    charset = "us-ascii" if value.isascii() else "utf-8"
    if charset == "us-ascii" and len(name) + len(value) < 76:
        return f"{name}: {value}\r\n".encode()
    return f"{name}: {Header(value, charset, header_name=name).encode(linesep=CRLF)}\r\n".encode()


def _address_field(name: str, entries: Sequence[Mapping[str, Any]] | Sequence[str]) -> bytes:
    values = [e if isinstance(e, str) else _formatted(e) for e in entries]
    return f"{name}: {(',' + CRLF + ' ').join(values)}\r\n".encode()


def _formatted(entry: Mapping[str, Any]) -> str:
    # formataddr quotes specials in ASCII names and RFC 2047-encodes the others, but passes CR and
    # LF through: a name (a sender's, stored from the API) must never end the header early.
    name = _CONTROL.sub(" ", str(entry.get("name") or ""))
    return email.utils.formataddr((name, str(entry["address"])), charset="utf-8")


def with_reply_address(data: Mapping[str, Any], reply_to: str | None) -> Mapping[str, Any]:
    """Put the reply address into the request's text/calendar parts (an invitation's ORGANIZER, so
    that the attendee's METHOD:REPLY comes back to the reply token); crm_mail.requests documents it."""
    parts = data.get("attachments") or []
    if not reply_to or not any(str(p.get("content_type", "")).lower().startswith("text/calendar") for p in parts):
        return data
    mark, address = REPLY_ADDRESS_PLACEHOLDER.encode(), reply_to.encode()
    changed = []
    for part in parts:
        if str(part.get("content_type", "")).lower().startswith("text/calendar"):
            content = base64.b64decode(part["content_base64"]).replace(mark, address)
            part = {**part, "content_base64": base64.b64encode(content).decode()}
        changed.append(part)
    return {**data, "attachments": changed}


def render(data: Mapping[str, Any], *, sender: Identity, message_id: str, reply_to: str | None,
           date: float | None = None) -> bytes:
    """The message of one checked request (crm_mail.requests.build_request's data); Bcc is never
    a header (the envelope carries those recipients). The top-level header fields are written
    here (email's header registry parses every value it is given back, 60 % of the time); the
    MIME body tree is email.message.EmailMessage's."""
    head = [_address_field("From", [{"address": sender.address, "name": sender.name}])]
    if data.get("to"):
        head.append(_address_field("To", data["to"]))
    if data.get("cc"):
        head.append(_address_field("Cc", data["cc"]))
    if reply_to:
        head.append(_address_field("Reply-To", [reply_to]))
    elif data.get("reply_to"):
        head.append(_address_field("Reply-To", data["reply_to"]))
    head.append(_encoded("Subject", data["subject"]))
    head.append(f"Date: {email.utils.formatdate(date, localtime=False)}\r\nMessage-ID: {message_id}\r\n".encode())
    if data.get("in_reply_to"):
        head.append(_encoded("In-Reply-To", data["in_reply_to"]))
    if data.get("references"):
        head.append(_encoded("References", " ".join(data["references"])))
    extra = data.get("headers") or {}
    for name, value in extra.items():
        head.append(_encoded(name, value))
    # Mail that comes back carrying this (a forward rule, an auto-redirect) was made here: the
    # inbound side marks it a loop, so nothing answers it (mail.service.parsing.LOOP_HEADER).
    head.append(f"X-CRM-Loop: {message_id.rsplit('@', 1)[-1].rstrip('>')}\r\n".encode())
    if data.get("purpose") == "notification" and not any(n.lower() == "auto-submitted" for n in extra):
        head.append(b"Auto-Submitted: auto-generated\r\n")  # RFC 3834: no auto-reply should answer it
    return b"".join(head) + _body(with_reply_address(data, reply_to)).as_bytes()


def _body(data: Mapping[str, Any]) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    text, html = data.get("text"), data.get("html")
    if text:
        msg.set_content(text)
    if html:
        if text:
            msg.add_alternative(html, subtype="html")
        else:
            msg.set_content(html, subtype="html")
    attachments = data.get("attachments") or ()
    inline = [a for a in attachments if a.get("inline") and a.get("content_id")]
    if inline and html:
        target = msg.get_body(("html",))
        assert target is not None
        for part in inline:
            data_bytes = base64.b64decode(part["content_base64"])
            maintype, _, subtype = str(part["content_type"]).partition("/")
            target.add_related(data_bytes, maintype=maintype, subtype=subtype.split(";")[0],
                               cid=f"<{str(part['content_id']).strip('<>')}>", filename=part.get("filename"))
    for part in attachments:
        if part in inline and html:
            continue
        _attach(msg, part)
    return msg
