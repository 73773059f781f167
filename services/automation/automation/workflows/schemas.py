"""Workflow answers (the request side is definition.py's WorkflowSchema, checked in full there)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from automation.workflows.models import RUN_STATUSES
from crm_http.fields import RecordSchema, UtcDateTime


class WorkflowInDoc(Schema):
    """The request body, for the API document (docs/workflows.md has every trigger and step)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(allow_none=True)
    enabled = fields.Boolean()
    trigger = fields.Dict(required=True, metadata={"description": "type: event | schedule | webhook | manual; see docs/workflows.md"})
    steps = fields.List(fields.Dict(), required=True, metadata={"description": "Each {id, type, ...}; see docs/workflows.md"})


class WorkflowPatchDoc(Schema):
    """A change: any of the fields; the rest stay as they are (a change of trigger or steps is a new version)."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(allow_none=True)
    enabled = fields.Boolean()
    trigger = fields.Dict()
    steps = fields.List(fields.Dict())


class WorkflowSchema(RecordSchema):
    name = fields.String()
    description = fields.String(allow_none=True)
    enabled = fields.Boolean()
    trigger = fields.Method("_trigger")
    steps = fields.Method("_steps")
    version_number = fields.Integer(metadata={"description": "The definition's version: every saved change of trigger or steps adds one."})
    created_by = fields.UUID(allow_none=True)
    webhook_configured = fields.Method(
        "_webhook", metadata={"description": "A webhook trigger: its secret URL exists (shown once, at creation)."})

    def _trigger(self, obj: Any) -> dict[str, Any]:
        return dict(obj.definition.get("trigger") or {})

    def _steps(self, obj: Any) -> list[dict[str, Any]]:
        return list(obj.definition.get("steps") or [])

    def _webhook(self, obj: Any) -> bool:
        return obj.hook_secret_hash is not None


class WorkflowCreatedSchema(WorkflowSchema):
    """The create answer: a webhook trigger's URL and signing secret appear here only."""

    webhook_url = fields.String(allow_none=True)
    webhook_signing_secret = fields.String(allow_none=True)


class VersionSchema(Schema):
    number = fields.Integer()
    definition = fields.Dict()
    created_at = UtcDateTime()
    created_by = fields.UUID(allow_none=True)


class RunStepSchema(Schema):
    step_id = fields.String()
    type = fields.String()
    sequence = fields.Integer()
    status = fields.String(metadata={"description": "running, retrying, waiting, succeeded, failed, cancelled"})
    input = fields.Dict(allow_none=True)
    output = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)
    attempts = fields.Integer()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


class RunSchema(RecordSchema):
    workflow_id = fields.UUID()
    workflow_version = fields.Integer()
    status = fields.String(metadata={"enum": list(RUN_STATUSES)})
    record_type = fields.String(allow_none=True)
    record_id = fields.String(allow_none=True)
    trigger = fields.Method("_trigger")
    causation = fields.List(fields.String())
    current_step = fields.String(allow_none=True)
    waiting_until = UtcDateTime(allow_none=True)
    error = fields.String(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    started_by = fields.UUID(allow_none=True)

    def _trigger(self, obj: Any) -> dict[str, Any]:
        t = obj.trigger or {}
        if "specversion" in t:  # an event: what it was, not the whole envelope
            return {"type": "event", "event_id": t.get("id"), "event_type": t.get("type"), "origin": t.get("origin")}
        return dict(t)


class RunDetailSchema(RunSchema):
    steps = fields.List(fields.Nested(RunStepSchema))


class ManualStartSchema(Schema):
    record_ids = fields.List(fields.String(validate=validate.Length(min=1, max=100)), required=True,
                             validate=validate.Length(min=1, max=500))


class TestRequestSchema(Schema):
    record_ids = fields.List(fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(max=20))
    definition = fields.Dict(metadata={"description": "An unsaved definition ({trigger, steps}) to test instead of the saved one."})


class TestResultSchema(Schema):
    results = fields.List(fields.Dict())
