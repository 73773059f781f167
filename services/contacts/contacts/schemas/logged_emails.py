"""Logged emails (mail to <mailbox>+log@) out, the assign request in."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from crm_http.fields import RecordSchema, UtcDateTime

STATUSES = ("matched", "unmatched")


class LoggedEmailSchema(RecordSchema):
    status = fields.String()
    message_id = fields.String(allow_none=True)
    thread_id = fields.UUID()
    in_reply_to = fields.String(allow_none=True)
    references = fields.List(fields.String())
    sender = fields.Method("sender_of", data_key="from")
    participants = fields.List(fields.Dict())
    subject = fields.String(allow_none=True)
    occurred_at = UtcDateTime()
    snippet = fields.String(allow_none=True)
    contact_ids = fields.List(fields.String())
    deal_number = fields.Integer(allow_none=True)
    deal_id = fields.UUID(allow_none=True)
    matched_at = UtcDateTime(allow_none=True)

    def sender_of(self, record: Any) -> dict[str, Any] | None:
        if not record.from_address:
            return None
        return {"address": record.from_address, "name": record.from_name}


class LoggedEmailDetailSchema(LoggedEmailSchema):
    """One logged email: also its text (cut), which a list leaves out."""

    body = fields.String(allow_none=True)


class AssignSchema(Schema):
    contact_id = fields.UUID(required=True)
