"""Saved views in and out: a user's own named search, filter, sort and columns of a table."""

from __future__ import annotations

from marshmallow import fields, validate

from crm_http.fields import RecordSchema, TrimmedSchema

OBJECTS = ("contacts", "companies")
COLUMN = fields.String(validate=validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                                                error="A column is a field key (letters, digits, _)."))


class SavedViewInSchema(TrimmedSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    q = fields.String(validate=validate.Length(max=500), allow_none=True,
                      metadata={"description": "Free-text search, as `?q=` of the list"})
    # Checked against the object's fields by the service (422 naming `filter` or `sort`).
    filter = fields.String(validate=validate.Length(max=4000), allow_none=True,
                           metadata={"description": "Filter expression, as `?filter=` of the list"})
    sort = fields.String(validate=validate.Length(max=500), allow_none=True,
                         metadata={"description": "Sort, as `?sort=` of the list, e.g. `-updated_at`"})
    columns = fields.List(COLUMN, validate=validate.Length(max=100),
                          metadata={"description": "The table's columns in order (field keys); empty: the default columns"})


class SavedViewCreateSchema(SavedViewInSchema):
    object = fields.String(required=True, validate=validate.OneOf(OBJECTS))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class SavedViewSchema(RecordSchema, SavedViewInSchema):
    object = fields.String(dump_only=True)
    user_id = fields.UUID(dump_only=True, metadata={"description": "The user the view belongs to (only they see it)"})
