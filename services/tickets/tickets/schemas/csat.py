"""CSAT bodies: a customer's answer in, responses and summaries out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class CsatAnswerSchema(Schema):
    rating = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(allow_none=True, validate=validate.Length(max=5000))


class CsatResponseSchema(Schema):
    id = fields.String()
    ticket_id = fields.String()
    ticket_number = fields.Integer()
    rating = fields.Integer()
    comment = fields.String(allow_none=True)
    agent_id = fields.String(allow_none=True, metadata={"description": "The assignee when the ticket was resolved"})
    team_id = fields.String(allow_none=True)
    sla_met = fields.Boolean(metadata={"description": "No SLA target was breached when the ticket was resolved"})
    requester_email = fields.String(allow_none=True)
    created_at = fields.String()


class CsatGroupSchema(Schema):
    agent_id = fields.String(allow_none=True)
    team_id = fields.String(allow_none=True)
    count = fields.Integer()
    average = fields.Float(allow_none=True)
    satisfied_share = fields.Float(allow_none=True, metadata={"description": "Share of ratings 4 and 5 (0-1)"})


class CsatSummarySchema(Schema):
    group_by = fields.String(allow_none=True)
    total = fields.Nested(CsatGroupSchema)
    groups = fields.List(fields.Nested(CsatGroupSchema))
