"""Merge and unmerge requests; duplicate suggestions and unmerge results (documented shapes)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contacts.schemas.companies import CompanySchema
from contacts.schemas.contacts import ContactSchema


class MergeRequestSchema(Schema):
    primary_id = fields.UUID(required=True, metadata={"description": "The record that survives."})
    secondary_id = fields.UUID(required=True, metadata={"description": "The duplicate merged into it and removed."})
    keep_from_secondary = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)), load_default=list, validate=validate.Length(max=200),
        metadata={"description": "Fields whose value comes from the secondary even where the primary has its own "
                                 "(the user's choice field by field; the rest keep the primary's value, filled from "
                                 "the secondary where empty): field names such as `email` or `phone` (companies: "
                                 "also `name`), or `properties.<key>` for a custom field."})

    @validates_schema
    def distinct(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("primary_id") is not None and data.get("primary_id") == data.get("secondary_id"):
            raise ValidationError({"secondary_id": ["Must differ from primary_id."]})


class UnmergeRequestSchema(Schema):
    merged_id = fields.UUID(required=True, metadata={"description": "One of the record's merged_ids."})


class _Suggestion(Schema):
    score = fields.Float(metadata={"description": "0..1, higher is more likely the same"})
    reasons = fields.List(fields.String(), metadata={
        "description": "same_email, same_phone, same_email_domain_similar_name, similar_name_same_company, "
                       "similar_name (contacts); same_domain_name, similar_name (companies)"})


class ContactDuplicateSchema(_Suggestion):
    contact = fields.Nested(ContactSchema)


class CompanyDuplicateSchema(_Suggestion):
    company = fields.Nested(CompanySchema)


class ContactUnmergeResultSchema(Schema):
    primary = fields.Nested(ContactSchema)
    restored = fields.Nested(ContactSchema)


class CompanyUnmergeResultSchema(Schema):
    primary = fields.Nested(CompanySchema)
    restored = fields.Nested(CompanySchema)
