"""Pipeline routes: /v1/pipelines (+ stage deletion), /v1/deals (+ history, line items), /v1/tasks,
/v1/products, /v1/exchange-rates, /v1/settings/pipeline, /v1/properties/deals."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy.orm import InstrumentedAttribute

from crm_core import context
from crm_core.errors import BadRequest, NotFound
from crm_http.auth import require_scope
from crm_http.openapi import ApiDoc
from crm_http.parsing import if_match_version, parse_uuid
from crm_http.resource import RecordRoutes, list_params, record_response
from crm_runtime.service import ServiceRuntime
from pipeline.calendar_feed import register_calendar
from pipeline.deal_properties import register_deal_properties
from pipeline.deals import DealService
from pipeline.exchange_rates import ExchangeRateService
from pipeline.filters import (
    Parser,
    as_bool,
    as_uuid,
    deal_fields,
    documented,
    equality_filters,
    one_of,
    product_fields,
    search_deals,
    search_products,
)
from pipeline.history import register_history
from pipeline.models import STAGE_KINDS, TASK_TYPES, Deal, Pipeline, Task
from pipeline.products import LineItemService, ProductService, register_line_items
from pipeline.sales_api import register_sales_views
from pipeline.schemas import (
    DealCreateSchema,
    DealInSchema,
    DealSchema,
    ExchangeRateCreateSchema,
    ExchangeRateInSchema,
    ExchangeRateSchema,
    LineItemSchema,
    PipelineCreateSchema,
    PipelineInSchema,
    PipelineSchema,
    ProductCreateSchema,
    ProductInSchema,
    ProductSchema,
    TaskCreateSchema,
    TaskInSchema,
    TaskSchema,
)
from pipeline.service import PipelineService
from pipeline.settings import register_settings
from pipeline.task_routes import register_task_routes, with_due_range
from pipeline.tasks import TaskService

AREA = "pipeline"
Filters = dict[str, tuple[InstrumentedAttribute[Any], Parser]]

# The equality parameters deals had before `filter=`; kept for existing clients.
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
DEAL_FILTER_DOC = (" On deals: every field of a deal (`status`, `stage_id`, `owner_id`, `expected_close_date`, `amount`, "
                   "`amount_in_base`, `probability`, `forecast_category`, `rotten`, ...) and its custom fields, e.g. "
                   "`status = 'open' and expected_close_date <= '2026-12-31' and amount_in_base >= 10000`. "
                   "amount_in_base is null (matches no comparison) for a currency without an exchange rate.")


def _register(bp: Blueprint, doc: ApiDoc, routes: RecordRoutes, filters: Filters | None = None) -> None:
    routes.list_filters = equality_filters(filters) if filters else None
    routes.register(bp, doc)
    if filters:  # re-declare the list operation with its filter parameters
        params = list_params(filterable=routes.fields is not None, searchable=routes.search is not None)
        if routes.collection == "deals":
            params = [{**p, "description": p["description"] + DEAL_FILTER_DOC} if p["name"] == "filter" else p for p in params]
        doc.operation(routes.base, "get", summary=f"List {routes.collection}", tag=routes.tag, scope=f"{AREA}:read",
                      response=type(routes.output_schema), list_of=True, parameters=[*params, *documented(filters)])


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    pipeline_out, deal_out, task_out = PipelineSchema(), DealSchema(), TaskSchema()
    pipelines = PipelineService(runtime.outbox, pipeline_out.dump)
    tasks = TaskService(runtime.outbox, task_out.dump)
    deals = DealService(runtime.outbox, deal_out.dump, tasks, pipelines)
    pipelines.deal_mover = deals.move
    common: dict[str, Any] = {"area": AREA, "db": lambda: runtime.db, "idempotency": lambda: runtime.idempotency}
    _register(bp, runtime.doc, RecordRoutes(
        collection="pipelines", tag="Pipelines", service=lambda: pipelines, create_schema=PipelineCreateSchema(),
        update_schema=PipelineInSchema(), output_schema=pipeline_out, sortable={"name": Pipeline.name},
        before_list=lambda session: pipelines.create_default_pipeline(session, context.require_tenant()), **common))
    _register(bp, runtime.doc, RecordRoutes(
        collection="deals", tag="Deals", service=lambda: deals, create_schema=DealCreateSchema(),
        update_schema=DealInSchema(), output_schema=deal_out, fields=deal_fields, search=search_deals, **common), DEAL_FILTERS)
    task_list = RecordRoutes(
        collection="tasks", tag="Tasks", service=lambda: tasks, create_schema=TaskCreateSchema(),
        update_schema=TaskInSchema(), output_schema=task_out,
        sortable={"due_at": Task.due_at, "title": Task.title, "priority": Task.priority}, **common)
    _register(bp, runtime.doc, task_list, TASK_FILTERS)
    with_due_range(runtime.doc, task_list, documented(TASK_FILTERS))
    register_history(bp, runtime, deals.get)
    register_sales(bp, runtime, deals)
    register_stage_delete(bp, runtime, pipelines)
    register_calendar(bp, runtime)
    register_sales_views(bp, runtime)
    register_task_routes(bp, runtime, tasks)


def register_sales(bp: Blueprint, runtime: ServiceRuntime, deals: DealService) -> None:
    """Products, line items, exchange rates, the pipeline settings and deal custom fields."""
    common: dict[str, Any] = {"area": AREA, "db": lambda: runtime.db, "idempotency": lambda: runtime.idempotency}
    product_out, rate_out = ProductSchema(), ExchangeRateSchema()
    products = ProductService(runtime.outbox, product_out.dump)
    rates = ExchangeRateService(runtime.outbox, rate_out.dump)
    RecordRoutes(collection="products", tag="Products", service=lambda: products, create_schema=ProductCreateSchema(),
                 update_schema=ProductInSchema(), output_schema=product_out, fields=product_fields, search=search_products,
                 default_sort="name", **common).register(bp, runtime.doc)
    RecordRoutes(collection="exchange-rates", tag="Exchange rates", service=lambda: rates,
                 create_schema=ExchangeRateCreateSchema(), update_schema=ExchangeRateInSchema(), output_schema=rate_out,
                 sortable={"currency": rates.model.currency}, default_sort="currency", admin_writes=True,
                 **common).register(bp, runtime.doc)
    register_line_items(bp, runtime, LineItemService(runtime.outbox, LineItemSchema().dump, deals))
    register_settings(bp, runtime, on_base_change=rates.rebase)
    register_deal_properties(bp, runtime)


def register_stage_delete(bp: Blueprint, runtime: ServiceRuntime, pipelines: PipelineService) -> None:
    """DELETE /v1/pipelines/{id}/stages/{stage_id}?move_to=<stage>: a stage list edit leaving the stage
    out, its deals (if any) moving to `move_to` (a stage of the same pipeline and kind)."""
    out = PipelineSchema()

    def delete_stage(pipeline_id: str, stage_id: str) -> Response:
        require_scope(f"{AREA}:write")
        pid, sid = parse_uuid(pipeline_id, "pipeline"), parse_uuid(stage_id, "stage")
        raw_target = request.args.get("move_to")
        try:
            target = parse_uuid(raw_target, "stage") if raw_target else None
        except Exception as exc:  # the parser's own 404/400 names a path id: this is a query parameter
            raise BadRequest("Query parameter 'move_to': Not a UUID.", errors={"move_to": ["Not a UUID."]}) from exc
        expected = if_match_version()
        with runtime.db.transaction() as session:
            pipeline = pipelines.get(session, pid)
            if all(s.id != sid for s in pipeline.stages):
                raise NotFound(f"No stage {sid} in pipeline {pid}.")
            values: dict[str, Any] = {"stages": [{"id": s.id} for s in pipeline.stages if s.id != sid]}
            if target is not None:
                values["move_deals_to"] = {sid: target}
            body = out.dump(pipelines.update(session, pid, values, expected))
        return record_response(body)

    bp.add_url_rule("/v1/pipelines/<pipeline_id>/stages/<stage_id>", "pipeline_stage_delete", delete_stage, methods=["DELETE"])
    ids = [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
           for n in ("pipeline_id", "stage_id")]
    runtime.doc.operation(
        "/v1/pipelines/{pipeline_id}/stages/{stage_id}", "delete", tag="Pipelines", scope=f"{AREA}:write",
        summary="Delete a stage; one that holds deals needs move_to (a stage of the same kind), where they move "
                "(each with a history entry). Answers the pipeline.", response=PipelineSchema,
        parameters=[*ids, {"name": "move_to", "in": "query", "schema": {"type": "string", "format": "uuid"}},
                    {"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
        extra_responses={404: "Not found", 409: "The stage has deals and no move_to", 412: "Stale If-Match",
                         422: "Invalid move_to"})

