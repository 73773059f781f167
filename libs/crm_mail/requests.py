"""`crm.mail.send_requested`: the one way a service sends an email.

The event's data (validated here, before it reaches the outbox, so a malformed request fails the
use case that made it rather than a consumer far away):

    message_id   UUID: the message's id at /v1/mail/messages/{id}; a repeat of one id is one message
    purpose      transactional | notification | marketing (marketing never goes to a suppressed
                 address and waits behind the other two)
    from         {"sender_id": UUID} a verified sender of the tenant, else the tenant's default
                 sender, else the platform's (CRM_MAIL_DEFAULT_FROM); "name" overrides the display name
    to, cc, bcc  [{"address", "name"?}]; at least one recipient in all
    reply_token  minted by the requester (new_reply_token); replies go to <mailbox>+t-<token>@<domain>
    reply_to     [{"address", "name"?}] when replies should go elsewhere (never with reply_token)
    subject, text, html   at least one of text and html
    headers      extra headers ({"List-Unsubscribe": "<...>"}); never the ones mail sets itself
    in_reply_to, references   threading: Message-IDs, "<...>"
    attachments  [{"filename", "content_type", "content_base64", "inline"?, "content_id"?}];
                 text/calendar parts keep their `method` parameter (meeting invitations); in
                 them, REPLY_ADDRESS_PLACEHOLDER is replaced by the reply address of reply_token
                 (an invitation's ORGANIZER: the requester does not know the tenant's mailbox)
    refers_to    {"type": "ticket|deal|campaign|user|contact|task|...", "id": "..."}
    mailbox_hint the tenant's name, for a tenant whose mailbox (the reply and bounce addresses)
                 may not exist yet: signup's first message can overtake crm.tenant.created
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from crm_core.ids import uuid7
from crm_events.outbox import Outbox

SEND_REQUESTED = "crm.mail.send_requested"
PURPOSES = ("transactional", "notification", "marketing")
# Set by the mail service alone: a requester may not forge identity, routing or threading headers
# through `headers` (threading has its own fields).
RESERVED_HEADERS = frozenset({
    "from", "sender", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "in-reply-to",
    "references", "return-path", "mime-version", "content-type", "content-transfer-encoding",
    "dkim-signature", "received", "x-crm-message-id", "x-crm-tenant", "x-crm-loop",
})
MAX_RECIPIENTS = 100
# RFC 2606 .invalid: never a real address, so nothing but the substitution can make it one.
REPLY_ADDRESS_PLACEHOLDER = "reply-address@crm.invalid"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # decoded, all parts together: events must stay small
_ADDRESS = re.compile(r"^[^@\s<>\",;]+@[^@\s<>\",;]+\.[^@\s<>\",;]+$|^[^@\s<>\",;]+@localhost$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field name: printable, no colon
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# CR or LF in a value that ends up in a header would start a header of the requester's own
# (a Bcc, a second From); NUL and the other C0 controls have no place in one either.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class MailRequestError(ValueError):
    """A request the mail service would refuse: a bug in the requesting use case."""


def new_message_id(message_uuid: uuid.UUID | str, domain: str) -> str:
    """The Message-ID header the mail service gives the message whose id (send request
    `message_id`) is `message_uuid`: a requester that picks the id knows the header before the
    mail goes out (threading a conversation by it needs no round trip)."""
    return f"<{uuid.UUID(str(message_uuid))}@{domain}>"


def inbound_domain(settings: Any) -> str:
    """CRM_INBOUND_DOMAIN as the mail service reads it (its mailboxes' addresses)."""
    return (settings.get("CRM_INBOUND_DOMAIN", "inbound.localhost") or "inbound.localhost").lower()


def message_id_domain(settings: Any) -> str:
    """The right-hand side of the Message-IDs the platform makes (CRM_MAIL_MESSAGE_ID_DOMAIN,
    else the inbound domain), for new_message_id."""
    return (settings.get("CRM_MAIL_MESSAGE_ID_DOMAIN") or inbound_domain(settings)).lower()


def new_reply_token() -> str:
    """An unguessable token (96 bits) for reply addresses; the minting service stores it and
    looks it up within the tenant the reply arrives for."""
    return secrets.token_urlsafe(12)


def is_address(value: object) -> bool:
    # ASCII only: an internationalised address needs SMTPUTF8 on every relay on the way, and the
    # header writer (email.utils.formataddr) refuses one.
    return isinstance(value, str) and len(value) <= 320 and value.isascii() and bool(_ADDRESS.match(value))


def _one_line(field: str, value: object) -> str:
    text = str(value)
    if _CONTROL.search(text):
        raise MailRequestError(f"{field} must be one line without control characters")
    return text


def _recipients(field: str, value: Iterable[Mapping[str, Any] | str] | None) -> list[dict[str, str]]:
    out = []
    for item in value or ():
        entry = {"address": item} if isinstance(item, str) else dict(item)
        address = entry.get("address")
        if not is_address(address):
            raise MailRequestError(f"{field}: {address!r} is not an email address")
        out.append({"address": str(address), **({"name": _one_line(f"{field} name", entry["name"])}
                                                 if entry.get("name") else {})})
    return out


def build_request(
    *,
    to: Iterable[Mapping[str, Any] | str],
    subject: str,
    purpose: str,
    text: str | None = None,
    html: str | None = None,
    cc: Iterable[Mapping[str, Any] | str] | None = None,
    bcc: Iterable[Mapping[str, Any] | str] | None = None,
    sender_id: uuid.UUID | str | None = None,
    from_name: str | None = None,
    reply_token: str | None = None,
    reply_to: Iterable[Mapping[str, Any] | str] | None = None,
    headers: Mapping[str, str] | None = None,
    in_reply_to: str | None = None,
    references: Iterable[str] | None = None,
    attachments: Iterable[Mapping[str, Any]] | None = None,
    refers_to: Mapping[str, Any] | None = None,
    message_id: uuid.UUID | None = None,
    mailbox_hint: str | None = None,
    from_support: bool = False,
) -> dict[str, Any]:
    """The event data of one request, checked."""
    if purpose not in PURPOSES:
        raise MailRequestError(f"purpose must be one of {PURPOSES}, not {purpose!r}")
    data: dict[str, Any] = {"message_id": str(message_id or uuid7()), "purpose": purpose,
                            "to": _recipients("to", to), "cc": _recipients("cc", cc),
                            "bcc": _recipients("bcc", bcc)}
    count = len(data["to"]) + len(data["cc"]) + len(data["bcc"])
    if count == 0 or count > MAX_RECIPIENTS:
        raise MailRequestError(f"a message needs 1 to {MAX_RECIPIENTS} recipients, not {count}")
    if not isinstance(subject, str) or "\n" in subject or "\r" in subject or len(subject) > 998:
        raise MailRequestError("subject must be one line of at most 998 characters")
    if not text and not html:
        raise MailRequestError("a message needs a text or an html body")
    data.update(subject=subject, text=text, html=html)
    name = _one_line("from_name", from_name) if from_name else None
    data["from"] = {k: v for k, v in {"sender_id": str(sender_id) if sender_id else None, "name": name}.items() if v}
    if from_support:
        # From the tenant's support address (<mailbox>+support@ the inbound domain), so the
        # customer's answer comes back to the service desk even without the Reply-To.
        if sender_id:
            raise MailRequestError("from_support and sender_id exclude each other")
        data["from"]["support"] = True
    if reply_token is not None:
        if reply_to:
            raise MailRequestError("reply_token and reply_to exclude each other")
        if not _TOKEN.match(reply_token):
            raise MailRequestError("reply_token must be 8-64 characters of [A-Za-z0-9_-]")
        data["reply_token"] = reply_token
    data["reply_to"] = _recipients("reply_to", reply_to)
    extra = {}
    for name, value in (headers or {}).items():
        if not _HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
            raise MailRequestError(f"header {name!r} cannot be set by a requester")
        if "\n" in value or "\r" in value:
            raise MailRequestError(f"header {name!r} must be one line")
        extra[name] = value
    data["headers"] = extra
    data["in_reply_to"] = _one_line("in_reply_to", in_reply_to) if in_reply_to else None
    data["references"] = [_one_line("references", r) for r in references or ()]
    parts, total = [], 0
    for attachment in attachments or ():
        try:
            total += len(base64.b64decode(attachment["content_base64"], validate=True))
        except (KeyError, binascii.Error, TypeError) as exc:
            raise MailRequestError("every attachment needs content_base64") from exc
        if not attachment.get("filename") and not attachment.get("inline"):
            raise MailRequestError("an attachment needs a filename (or inline with a content_id)")
        if "/" not in str(attachment.get("content_type", "")):
            raise MailRequestError("an attachment needs a content_type such as text/calendar")
        for key in ("filename", "content_type", "content_id"):
            if attachment.get(key):
                _one_line(f"attachment {key}", attachment[key])
        parts.append(dict(attachment))
    if total > MAX_ATTACHMENT_BYTES:
        raise MailRequestError(f"attachments exceed {MAX_ATTACHMENT_BYTES} bytes")
    data["attachments"] = parts
    if refers_to is not None:
        if not refers_to.get("type") or not refers_to.get("id"):
            raise MailRequestError("refers_to needs a type and an id")
        data["refers_to"] = {"type": str(refers_to["type"]), "id": str(refers_to["id"])}
    else:
        data["refers_to"] = None
    if mailbox_hint:
        data["mailbox_hint"] = _one_line("mailbox_hint", str(mailbox_hint))[:200]
    return data


def request_mail(outbox: Outbox, session: Session, *, tenant_id: uuid.UUID | None = None,
                 **fields: Any) -> uuid.UUID:
    """Write a `crm.mail.send_requested` event in the caller's transaction; the message's id."""
    data = build_request(**fields)
    outbox.emit(session, SEND_REQUESTED, data["message_id"], data, tenant_id=tenant_id)
    return uuid.UUID(data["message_id"])
