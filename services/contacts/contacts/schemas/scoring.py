"""Lead scoring rules in and out."""

from __future__ import annotations

from marshmallow import fields, validate

from crm_http.fields import RecordSchema, TrimmedSchema


class ScoringRuleInSchema(TrimmedSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    # Checked against the tenant's contact fields by the service (422 naming `filter`).
    filter = fields.String(validate=validate.Length(min=1, max=4000))
    points = fields.Integer(validate=validate.Range(min=-1000, max=1000))
    decay_days = fields.Integer(validate=validate.Range(min=1, max=3650), allow_none=True,
                                metadata={"description": "Points fade linearly to 0 over this many days since the last contact."})


class ScoringRuleCreateSchema(ScoringRuleInSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    filter = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    points = fields.Integer(required=True, validate=validate.Range(min=-1000, max=1000))


class ScoringRuleSchema(RecordSchema, ScoringRuleInSchema):
    pass
