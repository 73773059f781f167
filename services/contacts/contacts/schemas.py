"""Contact validation in, serialisation out."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, post_load, validate, validates_schema

from crm_http.fields import RecordSchema, TrimmedSchema, require_any

NAME = validate.Length(min=1, max=200)


class ContactInSchema(TrimmedSchema):
    first_name = fields.String(validate=NAME, allow_none=True)
    last_name = fields.String(validate=NAME, allow_none=True)
    email = fields.Email(validate=validate.Length(max=320), allow_none=True)
    phone = fields.String(validate=validate.Regexp(r"^\+?[0-9 ()./-]{3,40}$", error="Not a phone number."),
                          allow_none=True)
    company_name = fields.String(validate=NAME, allow_none=True)


    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("email"):
            data["email"] = data["email"].lower()
        return data


class ContactCreateSchema(ContactInSchema):
    @validates_schema
    def has_identity(self, data: dict[str, Any], **_: Any) -> None:
        require_any(data, "email", "first_name", "last_name")


class ContactSchema(RecordSchema, ContactInSchema):
    pass
