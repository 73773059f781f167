"""enrol and stop_workflow: start another workflow on this run's record, or stop its runs there.
The engine does the work, in the step's transaction, from ctx.enrolments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import fields

from automation.workflows.actions.base import StepSchema, load
from automation.workflows.steps import StepContext, Writes

# Writes.event_types of an enrol step: ENROLS + the workflow id, for the cycle check between
# workflows (an enrolment "triggers" that workflow as surely as an event it listens to).
ENROLS = "workflow.enrol:"


class WorkflowSchema(StepSchema):
    workflow_id = fields.UUID(required=True)


class Enrolment:
    schema = WorkflowSchema
    record_types = None  # the other workflow's run gets this run's record, if any

    def __init__(self, start: bool) -> None:
        self.start = start
        self.type = "enrol" if start else "stop_workflow"

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        return Writes(frozenset({f"{ENROLS}{params.get('workflow_id')}"}) if self.start else frozenset())

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        workflow = load(self.schema, params)["workflow_id"]
        ctx.enrolments.append(("start" if self.start else "stop", workflow, ctx.record_id))
        return {"workflow_id": str(workflow), "record_id": ctx.record_id}

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        workflow = load(self.schema, params)["workflow_id"]
        return {"workflow_id": str(workflow), "record_id": ctx.record_id, "would": self.type}
