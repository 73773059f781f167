"""Batch requests and their per-item results."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from contacts.service.batch import MAX_ITEMS, MODES


class RecordBatchSchema(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(MODES))
    items = fields.List(
        fields.Raw(), required=True,
        validate=validate.Length(min=1, max=MAX_ITEMS, error=f"Send between 1 and {MAX_ITEMS} items."),
        metadata={"description": "create / upsert: the fields of a create; update: `id`, optional `version` "
                                 "(checked like If-Match) and the fields to change; delete: `id` and optional "
                                 "`version`. Upsert matches contacts by email and companies by domain; an item "
                                 "without one creates."},
    )


class RecordBatchItemResultSchema(Schema):
    status = fields.Integer(metadata={"description": "201 created, 200 updated, 204 deleted, or the error status a single "
                                                     "call would get (404, 409, 410, 412, 422)"})
    id = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), allow_none=True)
    existing_id = fields.String(metadata={"description": "On 409: the record holding the email or domain"})


class RecordBatchResultSchema(Schema):
    results = fields.List(fields.Nested(RecordBatchItemResultSchema), metadata={"description": "One per item, in order"})
