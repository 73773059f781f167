"""Report serialisation out."""

from __future__ import annotations

from marshmallow import Schema, fields

from crm_http.fields import MoneySchema, UtcDateTime


class SummarySchema(Schema):
    contacts = fields.Integer(required=True)
    open_deals = fields.Integer(required=True)
    pipeline_value = fields.List(fields.Nested(MoneySchema), required=True,
                                 metadata={"description": "Value of open deals, one entry per currency."})
    open_tickets = fields.Integer(required=True, metadata={"description": "Tickets in new, open or pending."})
    campaigns = fields.Integer(required=True)
    as_of = UtcDateTime(allow_none=True, required=True,
                        metadata={"description": "Time of the last event applied; null before the first."})
