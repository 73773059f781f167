"""GDPR shapes: the personal data export of one contact, and the answer to an erasure."""

from __future__ import annotations

from marshmallow import Schema, fields

from contacts.schemas.activities import ActivitySchema
from contacts.schemas.companies import CompanySchema
from contacts.schemas.contacts import ContactSchema
from crm_http.fields import UtcDateTime


class ExportedContactSchema(ContactSchema):
    archived_properties = fields.Dict(metadata={
        "description": "Values of archived (or no longer defined) custom fields: hidden from the API, still held."})


class MergeRecordSchema(Schema):
    """A merge this contact took part in, with the snapshot kept to undo it (it holds personal data)."""

    id = fields.UUID()
    object = fields.String()
    primary_id = fields.UUID()
    secondary_id = fields.UUID()
    created_at = UtcDateTime()
    undone_at = UtcDateTime(allow_none=True)
    snapshot = fields.Dict()


class ImportErrorRecordSchema(Schema):
    """A failed import row that mentions the contact's email, as the CSV had it."""

    job_id = fields.UUID()
    row_number = fields.Integer()
    reason = fields.String()
    row = fields.Dict()
    created_at = UtcDateTime()


class ContactExportSchema(Schema):
    contact = fields.Nested(ExportedContactSchema)
    activities = fields.List(fields.Nested(ActivitySchema), metadata={"description": "Its whole timeline, oldest first."})
    companies = fields.List(fields.Nested(CompanySchema), metadata={"description": "The companies it is linked to."})
    merges = fields.List(fields.Nested(MergeRecordSchema))
    import_errors = fields.List(fields.Nested(ImportErrorRecordSchema))
    events_note = fields.String()
    exported_at = UtcDateTime()


class ErasureSchema(Schema):
    id = fields.UUID(metadata={"description": "The erased contact (the survivor, when a merged id was given)."})
    merged_ids = fields.List(fields.String(), metadata={"description": "Ids merged into it; erased with it."})
    erased_at = UtcDateTime()
