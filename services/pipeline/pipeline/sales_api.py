"""Routes of the board, the forecast, its snapshots and accuracy, and /v1/sales-targets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import and_
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from crm_core.errors import BadRequest
from crm_db.base import utcnow
from crm_http.auth import require_scope
from crm_http.pagination import MAX_LIMIT
from crm_http.parsing import parse_uuid, query_int
from crm_http.resource import FILTER_PARAM, LIST_PARAMS, RecordRoutes, json_response
from crm_query import compile_filter
from crm_runtime.service import ServiceRuntime
from pipeline import board, forecast, snapshots
from pipeline.filters import as_uuid, deal_fields, deal_search, documented, equality_filters, one_of
from pipeline.forecast_schemas import (
    AccuracySchema,
    BoardSchema,
    ForecastSchema,
    ForecastSnapshotSchema,
    SalesTargetCreateSchema,
    SalesTargetInSchema,
    SalesTargetSchema,
    StageCardsSchema,
)
from pipeline.models import Deal
from pipeline.models.forecast import PERIODS, SalesTarget
from pipeline.periods import parse_kind, parse_range
from pipeline.sales_targets import SalesTargetService

AREA = "pipeline"
BOARD_LIMIT = 20  # cards per stage on the board's first load
DEFAULT_PERIODS = {"month": 6, "quarter": 4}
TARGET_FILTERS = {"owner_id": (SalesTarget.owner_id, as_uuid), "period": (SalesTarget.period, one_of(PERIODS))}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": "string", **schema}, "description": description}


PERIOD_PARAMS = [
    _query("period", "Period length (default month).", enum=["month", "quarter"]),
    _query("from", "First period: YYYY-MM, or YYYY-Qn for quarters (default: the current one)."),
    _query("to", "Last period, inclusive (default: 6 months or 4 quarters from `from`; at most 24 periods)."),
]

BOARD_PARAMS = [
    _query("owner_id", "Only deals of this owner (and-ed with filter).", format="uuid"),
    _query("q", "Free-text search: every word occurs in the deal's name (and-ed with filter)."),
]


def register_sales_views(bp: Blueprint, runtime: ServiceRuntime, now: Callable[[], dt.datetime] = utcnow) -> None:
    def deal_filter(session: Session) -> ColumnElement[bool] | None:
        # The same fields as GET /v1/deals, custom fields included: one filter means one thing
        # everywhere. Without a filter no field registry is built (it reads the custom fields).
        text = request.args.get("filter")
        if not text or not text.strip():
            return None
        return compile_filter(text, deal_fields(session), runtime.db.engine.dialect.name)

    def board_filter(session: Session) -> ColumnElement[bool] | None:
        # The board's own shortcuts, as on GET /v1/deals: owner_id= and q= (words of the name),
        # and-ed with filter=.
        parts = [c for c in (deal_filter(session),) if c is not None]
        owner = (request.args.get("owner_id") or "").strip()
        if owner:
            parts.append(Deal.owner_id == as_uuid("owner_id", owner))
        q = (request.args.get("q") or "").strip()
        if q:
            parts.append(deal_search(q))
        return and_(*parts) if parts else None

    def pipeline_board(pipeline_id: str) -> Response:
        require_scope(f"{AREA}:read")
        pid = parse_uuid(pipeline_id, "pipeline")
        limit = query_int("limit", BOARD_LIMIT, minimum=1, maximum=MAX_LIMIT)
        with runtime.db.transaction() as session:
            where = board_filter(session)
            body = board.board(session, pid, where, limit, now())
        return json_response(body)

    def stage_cards(pipeline_id: str, stage_id: str) -> Response:
        require_scope(f"{AREA}:read")
        pid, sid = parse_uuid(pipeline_id, "pipeline"), parse_uuid(stage_id, "stage")
        limit = query_int("limit", BOARD_LIMIT, minimum=1, maximum=MAX_LIMIT)
        with runtime.db.transaction() as session:
            where = board_filter(session)
            body = board.stage_cards(session, pid, sid, where, limit, request.args.get("cursor"), now())
        return json_response(body)

    def period_range() -> tuple[str, Any, Any]:
        kind = parse_kind(request.args.get("period"))
        first, last = parse_range(kind, request.args.get("from"), request.args.get("to"), now().date(),
                                  DEFAULT_PERIODS[kind])
        return kind, first, last

    def get_forecast() -> Response:
        require_scope(f"{AREA}:read")
        kind, first, last = period_range()
        group_by = (request.args.get("group_by") or "").strip() or None
        if group_by is not None and group_by not in forecast.GROUPS:
            raise BadRequest("Query parameter 'group_by': use owner or pipeline.",
                             errors={"group_by": ["Use owner or pipeline."]})
        with runtime.db.transaction() as session:
            where = deal_filter(session)
            body = forecast.forecast(session, kind, first, last, group_by, where)
        return json_response(body)

    def get_accuracy() -> Response:
        require_scope(f"{AREA}:read")
        kind, first, last = period_range()
        with runtime.db.transaction() as session:
            body = snapshots.accuracy(session, kind, first, last)
        return json_response(body)

    def take_snapshot() -> Response:
        require_scope(f"{AREA}:write")
        moment = now()
        with runtime.db.transaction() as session:
            snapshots.enter_schedule(session, snapshots.next_due(moment))
            body, created = snapshots.take_snapshot(session, runtime.outbox, moment)
        # 200 either way: "created" says whether this call took it or this week's existed already.
        return json_response({**body, "created": created})

    bp.add_url_rule("/v1/pipelines/<pipeline_id>/board", "pipeline_board", pipeline_board, methods=["GET"])
    bp.add_url_rule("/v1/pipelines/<pipeline_id>/board/stages/<stage_id>/cards", "pipeline_board_stage_cards",
                    stage_cards, methods=["GET"])
    bp.add_url_rule("/v1/forecast", "forecast", get_forecast, methods=["GET"])
    bp.add_url_rule("/v1/forecast/accuracy", "forecast_accuracy", get_accuracy, methods=["GET"])
    bp.add_url_rule("/v1/forecast/snapshots", "forecast_snapshot_take", take_snapshot, methods=["POST"])
    _document(runtime)
    _register_targets(bp, runtime)


def _register_targets(bp: Blueprint, runtime: ServiceRuntime) -> None:
    out = SalesTargetSchema()
    targets = SalesTargetService(runtime.outbox, out.dump)
    routes = RecordRoutes(
        collection="sales-targets", tag="Sales targets", area=AREA, db=lambda: runtime.db, service=lambda: targets,
        create_schema=SalesTargetCreateSchema(), update_schema=SalesTargetInSchema(), output_schema=out,
        idempotency=lambda: runtime.idempotency,
        sortable={"period_start": SalesTarget.period_start}, default_sort="period_start")
    routes.list_filters = equality_filters(TARGET_FILTERS)
    routes.register(bp, runtime.doc)
    runtime.doc.operation(routes.base, "get", summary="List sales targets", tag=routes.tag, scope=f"{AREA}:read",
                          response=SalesTargetSchema, list_of=True, parameters=[*LIST_PARAMS, *documented(TARGET_FILTERS)])


def _document(runtime: ServiceRuntime) -> None:
    doc, read = runtime.doc, f"{AREA}:read"
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                                        "default": BOARD_LIMIT}, "description": "Cards per stage."}
    doc.operation("/v1/pipelines/{pipeline_id}/board", "get", tag="Pipelines", scope=read, response=BoardSchema,
                  summary="The pipeline's board: per stage its count, totals per currency and in the base currency, "
                          "and its first cards",
                  parameters=[_path("pipeline_id"), FILTER_PARAM, *BOARD_PARAMS, limit],
                  extra_responses={400: "Bad filter", 404: "Not found"})
    doc.operation("/v1/pipelines/{pipeline_id}/board/stages/{stage_id}/cards", "get", tag="Pipelines", scope=read,
                  response=StageCardsSchema, summary="More cards of one board stage (its next_cursor)",
                  parameters=[_path("pipeline_id"), _path("stage_id"), FILTER_PARAM, *BOARD_PARAMS, limit,
                              {"name": "cursor", "in": "query", "schema": {"type": "string"}}],
                  extra_responses={400: "Bad filter or cursor", 404: "Not found"})
    doc.operation("/v1/forecast", "get", tag="Forecast", scope=read, response=ForecastSchema,
                  summary="Won, commit, best case, pipeline and weighted amounts per period, with quota and attainment",
                  parameters=[*PERIOD_PARAMS, _query("group_by", "Group by owner or pipeline.", enum=["owner", "pipeline"]),
                              FILTER_PARAM],
                  extra_responses={400: "Bad parameter"})
    doc.operation("/v1/forecast/accuracy", "get", tag="Forecast", scope=read, response=AccuracySchema,
                  summary="Past snapshots' commit, best case and weighted per period against what was won, "
                          "and the deals that slipped",
                  parameters=PERIOD_PARAMS, extra_responses={400: "Bad parameter"})
    doc.operation("/v1/forecast/snapshots", "post", tag="Forecast", scope=f"{AREA}:write", response=ForecastSnapshotSchema,
                  summary="Take this week's forecast snapshot now (once a week: answers the existing one after that)")
