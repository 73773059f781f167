"""Contact validation in, serialisation out."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, fields, post_load, validate, validates_schema
from sqlalchemy.orm import object_session

from contacts.models import LEAD_STATUSES, LIFECYCLE_STAGES
from contacts.schemas.common import NAME, PropertiesField, normalise_tags, tags_field
from contacts.service.properties import active_definitions, prefetch_version, visible_properties, visible_values
from crm_http.fields import RecordSchema, TrimmedSchema, UtcDateTime, require_any

EMAIL = fields.Email(validate=validate.Length(max=320))


class AddressSchema(TrimmedSchema):
    street = fields.String(validate=validate.Length(max=500), allow_none=True)
    city = fields.String(validate=validate.Length(max=200), allow_none=True)
    region = fields.String(validate=validate.Length(max=200), allow_none=True)
    postal_code = fields.String(validate=validate.Length(max=20), allow_none=True)
    country = fields.String(validate=validate.Regexp(r"^[A-Za-z]{2}$", error="Use an ISO 3166 alpha-2 code."),
                            allow_none=True)


class ContactInSchema(TrimmedSchema):
    first_name = fields.String(validate=NAME, allow_none=True)
    last_name = fields.String(validate=NAME, allow_none=True)
    email = fields.Email(validate=validate.Length(max=320), allow_none=True)
    emails = fields.List(EMAIL, validate=validate.Length(max=20))
    # Normalised to E.164 by the service, which knows the tenant's default region.
    phone = fields.String(validate=validate.Length(min=3, max=40), allow_none=True)
    company_name = fields.String(validate=NAME, allow_none=True)
    company_id = fields.UUID(allow_none=True)
    company_ids = fields.List(fields.UUID(), validate=validate.Length(max=50))
    owner_id = fields.UUID(allow_none=True)
    lifecycle_stage = fields.String(validate=validate.OneOf(LIFECYCLE_STAGES), allow_none=True)
    lead_status = fields.String(validate=validate.OneOf(LEAD_STATUSES), allow_none=True)
    source = fields.String(validate=validate.Length(min=1, max=100), allow_none=True)
    tags = tags_field()
    address = fields.Nested(AddressSchema, allow_none=True)
    properties = PropertiesField()

    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("email"):
            data["email"] = data["email"].lower()
        if data.get("emails") is not None:
            data["emails"] = list(dict.fromkeys(e.lower() for e in data["emails"]))
        if data.get("address") and data["address"].get("country"):
            data["address"]["country"] = data["address"]["country"].upper()
        normalise_tags(data)
        return data


class ContactCreateSchema(ContactInSchema):
    @validates_schema
    def has_identity(self, data: dict[str, Any], **_: Any) -> None:
        require_any(data, "email", "first_name", "last_name", "phone")


class ContactSchema(RecordSchema, ContactInSchema):
    address = fields.Nested(AddressSchema, allow_none=True)
    company_ids = fields.Function(lambda c: list(c.company_ids or []))
    properties = fields.Method("visible_properties")
    lead_score = fields.Integer(dump_only=True)
    last_contacted_at = UtcDateTime(dump_only=True, allow_none=True)
    merged_ids = fields.List(fields.String(), dump_only=True)

    def visible_properties(self, record: Any) -> dict[str, Any]:
        return visible_properties(object_session(record), "contact", record.properties)

    # The row serialiser (crm_http.rows): the same `properties` from a Core row and the page's
    # active definitions (their version read with BEGIN); search_text is never output.
    row_computed: ClassVar[dict[str, Any]] = {"properties": lambda row, active: visible_values(active, row.properties)}
    row_context = staticmethod(lambda session: active_definitions(session, "contact"))
    row_omit = ("search_text",)
    row_prefetch = staticmethod(lambda: [prefetch_version()])  # the definitions version, with BEGIN


class ContactSettingsSchema(Schema):
    default_region = fields.String(validate=validate.Regexp(r"^[A-Za-z]{2}$", error="Use an ISO 3166 alpha-2 code."),
                                   allow_none=True)
