"""Routes beyond the tasks' CRUD: complete, snooze, the caller's agenda and follow-ups, and the
notifications (pipeline.notifications)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import Select

from crm_core.errors import BadRequest
from crm_http.auth import require_scope
from crm_http.openapi import ApiDoc
from crm_http.parsing import if_match_version, load, parse_uuid
from crm_http.resource import LIST_PARAMS, RecordRoutes, json_response, record_response
from crm_runtime.service import ServiceRuntime
from pipeline.agenda import agenda, follow_ups
from pipeline.models import Task
from pipeline.notifications import caller, register_notifications
from pipeline.schemas import AgendaSchema, FollowUpsSchema, SnoozeSchema, TaskCompletedSchema, TaskSchema
from pipeline.tasks import TaskService

AREA = "pipeline"
TASK_ID = [{"name": "task_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
           {"name": "If-Match", "in": "header", "schema": {"type": "string"}}]


DUE_RANGE = [{"name": "due_after", "in": "query", "schema": {"type": "string", "format": "date-time"},
              "description": "Only tasks due at or after this time (ISO 8601 with offset)."},
             {"name": "due_before", "in": "query", "schema": {"type": "string", "format": "date-time"},
              "description": "Only tasks due before this time."}]


def _moment(name: str) -> dt.datetime | None:
    raw = request.args.get(name, "")
    if raw == "":
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise BadRequest(f"Query parameter {name!r}: use an ISO 8601 time with an offset.",
                         errors={name: ["Use an ISO 8601 time with an offset, e.g. 2027-01-31T00:00:00Z."]})
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00 has no UTC form
        raise BadRequest(f"Query parameter {name!r}: out of range once converted to UTC.",
                         errors={name: ["Out of range once converted to UTC."]}) from None


def with_due_range(doc: ApiDoc, routes: RecordRoutes, parameters: list[dict[str, Any]]) -> None:
    """`?due_after=&due_before=` on the tasks list, beside its equality filters."""
    equal = routes.list_filters

    def apply(stmt: Select[Any]) -> Select[Any]:
        stmt = equal(stmt) if equal is not None else stmt
        after, before = _moment("due_after"), _moment("due_before")
        if after is not None:
            stmt = stmt.where(Task.due_at >= after)
        if before is not None:
            stmt = stmt.where(Task.due_at < before)
        return stmt

    routes.list_filters = apply
    doc.operation(routes.base, "get", summary="List tasks", tag=routes.tag, scope=f"{AREA}:read",
                  response=type(routes.output_schema), list_of=True, parameters=[*LIST_PARAMS, *parameters, *DUE_RANGE])


def register_task_routes(bp: Blueprint, runtime: ServiceRuntime, tasks: TaskService) -> None:
    task_out = TaskSchema()
    agenda_out, follow_ups_out, snooze_in = AgendaSchema(), FollowUpsSchema(), SnoozeSchema()

    def complete(task_id: str) -> Response:
        require_scope(f"{AREA}:write")
        rid, expected = parse_uuid(task_id, "task"), if_match_version()
        with runtime.db.transaction() as session:
            task, nxt = tasks.complete(session, rid, expected)
            body = task_out.dump(task)
            body["next_occurrence"] = task_out.dump(nxt) if nxt is not None else None
        return record_response(body)

    def snooze(task_id: str) -> Response:
        require_scope(f"{AREA}:write")
        rid, expected = parse_uuid(task_id, "task"), if_match_version()
        until = load(snooze_in)["until"]
        with runtime.db.transaction() as session:
            body = task_out.dump(tasks.snooze(session, rid, until, expected))
        return record_response(body)

    def my_agenda() -> Response:
        require_scope(f"{AREA}:read")
        user = caller()
        with runtime.db.transaction() as session:
            body = agenda_out.dump(agenda(session, user, tasks.now()))
        return json_response(body)

    def my_follow_ups() -> Response:
        require_scope(f"{AREA}:read")
        user = caller()
        with runtime.db.transaction() as session:
            body = follow_ups_out.dump(follow_ups(session, user, tasks.now()))
        return json_response(body)

    bp.add_url_rule("/v1/tasks/<task_id>/complete", "complete_task", complete, methods=["POST"])
    bp.add_url_rule("/v1/tasks/<task_id>/snooze", "snooze_task", snooze, methods=["POST"])
    bp.add_url_rule("/v1/tasks/agenda", "task_agenda", my_agenda, methods=["GET"])
    bp.add_url_rule("/v1/follow-ups", "follow_ups", my_follow_ups, methods=["GET"])
    doc = runtime.doc
    missing = {404: "Not found", 412: "Stale If-Match"}
    doc.operation("/v1/tasks/{task_id}/complete", "post", tag="Tasks", scope=f"{AREA}:write",
                  summary="Complete a task (a recurring one gets its next occurrence)", response=TaskCompletedSchema,
                  parameters=TASK_ID, extra_responses=missing)
    doc.operation("/v1/tasks/{task_id}/snooze", "post", tag="Tasks", scope=f"{AREA}:write",
                  summary="Snooze a task's reminders until a time", request=SnoozeSchema, response=TaskSchema,
                  parameters=TASK_ID, extra_responses={**missing, 409: "The task is done", 422: "Invalid fields"})
    doc.operation("/v1/tasks/agenda", "get", tag="Tasks", scope=f"{AREA}:read", response=AgendaSchema,
                  summary="The caller's open tasks: overdue, today, next 7 days (in the caller's time zone)")
    doc.operation("/v1/follow-ups", "get", tag="Tasks", scope=f"{AREA}:read", response=FollowUpsSchema,
                  summary="The caller's deals without next activity, rotten deals, and contacts not talked to lately")
    register_notifications(bp, runtime)
