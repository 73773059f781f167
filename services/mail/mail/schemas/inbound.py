"""Addresses and inbound mail out (and the mailbox rename in). The webhook secret is only ever in
the answer of the request that made it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from marshmallow import Schema, ValidationError, fields

from crm_db.base import utc_iso
from crm_http.fields import TrimmedSchema
from mail.models import InboundAttachment, InboundMessage
from mail.service.inbound import attachment_summary
from mail.service.mailboxes import name_problem


def _mailbox_name(value: str) -> None:
    if (problem := name_problem(value)) is not None:
        raise ValidationError(problem)


class MailboxPatchSchema(TrimmedSchema):
    mailbox = fields.String(required=True, validate=_mailbox_name)


class PartySchema(Schema):
    address = fields.String()
    name = fields.String(allow_none=True)


class WebhookInfoSchema(Schema):
    configured = fields.Boolean()
    url_template = fields.String()
    rotated_at = fields.String(allow_none=True)


class AddressesSchema(Schema):
    mailbox = fields.String()
    domain = fields.String()
    addresses = fields.Dict(keys=fields.String(), values=fields.String())
    reply_token_format = fields.String()
    deal_log_format = fields.String(metadata={"description": "Mail to this address (with a deal number) is logged on that deal"})
    inbound_webhook = fields.Nested(WebhookInfoSchema)


class SecretSchema(Schema):
    secret = fields.String()
    url = fields.String()
    rotated_at = fields.String()


class AttachmentSchema(Schema):
    id = fields.UUID()
    filename = fields.String(allow_none=True)
    content_type = fields.String()
    content_id = fields.String(allow_none=True)
    size = fields.Integer()
    inline = fields.Boolean()


class InboundSummarySchema(Schema):
    id = fields.UUID()
    mailbox = fields.String()
    tag = fields.String(allow_none=True)
    token = fields.String(allow_none=True)
    kind = fields.String()
    auto_submitted = fields.Boolean()
    recipient = fields.String()
    envelope_from = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)
    in_reply_to = fields.String(allow_none=True)
    from_ = fields.Nested(PartySchema, data_key="from")
    to = fields.List(fields.Nested(PartySchema))
    cc = fields.List(fields.Nested(PartySchema))
    subject = fields.String(allow_none=True)
    date = fields.String(allow_none=True)
    size = fields.Integer()
    reports_on = fields.UUID(allow_none=True)
    created_at = fields.String()


class InboundSchema(InboundSummarySchema):
    references = fields.List(fields.String())
    reply_to = fields.List(fields.Nested(PartySchema))
    text = fields.String(allow_none=True)
    html = fields.String(allow_none=True, metadata={"description": "Sanitised (nh3): safe to render."})
    attachments = fields.List(fields.Nested(AttachmentSchema))


def inbound_summary(row: InboundMessage) -> dict[str, Any]:
    return {
        "id": str(row.id), "mailbox": row.mailbox, "tag": row.tag, "token": row.token, "kind": row.kind,
        "auto_submitted": row.auto_submitted, "recipient": row.recipient, "envelope_from": row.envelope_from,
        "message_id": row.message_id_header, "in_reply_to": row.in_reply_to,
        "from": {"address": row.from_address, "name": row.from_name}, "to": row.to, "cc": row.cc,
        "subject": row.subject, "date": utc_iso(row.sent_date), "size": row.size,
        "reports_on": str(row.reports_on_id) if row.reports_on_id else None, "created_at": utc_iso(row.created_at),
    }


def inbound_detail(row: InboundMessage, attachments: Iterable[InboundAttachment]) -> dict[str, Any]:
    return {**inbound_summary(row), "references": row.references, "reply_to": row.reply_to, "text": row.text,
            "html": row.html, "attachments": [attachment_summary(a) for a in attachments]}
