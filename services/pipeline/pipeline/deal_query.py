"""The deal fields `filter=` may address on the board and the forecast.

A stand-in: the deals helper's FieldRegistry for GET /v1/deals (custom fields included) replaces
`deal_filter_registry` at merge, so that one filter means the same on every deal endpoint.
"""

from __future__ import annotations

import functools

from crm_query import FieldRegistry, FieldType, column_field
from pipeline.models import FORECAST_CATEGORIES, STAGE_KINDS, Deal


@functools.cache
def deal_filter_registry() -> FieldRegistry:
    """The core Deal columns; built once (on first use), so compiled filters are cached with it."""
    return FieldRegistry([
        column_field("id", FieldType.UUID, Deal.id),
        column_field("status", FieldType.ENUM, Deal.status, options=STAGE_KINDS),
        column_field("stage_id", FieldType.UUID, Deal.stage_id),
        column_field("pipeline_id", FieldType.UUID, Deal.pipeline_id),
        column_field("owner_id", FieldType.UUID, Deal.owner_id),
        column_field("company_id", FieldType.UUID, Deal.company_id),
        column_field("contact_id", FieldType.UUID, Deal.contact_id),
        column_field("amount", FieldType.NUMBER, Deal.amount),
        column_field("amount_in_base", FieldType.NUMBER, Deal.amount_in_base),
        column_field("currency", FieldType.TEXT, Deal.currency),
        column_field("expected_close_date", FieldType.DATE, Deal.expected_close_date),
        column_field("probability", FieldType.NUMBER, Deal.probability),
        column_field("forecast_category", FieldType.ENUM, Deal.forecast_category, options=FORECAST_CATEGORIES),
        column_field("name", FieldType.TEXT, Deal.name),
        column_field("created_at", FieldType.DATETIME, Deal.created_at),
        column_field("updated_at", FieldType.DATETIME, Deal.updated_at),
    ])
