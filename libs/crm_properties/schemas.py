"""Custom field definitions in and out (the same for every object that has custom fields)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from crm_http.fields import RecordSchema, TrimmedSchema, UtcDateTime
from crm_properties import KEY, PROPERTY_TYPES

OPTIONS = fields.List(fields.String(validate=validate.Length(min=1, max=200)), validate=validate.Length(min=1, max=500),
                      allow_none=True)


class PropertyUpdateSchema(TrimmedSchema):
    label = fields.String(validate=validate.Length(min=1, max=200))
    options = OPTIONS
    required = fields.Boolean()
    archived = fields.Boolean()

    @validates_schema
    def distinct_options(self, data: dict[str, Any], **_: Any) -> None:
        options = data.get("options")
        if options and len(set(options)) != len(options):
            raise ValidationError({"options": ["Options must be distinct."]})


class PropertyCreateSchema(PropertyUpdateSchema):
    key = fields.String(required=True, validate=validate.Regexp(
        KEY, error="Use lower case letters, digits and _, starting with a letter (at most 64)."))
    label = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(required=True, validate=validate.OneOf(PROPERTY_TYPES))
    archived = fields.Boolean(load_default=False, validate=validate.Equal(False, error="Create it, then archive it."))

    @validates_schema
    def options_for_enums(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") in ("enum", "multi_enum") and not data.get("options"):
            raise ValidationError({"options": ["Required for enum and multi_enum properties."]})
        if data.get("type") not in ("enum", "multi_enum", None) and data.get("options"):
            raise ValidationError({"options": ["Only enum and multi_enum properties have options."]})


class PropertySchema(RecordSchema):
    object = fields.String()
    key = fields.String()
    label = fields.String()
    type = fields.String()
    options = fields.List(fields.String(), allow_none=True)
    required = fields.Boolean()
    archived = fields.Function(lambda d: d.archived_at is not None)
    archived_at = UtcDateTime(allow_none=True)
