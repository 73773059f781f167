"""Customer portal bodies in and out (JSON; the HTML forms post the same fields)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class PortalLoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=320))


class SessionExchangeSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class PortalSessionSchema(Schema):
    email = fields.String()
    expires_at = fields.String()
    token = fields.String(metadata={"description": "Only in the answer to POST: the session's secret (also set as "
                                                   "the HttpOnly cookie); send it as `Authorization: Bearer` or "
                                                   "`X-Portal-Session`"})


class PortalAttachmentInSchema(Schema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=255))
    content_type = fields.String(load_default="application/octet-stream", validate=validate.Length(min=3, max=255))
    content_base64 = fields.String(required=True)


class PortalTicketCreateSchema(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=300))
    text = fields.String(required=True, validate=validate.Length(min=1, max=100_000))
    name = fields.String(validate=validate.Length(max=200), allow_none=True)
    attachments = fields.List(fields.Dict(), validate=validate.Length(max=5))


class PortalReplySchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=100_000))
    attachments = fields.List(fields.Dict(), validate=validate.Length(max=5))


class PortalAttachmentSchema(Schema):
    id = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    url = fields.String(allow_none=True)


class PortalMessageSchema(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "reply (the support team) or customer"})
    author_type = fields.String()
    author_name = fields.String(allow_none=True)
    author_email = fields.String(allow_none=True, metadata={"description": "Only on customers' messages"})
    text = fields.String()
    html = fields.String(allow_none=True)
    attachments = fields.List(fields.Nested(PortalAttachmentSchema))
    created_at = fields.String()


class PortalTicketSchema(Schema):
    number = fields.Integer()
    subject = fields.String()
    status = fields.String()
    channel = fields.String()
    requester_name = fields.String(allow_none=True)
    mine = fields.Boolean(metadata={"description": "False for a colleague's ticket (company tickets)"})
    linked_ticket_number = fields.Integer(allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()
    resolved_at = fields.String(allow_none=True)
    messages = fields.List(fields.Nested(PortalMessageSchema), metadata={"description": "Only on a single ticket"})
