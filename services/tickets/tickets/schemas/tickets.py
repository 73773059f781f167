"""Ticket validation in, serialisation out."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_load, validate

from crm_http.fields import RecordSchema, UtcDateTime
from tickets.models import CHANNELS, PRIORITIES, STATUSES


class TicketInSchema(Schema):
    subject = fields.String(validate=validate.Length(min=1, max=300))
    # Generous but bounded: the 1 MiB body limit is the real cap.
    description = fields.String(validate=validate.Length(max=100_000), allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUSES))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    contact_id = fields.UUID(allow_none=True)
    assignee_id = fields.UUID(allow_none=True)
    team_id = fields.UUID(allow_none=True)
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    requester_email = fields.Email(allow_none=True)
    requester_name = fields.String(validate=validate.Length(max=200), allow_none=True)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(max=100))

    @pre_load
    def strip_subject(self, data: Any, **_: Any) -> Any:
        # Only the subject: a description's leading whitespace may be meaningful (code, quotes).
        if isinstance(data, dict) and isinstance(data.get("subject"), str):
            return {**data, "subject": data["subject"].strip()}
        return data


class TicketCreateSchema(TicketInSchema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=300))


class TicketSchema(RecordSchema, TicketInSchema):
    number = fields.Integer(dump_only=True)
    company_id = fields.UUID(dump_only=True, allow_none=True)
    linked_ticket_id = fields.UUID(dump_only=True, allow_none=True)
    resolved_at = UtcDateTime(dump_only=True, allow_none=True)
    closed_at = UtcDateTime(dump_only=True, allow_none=True)
    sla_policy_id = fields.UUID(dump_only=True, allow_none=True)
    sla_due_at = UtcDateTime(dump_only=True, allow_none=True)
    sla_breached = fields.Boolean(dump_only=True)
    suggested_article_ids = fields.List(fields.String(), dump_only=True)
