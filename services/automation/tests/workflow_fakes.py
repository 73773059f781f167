"""A small action registry for unit tests of the definition and engine (the real actions call
the services and have tests of their own against them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema
from marshmallow import fields as f

from automation.workflows.steps import StepContext, StepError, Writes


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class UpdateFields(_Strict):
    fields = f.Dict(required=True)
    record = f.String()


class Title(_Strict):
    title = f.String(required=True)
    due_in_days = f.Integer()


class Enrol(_Strict):
    workflow_id = f.String(required=True)


class FakeAction:
    def __init__(self, type: str, schema: type[Schema], writes: Writes, calls: list[tuple[str, dict[str, Any]]],
                 fail: list[str] | None = None) -> None:
        self.type, self.schema, self.record_types, self._writes = type, schema, None, writes
        self.calls, self.fail = calls, fail if fail is not None else []

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        if self.type == "update_record":
            return Writes(frozenset({f"crm.{record_type}.updated"}), frozenset(params["fields"]))
        return self._writes

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise StepError(self.fail.pop(0), retryable=True)
        self.calls.append((ctx.idempotency_key, dict(params)))
        if self.type == "enrol":
            import uuid

            ctx.enrolments.append(("start", uuid.UUID(params["workflow_id"]), ctx.record_id))
        return {"done": self.type}

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"would": self.type, **params}


def fake_actions(calls: list[tuple[str, dict[str, Any]]] | None = None, fail: list[str] | None = None) -> dict[str, FakeAction]:
    calls = calls if calls is not None else []
    return {
        "create_task": FakeAction("create_task", Title, Writes(frozenset({"crm.task.created"})), calls, fail),
        "update_record": FakeAction("update_record", UpdateFields, Writes(frozenset()), calls, fail),
        "create_deal": FakeAction("create_deal", Title, Writes(frozenset({"crm.deal.created"})), calls, fail),
        "enrol": FakeAction("enrol", Enrol, Writes(frozenset()), calls, fail),
    }
