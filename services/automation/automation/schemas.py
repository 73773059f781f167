"""Webhook validation in, serialisation out. The secret is never part of an output schema."""

from __future__ import annotations

import json
import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from automation.urls import UnsafeUrl, parse
from crm_http.fields import RecordSchema, TrimmedSchema, UtcDateTime

# `crm.contact.created`, `crm.deal.*` (every deal event) or `*` (everything).
EVENT_TYPE = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")
MAX_EVENT_TYPES = 50


def _url(value: str) -> None:
    try:
        parse(value)
    except UnsafeUrl as exc:
        raise ValidationError(str(exc)) from exc


def _event_types(values: list[str]) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Event types must not repeat.")


class WebhookInSchema(TrimmedSchema):
    url = fields.String(required=True, validate=[validate.Length(min=1, max=2000), _url])
    event_types = fields.List(
        fields.String(validate=[validate.Length(max=100), validate.Regexp(
            EVENT_TYPE, error="Use an event type like crm.contact.created, a wildcard like crm.deal.*, or *.")]),
        required=True, validate=[validate.Length(min=1, max=MAX_EVENT_TYPES), _event_types],
    )
    description = fields.String(validate=validate.Length(max=500), allow_none=True)
    active = fields.Boolean()



class WebhookCreateSchema(WebhookInSchema):
    active = fields.Boolean(load_default=True)


class WebhookSchema(RecordSchema):
    url = fields.String()
    event_types = fields.List(fields.String())
    description = fields.String(allow_none=True)
    active = fields.Boolean()


class WebhookCreatedSchema(WebhookSchema):
    """The create answer: the only place the signing secret is ever shown."""

    secret = fields.String()


class AttemptSchema(Schema):
    attempt = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer()
    at = UtcDateTime(attribute="started_at")
    response = fields.String(allow_none=True)


class DeliverySchema(Schema):
    id = fields.UUID()
    webhook_id = fields.UUID(attribute="subscription_id")
    event_id = fields.UUID()
    event_type = fields.String()
    status = fields.String(metadata={"enum": ["pending", "succeeded", "failed"]})
    attempt_count = fields.Integer()
    next_attempt_at = UtcDateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    payload = fields.Method("_payload", metadata={"type": "object"})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    attempts = fields.List(fields.Nested(AttemptSchema), dump_only=True)

    def _payload(self, delivery: Any) -> Any:
        return json.loads(delivery.payload)
