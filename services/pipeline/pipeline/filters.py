"""List filters: simple query parameters (`?status=won&pipeline_id=...`, equality on one column
each; a malformed value is a 400 naming the parameter, an empty one is ignored), and the fields
`filter=` / `sort=` may address on deals and products (crm_query).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from flask import request
from sqlalchemy import Select, and_, false, func, or_
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement

from crm_core.errors import BadRequest
from crm_query import Field, FieldRegistry, FieldType, column_field, property_field
from pipeline.deal_properties import active_definitions
from pipeline.models import FORECAST_CATEGORIES, STAGE_KINDS, Deal
from pipeline.models.sales import Product

Parser = Callable[[str, str], Any]
_DEAL_FIELDS = "pipeline_deal_fields"  # session.info: this transaction's deal field registry


def _bad(name: str, message: str) -> BadRequest:
    return BadRequest(f"Query parameter {name!r}: {message}", errors={name: [message]})


def as_uuid(name: str, raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise _bad(name, "Not a UUID.") from exc


def as_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise _bad(name, "Use true or false.")
    return value in ("true", "1")


def one_of(choices: Sequence[str]) -> Parser:
    def parse(name: str, raw: str) -> str:
        if raw not in choices:
            raise _bad(name, f"Use one of: {', '.join(choices)}.")
        return raw

    return parse


def equality_filters(params: dict[str, tuple[InstrumentedAttribute[Any], Parser]]) -> Callable[[Select[Any]], Select[Any]]:
    """A RecordRoutes.list_filters reading flask.request.args."""

    def apply(stmt: Select[Any]) -> Select[Any]:
        for name, (column, parse) in params.items():
            raw = request.args.get(name, "")
            if raw != "":
                stmt = stmt.where(column == parse(name, raw))
        return stmt

    return apply


def documented(params: dict[str, tuple[InstrumentedAttribute[Any], Parser]]) -> list[dict[str, Any]]:
    """OpenAPI query parameters for the filters."""
    out = []
    for name, (_column, parse) in params.items():
        schema: dict[str, Any] = {"type": "string"}
        if parse is as_uuid:
            schema["format"] = "uuid"
        elif parse is as_bool:
            schema = {"type": "boolean"}
        out.append({"name": name, "in": "query", "schema": schema})
    return out


# --- `filter=` / `sort=` / `q=` on deals, in the filter language of crm_query (as contacts) ---------

def _deal_builtins() -> list[Field]:
    rotten = func.coalesce(and_(Deal.rots_at.is_not(None), Deal.rots_at <= func.current_timestamp()), false())
    return [
        column_field("id", FieldType.UUID, Deal.id),
        column_field("created_at", FieldType.DATETIME, Deal.created_at),
        column_field("updated_at", FieldType.DATETIME, Deal.updated_at),
        column_field("number", FieldType.NUMBER, Deal.number),
        column_field("name", FieldType.TEXT, Deal.name),
        column_field("amount", FieldType.NUMBER, Deal.amount),
        column_field("currency", FieldType.TEXT, Deal.currency),
        column_field("amount_in_base", FieldType.NUMBER, Deal.amount_in_base),
        column_field("has_line_items", FieldType.BOOL, Deal.has_line_items),
        column_field("pipeline_id", FieldType.UUID, Deal.pipeline_id),
        column_field("stage_id", FieldType.UUID, Deal.stage_id),
        column_field("contact_id", FieldType.UUID, Deal.contact_id),
        column_field("company_id", FieldType.UUID, Deal.company_id),
        column_field("owner_id", FieldType.UUID, Deal.owner_id),
        column_field("status", FieldType.ENUM, Deal.status, STAGE_KINDS),
        column_field("expected_close_date", FieldType.DATE, Deal.expected_close_date),
        column_field("probability", FieldType.NUMBER, Deal.probability),
        column_field("forecast_category", FieldType.ENUM, Deal.forecast_category, FORECAST_CATEGORIES),
        column_field("lost_reason", FieldType.TEXT, Deal.lost_reason),
        column_field("won_at", FieldType.DATETIME, Deal.won_at),
        column_field("lost_at", FieldType.DATETIME, Deal.lost_at),
        column_field("closed_at", FieldType.DATETIME, Deal.closed_at),
        column_field("stage_entered_at", FieldType.DATETIME, Deal.stage_entered_at),
        column_field("next_activity_at", FieldType.DATETIME, Deal.next_activity_at),
        column_field("last_activity_at", FieldType.DATETIME, Deal.last_activity_at),
        column_field("rots_at", FieldType.DATETIME, Deal.rots_at),
        # rots_at has passed (the database's clock, like the stored rots_at: see pipeline.deal_activity).
        column_field("rotten", FieldType.BOOL, rotten, sortable=False),
        column_field("position", FieldType.NUMBER, Deal.position),
    ]


def deal_fields(session: Session) -> FieldRegistry:
    """Built-in deal fields, then the tenant's active deal custom fields by key (built once per transaction)."""
    found = session.info.get(_DEAL_FIELDS)
    if found is None:
        found = FieldRegistry(_deal_builtins())
        for key, definition in active_definitions(session).items():
            if key not in found:
                found.add(property_field(key, definition.type, Deal.properties, definition.options))
        session.info[_DEAL_FIELDS] = found
    return found


def deal_search(q: str) -> ColumnElement[bool]:
    """`q=`: every word (up to 8) occurs in the deal's name, case-insensitively."""
    return and_(*(Deal.name.icontains(w, autoescape=True) for w in q.split()[:8]))


def search_deals(stmt: Select[Any], q: str) -> Select[Any]:
    return stmt.where(deal_search(q))


def product_fields(_session: Session) -> FieldRegistry:
    return FieldRegistry([
        column_field("id", FieldType.UUID, Product.id),
        column_field("created_at", FieldType.DATETIME, Product.created_at),
        column_field("updated_at", FieldType.DATETIME, Product.updated_at),
        column_field("name", FieldType.TEXT, Product.name),
        column_field("sku", FieldType.TEXT, Product.sku),
        column_field("unit_price", FieldType.NUMBER, Product.unit_price),
        column_field("currency", FieldType.TEXT, Product.currency),
        column_field("tax_percent", FieldType.NUMBER, Product.tax_percent),
        column_field("active", FieldType.BOOL, Product.active),
    ])


def search_products(stmt: Select[Any], q: str) -> Select[Any]:
    words = q.split()[:8]
    return stmt.where(and_(*(or_(Product.name.icontains(w, autoescape=True), Product.sku.icontains(w, autoescape=True))
                             for w in words)))
