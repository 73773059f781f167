"""Company validation in, serialisation out."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import fields, post_load, validate
from sqlalchemy.orm import object_session

from contacts.schemas.common import NAME, PropertiesField, normalise_tags, tags_field
from contacts.service.properties import active_definitions, prefetch_version, visible_properties, visible_values
from crm_http.fields import RecordSchema, TrimmedSchema, UtcDateTime


class CompanyInSchema(TrimmedSchema):
    name = fields.String(validate=NAME)
    # Normalised ("https://www.Acme.com/" -> "acme.com") by the service, which reports a bad one.
    domain = fields.String(validate=validate.Length(min=3, max=300), allow_none=True)
    industry = fields.String(validate=validate.Length(min=1, max=100), allow_none=True)
    size = fields.Integer(validate=validate.Range(min=0, max=10_000_000), allow_none=True)
    owner_id = fields.UUID(allow_none=True)
    tags = tags_field()
    properties = PropertiesField()

    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        normalise_tags(data)
        return data


class CompanyCreateSchema(CompanyInSchema):
    name = fields.String(validate=NAME, required=True)


class CompanySchema(RecordSchema, CompanyInSchema):
    properties = fields.Method("visible_properties")
    last_contacted_at = UtcDateTime(dump_only=True, allow_none=True)
    merged_ids = fields.List(fields.String(), dump_only=True)

    def visible_properties(self, record: Any) -> dict[str, Any]:
        return visible_properties(object_session(record), "company", record.properties)

    # The row serialiser (crm_http.rows): the same `properties` from a Core row and the page's
    # active definitions (their version read with BEGIN); search_text is never output.
    row_computed: ClassVar[dict[str, Any]] = {"properties": lambda row, active: visible_values(active, row.properties)}
    row_context = staticmethod(lambda session: active_definitions(session, "company"))
    row_omit = ("search_text",)
    row_prefetch = staticmethod(lambda: [prefetch_version()])  # the definitions version, with BEGIN
