"""The pipeline board: per stage, its deal count and totals, and the first page of its cards.

Three statements whatever the number of stages: the stages; the totals, one aggregate grouped by
(stage, currency) (on PostgreSQL without a filter, the few rows of deal_board_totals that a
trigger keeps in step with every deal write: aggregating 100,000 deals costs ~60 ms of database
CPU, too much for a screen that is opened all day); the first page of every stage at once (a LATERAL join on PostgreSQL, each
stage an index range scan on (tenant, stage, position, id) that stops after a page; a
row_number() window on SQLite). Cards are Core rows serialised here, never ORM objects.

Archived stages (archived_at set) are left off the board unless they still hold deals matching
the filter: then they are shown, flagged `archived`, so that no deal vanishes from the board and
the stage totals always add up to the pipeline's.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from crm_core import context
from crm_core.errors import NotFound
from crm_db.base import as_utc
from crm_http.fields import money_out
from crm_http.pagination import SortKey, encode_cursor, paginate
from crm_http.rows import utc_text
from pipeline.models import Deal, Pipeline, PipelineStage
from pipeline.models.forecast import DealBoardTotals

CARD_COLUMNS = (Deal.id, Deal.stage_id, Deal.number, Deal.name, Deal.amount, Deal.currency, Deal.amount_in_base,
                Deal.owner_id, Deal.expected_close_date, Deal.probability, Deal.rots_at, Deal.next_activity_at,
                Deal.position, Deal.version)
# Board order within a stage; both columns are NOT NULL, so a cursor is one row comparison.
CARD_KEYS = [SortKey("position", Deal.position, False), SortKey("id", Deal.id, False)]
CENT = decimal.Decimal("0.01")
HUNDRED = decimal.Decimal(100)


def money_text(value: decimal.Decimal | float | int | None) -> str | None:
    """A sum as the API writes amounts: a decimal string with two places."""
    if value is None:
        return None
    exact = value if type(value) is decimal.Decimal else decimal.Decimal(str(value))
    return str(exact.quantize(CENT, rounding=decimal.ROUND_HALF_EVEN))


def card(row: Any, now: dt.datetime) -> dict[str, Any]:
    """A deal card: what a board column shows, from a Core row of CARD_COLUMNS."""
    close = row.expected_close_date
    return {
        "id": str(row.id), "stage_id": str(row.stage_id), "version": row.version, "number": row.number, "name": row.name,
        "amount": money_out(row.amount, row.currency), "amount_in_base": money_text(row.amount_in_base),
        "owner_id": None if row.owner_id is None else str(row.owner_id),
        "expected_close_date": None if close is None else close.isoformat(), "probability": row.probability,
        "rotten": row.rots_at is not None and as_utc(row.rots_at) <= now,
        "next_activity_at": utc_text(row.next_activity_at), "position": row.position,
    }


def _pipeline_stages(session: Session, tenant: uuid.UUID, pipeline_id: uuid.UUID) -> tuple[str, list[Any]]:
    """The pipeline's name and its stages in order; 404 for another tenant's or an unknown pipeline."""
    stmt = (select(Pipeline.name.label("pipeline_name"), PipelineStage.id, PipelineStage.name, PipelineStage.position,
                   PipelineStage.probability, PipelineStage.kind, PipelineStage.archived_at)
            .select_from(Pipeline).outerjoin(PipelineStage, (PipelineStage.tenant_id == Pipeline.tenant_id)
                                             & (PipelineStage.pipeline_id == Pipeline.id))
            .where(Pipeline.tenant_id == tenant, Pipeline.id == pipeline_id)
            .order_by(PipelineStage.position))
    rows = session.connection().execute(stmt).all()
    if not rows:
        raise NotFound(f"No pipeline with id {pipeline_id}.")
    return rows[0].pipeline_name, [r for r in rows if r.id is not None]


def _totals(session: Session, tenant: uuid.UUID, pipeline_id: uuid.UUID,
            where: ColumnElement[bool] | None) -> dict[uuid.UUID, list[Any]]:
    """stage id -> its (currency, count, amount, amount × probability, base, base × probability) rows."""
    stmt = (select(Deal.stage_id, Deal.currency, func.count().label("n"), func.sum(Deal.amount).label("amount"),
                   func.sum(Deal.amount * Deal.probability).label("weighted"),
                   func.sum(Deal.amount_in_base).label("base"),
                   func.sum(Deal.amount_in_base * Deal.probability).label("base_weighted"))
            .where(Deal.tenant_id == tenant, Deal.pipeline_id == pipeline_id)
            .group_by(Deal.stage_id, Deal.currency))
    if where is not None:
        stmt = stmt.where(where)
    if where is None and session.get_bind().dialect.name == "postgresql":
        # The trigger-kept totals (pipeline.models.forecast.DealBoardTotals): a few rows per stage.
        t = DealBoardTotals.__table__
        stmt = (select(t.c.stage_id, func.nullif(t.c.currency, "").label("currency"), t.c.deal_count.label("n"),
                       t.c.amount, t.c.amount_weighted.label("weighted"), t.c.base, t.c.base_weighted)
                .where(t.c.tenant_id == tenant, t.c.pipeline_id == pipeline_id, t.c.deal_count != 0))
    found: dict[uuid.UUID, list[Any]] = {}
    for row in session.connection().execute(stmt):
        found.setdefault(row.stage_id, []).append(row)
    return found


def _first_pages(session: Session, tenant: uuid.UUID, pipeline_id: uuid.UUID, where: ColumnElement[bool] | None,
                 limit: int) -> dict[uuid.UUID, list[Any]]:
    """stage id -> its first limit + 1 cards in board order, all stages in one statement."""
    stages = PipelineStage.__table__
    if session.get_bind().dialect.name == "postgresql":
        page = select(*CARD_COLUMNS).where(Deal.tenant_id == tenant, Deal.stage_id == stages.c.id)
        if where is not None:
            page = page.where(where)
        cards = page.order_by(Deal.position, Deal.id).limit(limit + 1).lateral("cards")
        stmt: Select[Any] = (select(cards).select_from(stages).join(cards, true())
                             .where(stages.c.tenant_id == tenant, stages.c.pipeline_id == pipeline_id))
    else:
        rank = func.row_number().over(partition_by=Deal.stage_id, order_by=(Deal.position, Deal.id)).label("rank")
        ranked = select(*CARD_COLUMNS, rank).where(Deal.tenant_id == tenant, Deal.pipeline_id == pipeline_id)
        if where is not None:
            ranked = ranked.where(where)
        inner = ranked.subquery("ranked")
        stmt = select(*(inner.c[c.key] for c in CARD_COLUMNS)).where(inner.c.rank <= limit + 1).order_by(
            inner.c.stage_id, inner.c.position, inner.c.id)
    pages: dict[uuid.UUID, list[Any]] = {}
    for row in session.connection().execute(stmt):
        pages.setdefault(row.stage_id, []).append(row)
    return pages


def _stage_totals(rows: list[Any]) -> dict[str, Any]:
    """A stage's count, its totals per currency (deals without an amount count, but add nothing)
    and in the base currency; weighted = amount × probability / 100."""
    per_currency, count, base, base_weighted = [], 0, decimal.Decimal(0), decimal.Decimal(0)
    for r in sorted(rows, key=lambda r: r.currency or ""):
        count += r.n
        if r.currency is not None and r.amount is not None:
            per_currency.append({"currency": r.currency, "count": r.n, "total": money_text(r.amount),
                                 "weighted": money_text(decimal.Decimal(str(r.weighted)) / HUNDRED)})
        if r.base is not None:
            base += decimal.Decimal(str(r.base))
            base_weighted += decimal.Decimal(str(r.base_weighted)) / HUNDRED
    return {"count": count, "totals": per_currency,
            "base": {"total": money_text(base), "weighted": money_text(base_weighted)}}


def _next_cursor(page: list[Any], limit: int) -> str | None:
    if len(page) <= limit:
        return None
    last = page[limit - 1]
    return encode_cursor(CARD_KEYS, [last.position, last.id])


def board(session: Session, pipeline_id: uuid.UUID, where: ColumnElement[bool] | None, limit: int,
          now: dt.datetime) -> dict[str, Any]:
    tenant = context.require_tenant()
    name, stages = _pipeline_stages(session, tenant, pipeline_id)
    totals = _totals(session, tenant, pipeline_id, where)
    pages = _first_pages(session, tenant, pipeline_id, where, limit)
    out, count, base, base_weighted = [], 0, decimal.Decimal(0), decimal.Decimal(0)
    for s in stages:
        summary = _stage_totals(totals.get(s.id, []))
        if s.archived_at is not None and summary["count"] == 0:
            continue  # an archived stage with nothing (matching) left in it
        page = pages.get(s.id, [])
        count += summary["count"]
        base += decimal.Decimal(summary["base"]["total"])
        base_weighted += decimal.Decimal(summary["base"]["weighted"])
        out.append({"id": str(s.id), "name": s.name, "position": s.position, "probability": s.probability,
                    "kind": s.kind, "archived": s.archived_at is not None, **summary,
                    "cards": [card(r, now) for r in page[:limit]], "next_cursor": _next_cursor(page, limit)})
    return {"pipeline_id": str(pipeline_id), "name": name, "count": count,
            "base": {"total": money_text(base), "weighted": money_text(base_weighted)}, "stages": out}


def stage_cards(session: Session, pipeline_id: uuid.UUID, stage_id: uuid.UUID, where: ColumnElement[bool] | None,
                limit: int, cursor: str | None, now: dt.datetime) -> dict[str, Any]:
    """One more page of a stage's cards (the board's `next_cursor` of that stage)."""
    tenant = context.require_tenant()
    found = session.connection().execute(select(PipelineStage.id).where(
        PipelineStage.tenant_id == tenant, PipelineStage.pipeline_id == pipeline_id, PipelineStage.id == stage_id)).first()
    if found is None:
        raise NotFound(f"No stage {stage_id} in pipeline {pipeline_id}.")
    stmt = select(*CARD_COLUMNS).where(Deal.stage_id == stage_id)
    if where is not None:
        stmt = stmt.where(where)
    run: Callable[[Select[Any]], Any] = lambda s: session.connection().execute(s.where(Deal.tenant_id == tenant))  # noqa: E731
    rows, next_cursor = paginate(session, stmt, CARD_KEYS, limit, cursor, rows=True, run=run)
    return {"pipeline_id": str(pipeline_id), "stage_id": str(stage_id), "data": [card(r, now) for r in rows],
            "next_cursor": next_cursor}
