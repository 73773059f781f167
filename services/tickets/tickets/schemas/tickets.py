"""Ticket validation in, serialisation out; the desk settings in and out."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema
from sqlalchemy.orm import object_session

from crm_http.fields import RecordSchema, UtcDateTime
from crm_properties import KEY, visible_values
from tickets.models import CHANNELS, PRIORITIES, STATUS_ALIASES, STATUSES
from tickets.service.properties import STORE, visible
from tickets.service.tickets import normalise_values

MAX_TAGS = 100


class TicketInSchema(Schema):
    subject = fields.String(validate=validate.Length(min=1, max=300))
    # Generous but bounded: the 1 MiB body limit is the real cap.
    description = fields.String(validate=validate.Length(max=100_000), allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUSES), metadata={
        "description": "new, open, pending (waiting on the customer), on_hold (waiting on a third party; "
                       "`on-hold` is accepted), resolved, closed. Setting `custom_status` sets this to its base."})
    custom_status = fields.String(allow_none=True, validate=validate.Length(min=1, max=40), metadata={
        "description": "A status of the tenant's own (/v1/settings/tickets `statuses`); sets `status` to its base."})
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    contact_id = fields.UUID(allow_none=True, metadata={
        "description": "The requester's contact; matched or created from `requester_email` when not given."})
    assignee_id = fields.UUID(allow_none=True)
    team_id = fields.UUID(allow_none=True)
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    requester_email = fields.Email(allow_none=True, validate=validate.Length(max=320))
    requester_name = fields.String(validate=validate.Length(max=200), allow_none=True)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(max=MAX_TAGS),
                       metadata={"description": "Trimmed, lower-cased and de-duplicated."})
    properties = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)), metadata={
        "description": "Custom fields (/v1/properties/tickets); null deletes a value."})

    @pre_load
    def tidy(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        # Only the subject: a description's leading whitespace may be meaningful (code, quotes).
        if isinstance(data.get("subject"), str):
            data["subject"] = data["subject"].strip()
        if isinstance(data.get("status"), str):
            data["status"] = STATUS_ALIASES.get(data["status"], data["status"])
        return data

    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        normalise_values(data)  # the service does it again for callers that skip the schema
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
    properties = fields.Method("visible_properties", metadata={"type": "object"})

    def visible_properties(self, record: Any) -> dict[str, Any]:
        return visible(object_session(record), record.properties)  # active custom fields only

    # The row serialiser (crm_http.rows): the same `properties` from a Core row and the page's
    # active definitions.
    row_computed: ClassVar[dict[str, Any]] = {"properties": lambda row, active: visible_values(active, row.properties)}
    row_context = staticmethod(lambda session: STORE.active(session).by_key)


class StatusSchema(Schema):
    key = fields.String(required=True, validate=validate.Regexp(
        KEY, error="Use lower case letters, digits and _, starting with a letter (at most 40)."))
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))
    base = fields.String(required=True, validate=validate.OneOf(STATUSES))

    @pre_load
    def alias(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("base"), str):
            return {**data, "base": STATUS_ALIASES.get(data["base"], data["base"])}
        return data

    @validates_schema
    def short_key(self, data: dict[str, Any], **_: Any) -> None:
        if len(data.get("key", "")) > 40:
            raise ValidationError({"key": ["At most 40 characters."]})
        if data.get("key") in STATUSES or data.get("key") in STATUS_ALIASES:
            raise ValidationError({"key": ["A built-in status; use it as is."]})


class TicketSettingsSchema(Schema):
    statuses = fields.List(fields.Nested(StatusSchema), validate=validate.Length(max=50), metadata={
        "description": "The tenant's own statuses, each mapped onto a base status."})
    auto_close_days = fields.Integer(validate=validate.Range(min=0, max=3650), metadata={
        "description": "A resolved ticket closes after this many days (0: never)."})
    portal_company_tickets = fields.Boolean(metadata={
        "description": "Portal requesters also see their company's tickets."})
    next_number = fields.Integer(validate=validate.Range(min=1, max=999_999_999), metadata={
        "description": "The number of the next ticket; it can only move forward (a desk moving over keeps "
                       "its numbering)."})

    @validates_schema
    def distinct_keys(self, data: dict[str, Any], **_: Any) -> None:
        keys = [s["key"] for s in data.get("statuses") or []]
        if len(set(keys)) != len(keys):
            raise ValidationError({"statuses": ["Status keys must be distinct."]})
