"""Imports and exports in and out: the upload's form fields, the export request, job status."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from crm_http.fields import RecordSchema, UtcDateTime
from crm_http.jsontext import BadText, decode_json

OBJECT = fields.String(required=True, validate=validate.OneOf(("contacts", "companies")))
ON_DUPLICATE = ("skip", "update", "create")


class ImportFormSchema(Schema):
    """The multipart form fields beside `file` (all strings on the wire)."""

    object = OBJECT
    mapping = fields.String(validate=validate.Length(max=100_000), allow_none=True,
                            metadata={"description": 'JSON object: CSV column -> field key ("" or null ignores the column)'})
    on_duplicate = fields.String(load_default="skip", validate=validate.OneOf(ON_DUPLICATE))
    dry_run = fields.Boolean(load_default=False)

    @post_load
    def parse_mapping(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        raw = data.get("mapping")
        if raw is None or not raw.strip():
            data["mapping"] = {}
            return data
        try:
            mapping = decode_json(raw)
        except BadText as exc:
            raise ValidationError({"mapping" if exc.path == "_body" else f"mapping.{exc.path}": [exc.message]}) from exc
        except ValueError as exc:
            raise ValidationError({"mapping": [f"Not valid JSON: {exc}"]}) from exc
        if not isinstance(mapping, dict) or not all(isinstance(v, str | type(None)) for v in mapping.values()):
            raise ValidationError({"mapping": ['Expected a JSON object of CSV column -> field key, e.g. {"E-Mail": "email"}.']})
        data["mapping"] = mapping
        return data


class ExportCreateSchema(Schema):
    object = OBJECT
    filter = fields.String(validate=validate.Length(max=4000), allow_none=True,
                           metadata={"description": "Filter expression, as in list filters"})
    q = fields.String(validate=validate.Length(max=500), allow_none=True,
                      metadata={"description": "Free-text search, as `?q=` of the list (with the filter: both must match)"})
    properties = fields.List(fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(min=1, max=300),
                             allow_none=True, metadata={"description": "Fields to export (default: all built-in and active custom fields)"})


class BackgroundJobSchema(RecordSchema):
    kind = fields.String()
    object = fields.String()
    status = fields.String(metadata={"description": "queued | running | completed | failed"})
    rows_total = fields.Integer(allow_none=True)
    rows_processed = fields.Integer()
    error = fields.String(allow_none=True)
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


def _param(name: str) -> fields.Function:
    return fields.Function(lambda job: (job.params or {}).get(name))


class ImportJobSchema(BackgroundJobSchema):
    created = fields.Integer()
    updated = fields.Integer()
    skipped = fields.Integer()
    failed = fields.Integer()
    dry_run = _param("dry_run")
    on_duplicate = _param("on_duplicate")
    filename = _param("filename")
    bytes = _param("bytes")
    mapping = fields.Function(lambda job: (job.params or {}).get("columns_mapped"),
                              metadata={"description": "CSV column -> field key, as applied (once the job has started)"})
    ignored_columns = _param("ignored_columns")
    errors_url = fields.Function(lambda job: f"/v1/imports/{job.id}/errors")


class ExportJobSchema(BackgroundJobSchema):
    filter = _param("filter")
    q = _param("q")
    properties = _param("properties")
    file_url = fields.Function(lambda job: f"/v1/exports/{job.id}/file" if job.status == "completed" else None)


SCHEMAS: dict[str, Schema] = {}


def dump_job(job: Any) -> dict[str, Any]:
    """Each kind with its own fields (imports their counts, exports their file)."""
    kind = job.kind if job.kind in ("import", "export") else "job"
    if kind not in SCHEMAS:
        SCHEMAS[kind] = {"import": ImportJobSchema, "export": ExportJobSchema}.get(kind, BackgroundJobSchema)()
    return SCHEMAS[kind].dump(job)
