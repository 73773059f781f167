"""A deal's change log (models.sales.DealChange): written by the deal use cases, read at
GET /v1/deals/{id}/history, published as events.

Rows are only inserted, never updated: a stage change's exited_at and duration come from the
deal's next stage change when the history is read.

Events (reporting computes cycle length, conversion and time in stage from them):
- crm.deal.stage_changed: the deal after the move, plus from_stage_id, to_stage_id, entered_at,
  previous_stage_entered_at and previous_stage_duration_seconds (null for the first stage).
- crm.deal.changed: one per logged field change, the deal plus
  `change` {id, field, old_value, new_value, changed_at, changed_by} (stage moves too, as field stage_id).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import BadRequest
from crm_core.ids import uuid7
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from crm_http.auth import require_scope
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, json_response
from crm_http.rows import utc_text
from crm_runtime.service import ServiceRuntime
from pipeline.models import Deal
from pipeline.models.sales import LOGGED_FIELDS, DealChange
from pipeline.schemas import DealChangeSchema, DealHistoryEntrySchema, as_utc

HISTORY_FIELDS = ("stage_id", *LOGGED_FIELDS)


def _seconds(start: dt.datetime, end: dt.datetime) -> int:
    return int((as_utc(end) - as_utc(start)).total_seconds())


class DealHistory:
    """Writes the change log rows and their events, in the deal's transaction."""

    def __init__(self, outbox: Outbox, serialize: Callable[[Deal], dict[str, Any]]) -> None:
        self.outbox = outbox
        self.serialize = serialize
        self.row_out = DealChangeSchema()

    def _add(self, session: Session, deal: Deal, field: str, old: Any, new: Any, at: dt.datetime,
             from_stage: uuid.UUID | None = None, to_stage: uuid.UUID | None = None) -> DealChange:
        principal = context.current_principal()
        row = DealChange(deal_id=deal.id, field=field, old_value=old, new_value=new, from_stage_id=from_stage,
                         to_stage_id=to_stage, changed_at=at, changed_by=principal.user_id if principal else None)
        session.add(row)
        return row

    def stage_entered(self, session: Session, deal: Deal, from_stage: uuid.UUID | None,
                      previous_entered_at: dt.datetime | None, body: dict[str, Any] | None = None) -> None:
        """The deal entered its current stage (at deal.stage_entered_at); from_stage None: it was created there."""
        at = deal.stage_entered_at or utcnow()
        row = self._add(session, deal, "stage_id", str(from_stage) if from_stage else None, str(deal.stage_id), at,
                        from_stage, deal.stage_id)
        if from_stage is None:
            return  # the deal's created event says where it starts
        session.flush()
        data = body or self.serialize(deal)
        duration = _seconds(previous_entered_at, at) if previous_entered_at is not None else None
        self.outbox.emit(session, "crm.deal.stage_changed", deal.id, {
            **data, "from_stage_id": str(from_stage), "to_stage_id": str(deal.stage_id), "entered_at": data["stage_entered_at"],
            "previous_stage_entered_at": utc_text(previous_entered_at),
            "previous_stage_duration_seconds": duration})
        self._changed(session, deal, row, data)

    def fields_changed(self, session: Session, deal: Deal, changes: dict[str, list[Any]], body: dict[str, Any]) -> None:
        """One row and one crm.deal.changed event per logged field in `changes` (API values, old and new)."""
        at = utcnow()
        rows = [self._add(session, deal, f, changes[f][0], changes[f][1], at) for f in LOGGED_FIELDS if f in changes]
        if rows:
            session.flush()
        for row in rows:
            self._changed(session, deal, row, body)

    def _changed(self, session: Session, deal: Deal, row: DealChange, body: dict[str, Any]) -> None:
        change = self.row_out.dump(row)
        del change["deal_id"]
        self.outbox.emit(session, "crm.deal.changed", deal.id, {**body, "change": change})


def log_bulk_changes(session: Session, outbox: Outbox, changes: list[tuple[uuid.UUID, str, Any, Any]]) -> None:
    """Change-log rows and crm.deal.changed events for a bulk recalculation (a stage's probability
    or forecast category edited: its deals follow). The events carry the deal's id and the change,
    not the whole deal: a stage of 50,000 deals is one INSERT and one outbox write."""
    if not changes:
        return
    principal = context.current_principal()
    by = principal.user_id if principal else None
    at = utcnow()
    rows = [{"id": uuid7(), "deal_id": deal_id, "field": field, "old_value": old, "new_value": new, "changed_at": at,
             "changed_by": by, "tenant_id": context.require_tenant()} for deal_id, field, old, new in changes]
    session.execute(insert(DealChange), rows)
    out = DealChangeSchema()
    events = []
    for row in rows:
        change = out.dump(DealChange(**row))
        del change["deal_id"]
        events.append((row["deal_id"], {"id": str(row["deal_id"]), "change": change, "bulk": True}))
    outbox.emit_many(session, "crm.deal.changed", events)


def history_page(session: Session, deal_id: uuid.UUID, fields: list[str] | None, limit: int,
                 cursor: str | None, now: dt.datetime) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the deal's history, newest first; stage changes get entered/exited/duration."""
    keys = parse_sort(None, {"changed_at": DealChange.changed_at, "id": DealChange.id}, "-changed_at,-id", DealChange.id)
    stmt = select(DealChange).where(DealChange.deal_id == deal_id)
    if fields:
        stmt = stmt.where(DealChange.field.in_(fields))
    rows, next_cursor = paginate(session, stmt, keys, limit, cursor)
    exits: dict[uuid.UUID, dt.datetime] = {}
    if any(r.field == "stage_id" for r in rows):
        # A deal has few stage changes: read them all once, each one's exit is the next one's entry.
        moves = session.execute(select(DealChange.id, DealChange.changed_at).where(
            DealChange.deal_id == deal_id, DealChange.field == "stage_id").order_by(DealChange.changed_at, DealChange.id)).all()
        exits = {a.id: b.changed_at for a, b in zip(moves, moves[1:], strict=False)}
    out, schema = [], DealHistoryEntrySchema()
    for row in rows:
        entry: dict[str, Any] = {"entered_at": None, "exited_at": None, "duration_seconds": None}
        if row.field == "stage_id":
            exited = exits.get(row.id)
            entry = {"entered_at": row.changed_at, "exited_at": exited,
                     "duration_seconds": _seconds(row.changed_at, exited or now)}
        out.append(schema.dump({**{c: getattr(row, c) for c in DealChangeSchema().fields}, **entry}))
    return out, next_cursor


def register_history(bp: Blueprint, runtime: ServiceRuntime, get_deal: Callable[[Session, uuid.UUID], Any],
                     now: Callable[[], dt.datetime] = utcnow) -> None:
    def deal_history(deal_id: str) -> Response:
        require_scope("pipeline:read")
        rid = parse_uuid(deal_id, "deal")
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        wanted = [f.strip() for f in (request.args.get("field") or "").split(",") if f.strip()]
        unknown = [f for f in wanted if f not in HISTORY_FIELDS]
        if unknown:
            raise BadRequest(f"Unknown history field {unknown[0]!r}.", errors={"field": [f"Use {', '.join(HISTORY_FIELDS)}."]})
        with runtime.db.transaction() as session:
            get_deal(session, rid)  # 404 for an unknown deal or another tenant's
            data, next_cursor = history_page(session, rid, wanted, limit, request.args.get("cursor"), now())
        return json_response({"data": data, "next_cursor": next_cursor})

    bp.add_url_rule("/v1/deals/<deal_id>/history", "deal_history", deal_history, methods=["GET"])
    id_param = {"name": "deal_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    field_param = {"name": "field", "in": "query", "schema": {"type": "string"},
                   "description": "Only these fields (comma-separated): " + ", ".join(HISTORY_FIELDS)}
    runtime.doc.operation(
        "/v1/deals/{deal_id}/history", "get", tag="Deals", scope="pipeline:read", response=DealHistoryEntrySchema, list_of=True,
        summary="A deal's immutable change log, newest first: stage changes (with time in stage) and changes of "
                "amount, expected_close_date, owner_id, probability, forecast_category and status",
        parameters=[id_param, *[p for p in LIST_PARAMS if p["name"] != "sort"], field_param], extra_responses={404: "Not found"})
