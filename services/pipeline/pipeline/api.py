"""Pipeline routes: /v1/pipelines, /v1/deals (+ /history), /v1/tasks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from crm_core import context
from crm_http.auth import require_scope
from crm_http.openapi import ApiDoc
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, RecordRoutes, json_response
from crm_runtime.service import ServiceRuntime
from pipeline.deals import DealService
from pipeline.filters import Parser, as_bool, as_uuid, documented, equality_filters, one_of
from pipeline.models import STAGE_KINDS, TASK_TYPES, Deal, DealStageHistory, Pipeline, Task
from pipeline.schemas import (
    DealCreateSchema,
    DealInSchema,
    DealSchema,
    DealStageHistorySchema,
    PipelineCreateSchema,
    PipelineInSchema,
    PipelineSchema,
    TaskCreateSchema,
    TaskInSchema,
    TaskSchema,
)
from pipeline.service import PipelineService
from pipeline.task_routes import register_task_routes, with_due_range
from pipeline.tasks import TaskService

AREA = "pipeline"
Filters = dict[str, tuple[InstrumentedAttribute[Any], Parser]]

DEAL_FILTERS: Filters = {
    "pipeline_id": (Deal.pipeline_id, as_uuid), "stage_id": (Deal.stage_id, as_uuid),
    "status": (Deal.status, one_of(STAGE_KINDS)), "contact_id": (Deal.contact_id, as_uuid),
}
TASK_FILTERS: Filters = {
    "done": (Task.done, as_bool), "deal_id": (Task.deal_id, as_uuid), "contact_id": (Task.contact_id, as_uuid),
    "company_id": (Task.company_id, as_uuid), "ticket_id": (Task.ticket_id, as_uuid),
    "assignee_id": (Task.assignee_id, as_uuid), "type": (Task.type, one_of(TASK_TYPES)),
    "series_id": (Task.series_id, as_uuid),
}


def _register(bp: Blueprint, doc: ApiDoc, routes: RecordRoutes, filters: Filters | None = None) -> None:
    routes.list_filters = equality_filters(filters) if filters else None
    routes.register(bp, doc)
    if filters:  # re-declare the list operation with its filter parameters
        doc.operation(routes.base, "get", summary=f"List {routes.collection}", tag=routes.tag, scope=f"{AREA}:read",
                      response=type(routes.output_schema), list_of=True, parameters=[*LIST_PARAMS, *documented(filters)])


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    pipeline_out, deal_out, task_out = PipelineSchema(), DealSchema(), TaskSchema()
    pipelines = PipelineService(runtime.outbox, pipeline_out.dump)
    tasks = TaskService(runtime.outbox, task_out.dump)
    deals = DealService(runtime.outbox, deal_out.dump, tasks, pipelines)
    common: dict[str, Any] = {"area": AREA, "db": lambda: runtime.db, "idempotency": lambda: runtime.idempotency}
    _register(bp, runtime.doc, RecordRoutes(
        collection="pipelines", tag="Pipelines", service=lambda: pipelines, create_schema=PipelineCreateSchema(),
        update_schema=PipelineInSchema(), output_schema=pipeline_out, sortable={"name": Pipeline.name},
        before_list=lambda session: pipelines.create_default_pipeline(session, context.require_tenant()), **common))
    _register(bp, runtime.doc, RecordRoutes(
        collection="deals", tag="Deals", service=lambda: deals, create_schema=DealCreateSchema(),
        update_schema=DealInSchema(), output_schema=deal_out,
        sortable={"name": Deal.name, "expected_close_date": Deal.expected_close_date, "amount": Deal.amount}, **common), DEAL_FILTERS)
    task_list = RecordRoutes(
        collection="tasks", tag="Tasks", service=lambda: tasks, create_schema=TaskCreateSchema(),
        update_schema=TaskInSchema(), output_schema=task_out,
        sortable={"due_at": Task.due_at, "title": Task.title, "priority": Task.priority}, **common)
    _register(bp, runtime.doc, task_list, TASK_FILTERS)
    with_due_range(runtime.doc, task_list, documented(TASK_FILTERS))
    register_history(bp, runtime, deals)
    register_task_routes(bp, runtime, tasks)


def register_history(bp: Blueprint, runtime: ServiceRuntime, deals: DealService) -> None:
    out = DealStageHistorySchema()

    def deal_history(deal_id: str) -> Response:
        require_scope(f"{AREA}:read")
        rid = parse_uuid(deal_id, "deal")
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        keys = parse_sort(request.args.get("sort"), {"changed_at": DealStageHistory.changed_at}, "-changed_at",
                          DealStageHistory.id)
        with runtime.db.transaction() as session:
            deals.get(session, rid)  # 404 for an unknown deal or another tenant's
            stmt = select(DealStageHistory).where(DealStageHistory.deal_id == rid)
            rows, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
            data = [out.dump(r) for r in rows]
        return json_response({"data": data, "next_cursor": next_cursor})

    bp.add_url_rule("/v1/deals/<deal_id>/history", "deal_history", deal_history, methods=["GET"])
    id_param = {"name": "deal_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    runtime.doc.operation("/v1/deals/{deal_id}/history", "get", summary="List a deal's stage changes, newest first",
                          tag="Deals", scope=f"{AREA}:read", response=DealStageHistorySchema, list_of=True,
                          parameters=[id_param, *LIST_PARAMS], extra_responses={404: "Not found"})
