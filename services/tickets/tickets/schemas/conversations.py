"""A ticket's messages: what an agent posts, what the timeline shows."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from crm_http.fields import UtcDateTime
from crm_mail.requests import MAX_ATTACHMENT_BYTES, is_address
from tickets.models import STATUSES

CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
MAX_ATTACHMENTS = 10


class TicketAttachmentInSchema(Schema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=255))
    content_type = fields.String(required=True, validate=validate.Regexp(CONTENT_TYPE, flags=re.IGNORECASE,
                                                                          error="Not a MIME type such as application/pdf."))
    content_base64 = fields.String(required=True, metadata={"description": "The file, base64-encoded"})

    @validates("content_base64")
    def _base64(self, value: str, **_: Any) -> None:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("Not valid base64.") from exc

    @validates("filename")
    def _one_line(self, value: str, **_: Any) -> None:
        if any(c in value for c in "\r\n\x00/\\"):
            raise ValidationError("A file name is one line without slashes.")


class Email(fields.String):
    """An address mail can be sent to (crm_mail.requests.is_address: ASCII, no display name)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_address(text.strip()):
            raise ValidationError("Not an email address.")
        return text.strip().lower()


class MessageInSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("reply", "note")),
                         metadata={"description": "reply: public, emailed to the requester and cc's; "
                                                  "note: internal, never emailed"})
    text = fields.String(validate=validate.Length(max=100_000))
    html = fields.String(validate=validate.Length(max=200_000), metadata={"description": "Sanitised (nh3)"})
    cc = fields.List(Email(), validate=validate.Length(max=50),
                     metadata={"description": "A reply's cc's; default: the ticket's cc's so far"})
    attachments = fields.List(fields.Nested(TicketAttachmentInSchema), validate=validate.Length(max=MAX_ATTACHMENTS))
    status = fields.String(validate=validate.OneOf(STATUSES),
                           metadata={"description": "The ticket's status after the message (e.g. pending)"})
    mentions = fields.List(fields.UUID(), validate=validate.Length(max=50),
                           metadata={"description": "A note's mentioned users, besides @[Name](user-id) in it"})

    @validates_schema
    def _rules(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        if not (data.get("text") or "").strip() and not (data.get("html") or "").strip():
            errors["text"] = ["A message needs a text or an html body."]
        if data.get("kind") == "note" and "cc" in data:
            errors["cc"] = ["A note is never emailed: it has no cc's."]
        if data.get("kind") == "reply" and data.get("mentions"):
            errors["mentions"] = ["Mentions notify users from internal notes; a reply goes to the customer."]
        total = sum(len(a["content_base64"]) * 3 // 4 for a in data.get("attachments") or [])
        if total > MAX_ATTACHMENT_BYTES:
            errors["attachments"] = [f"The files exceed {MAX_ATTACHMENT_BYTES} bytes together."]
        if errors:
            raise ValidationError(errors)


class AuthorSchema(Schema):
    type = fields.String(metadata={"enum": ["agent", "customer", "system"]})
    id = fields.UUID(allow_none=True, metadata={"description": "The agent's user id"})
    email = fields.String(allow_none=True)
    name = fields.String(allow_none=True)


class TicketAttachmentSchema(Schema):
    id = fields.String()
    filename = fields.String(allow_none=True)
    content_type = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    source = fields.String(metadata={"enum": ["ticket", "mail"]})
    url = fields.String(metadata={"description": "Where to download it (mail: /v1/mail/inbound/..., mail:read)"})


class MessageSchema(Schema):
    id = fields.UUID()
    ticket_id = fields.UUID()
    kind = fields.String(metadata={"enum": ["reply", "note", "customer"]})
    author = fields.Nested(AuthorSchema)
    channel = fields.String()
    text = fields.String()
    html = fields.String(allow_none=True)
    to = fields.List(fields.String())
    cc = fields.List(fields.String())
    attachments = fields.List(fields.Nested(TicketAttachmentSchema))
    mentions = fields.List(fields.String())
    message_id = fields.String(allow_none=True, metadata={"description": "The email's Message-ID"})
    in_reply_to = fields.String(allow_none=True)
    created_at = UtcDateTime()


class MessageListSchema(Schema):
    data = fields.List(fields.Nested(MessageSchema))
    next_cursor = fields.String(allow_none=True)
