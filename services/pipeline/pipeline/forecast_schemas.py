"""Schemas of the board, the forecast, sales targets and forecast snapshots.

Sales targets are validated in and serialised out here; the board and forecast answers are built
as dicts from Core rows (board.py, forecast.py) and these schemas document them in OpenAPI.
"""

from __future__ import annotations

import decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from crm_http.fields import RecordSchema, TrimmedSchema
from pipeline.models.forecast import PERIODS
from pipeline.periods import Period, parse_label

AMOUNT = {"type": "string", "description": "A decimal amount with two places, e.g. \"1234.50\"."}
NULLABLE_AMOUNT = {"type": ["string", "null"], "description": AMOUNT["description"]}


def _amount(**kwargs: Any) -> fields.String:
    return fields.String(metadata=NULLABLE_AMOUNT if kwargs.pop("nullable", False) else AMOUNT, **kwargs)


# Sales targets -----------------------------------------------------------------------------------

class SalesTargetInSchema(TrimmedSchema):
    owner_id = fields.UUID()
    period = fields.String(validate=validate.OneOf(PERIODS))
    period_start = fields.String(metadata={"description": "YYYY-MM for a month, YYYY-Qn for a quarter."})
    amount = fields.Decimal(as_string=True, places=2, allow_nan=False,
                            validate=validate.Range(min=decimal.Decimal(0), max=decimal.Decimal("1e15")),
                            metadata={"description": "The quota in the tenant's base currency."})

    @validates_schema
    def period_start_matches(self, data: dict[str, Any], partial: bool | None = None, **_: Any) -> None:
        if "period_start" in data and "period" in data:
            try:
                parse_label(data["period"], data["period_start"])
            except ValueError as exc:
                raise ValidationError({"period_start": [str(exc)]}) from None


class SalesTargetCreateSchema(SalesTargetInSchema):
    owner_id = fields.UUID(required=True)
    period = fields.String(required=True, validate=validate.OneOf(PERIODS))
    period_start = fields.String(required=True, metadata={"description": "YYYY-MM for a month, YYYY-Qn for a quarter."})
    amount = fields.Decimal(required=True, as_string=True, places=2, allow_nan=False,
                            validate=validate.Range(min=decimal.Decimal(0), max=decimal.Decimal("1e15")),
                            metadata={"description": "The quota in the tenant's base currency."})

    @post_load
    def start_date(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["period_start"] = parse_label(data["period"], data["period_start"]).start
        return data


class SalesTargetSchema(RecordSchema):
    owner_id = fields.UUID()
    period = fields.String()
    period_start = fields.Function(lambda t: Period.of(t.period, t.period_start).label, metadata={"type": "string"})
    amount = fields.Function(lambda t: f"{t.amount:.2f}", metadata=AMOUNT)


# Board -------------------------------------------------------------------------------------------

class MoneyOutSchema(Schema):
    amount = fields.String()
    currency = fields.String()


class CardSchema(Schema):
    id = fields.UUID()
    stage_id = fields.UUID()
    version = fields.Integer(metadata={"description": "The deal's version: send it as If-Match to move the card."})
    number = fields.Integer()
    name = fields.String()
    amount = fields.Nested(MoneyOutSchema, allow_none=True)
    amount_in_base = _amount(nullable=True)
    owner_id = fields.UUID(allow_none=True)
    expected_close_date = fields.Date(allow_none=True)
    probability = fields.Integer()
    rotten = fields.Boolean(metadata={"description": "rots_at has passed: no activity for the stage's rotten_days."})
    next_activity_at = fields.DateTime(allow_none=True)
    position = fields.Float()


class CurrencyTotalSchema(Schema):
    currency = fields.String()
    count = fields.Integer()
    total = _amount()
    weighted = _amount()  # amount × probability / 100


class BaseTotalSchema(Schema):
    total = _amount()
    weighted = _amount()


class BoardStageSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    position = fields.Integer()
    probability = fields.Integer()
    kind = fields.String()
    archived = fields.Boolean(metadata={"description": "An archived stage is shown only while it holds matching deals."})
    count = fields.Integer()
    totals = fields.List(fields.Nested(CurrencyTotalSchema))
    base = fields.Nested(BaseTotalSchema)
    cards = fields.List(fields.Nested(CardSchema))
    next_cursor = fields.String(allow_none=True)


class BoardSchema(Schema):
    pipeline_id = fields.UUID()
    name = fields.String()
    count = fields.Integer()
    base = fields.Nested(BaseTotalSchema)
    stages = fields.List(fields.Nested(BoardStageSchema))


class StageCardsSchema(Schema):
    pipeline_id = fields.UUID()
    stage_id = fields.UUID()
    data = fields.List(fields.Nested(CardSchema))
    next_cursor = fields.String(allow_none=True)


# Forecast ----------------------------------------------------------------------------------------

class FiguresSchema(Schema):
    won = _amount()
    commit = _amount()
    best_case = _amount()
    pipeline = _amount()
    weighted = _amount()
    omitted = _amount()
    won_count = fields.Integer()
    open_count = fields.Integer()
    quota = _amount(nullable=True)
    attainment = fields.Float(allow_none=True)


class ForecastGroupSchema(FiguresSchema):
    owner_id = fields.UUID(allow_none=True)
    pipeline_id = fields.UUID(allow_none=True)


class ForecastPeriodSchema(FiguresSchema):
    period = fields.String()
    start = fields.Date()
    end = fields.Date()
    groups = fields.List(fields.Nested(ForecastGroupSchema))


class ForecastSchema(Schema):
    period = fields.String()
    from_ = fields.String(data_key="from")
    to = fields.String()
    group_by = fields.String(allow_none=True)
    periods = fields.List(fields.Nested(ForecastPeriodSchema))


# Snapshots and accuracy --------------------------------------------------------------------------

class ForecastSnapshotSchema(Schema):
    id = fields.UUID()
    week_start = fields.Date()
    taken_at = fields.DateTime()
    horizon_start = fields.Date()
    horizon_end = fields.Date()
    deal_count = fields.Integer()
    created = fields.Boolean(metadata={"description": "false: this week's snapshot existed already."})


class SnapshotFiguresSchema(Schema):
    snapshot_id = fields.UUID()
    week_start = fields.Date()
    commit = _amount()
    best_case = _amount()
    weighted = _amount()
    deal_count = fields.Integer()


class SlippedDealSchema(Schema):
    deal_id = fields.UUID()
    name = fields.String(allow_none=True)
    week_start = fields.Date()
    old_expected_close_date = fields.Date()
    new_expected_close_date = fields.Date(allow_none=True)
    status = fields.String(allow_none=True, metadata={"description": "null: the deal was deleted."})
    amount_in_base = _amount(nullable=True)


class AccuracyPeriodSchema(Schema):
    period = fields.String()
    start = fields.Date()
    end = fields.Date()
    won = _amount()
    snapshots = fields.List(fields.Nested(SnapshotFiguresSchema))
    slipped = fields.List(fields.Nested(SlippedDealSchema), metadata={"description": "At most 200; see slipped_count."})
    slipped_count = fields.Integer()


class AccuracySchema(Schema):
    period = fields.String()
    from_ = fields.String(data_key="from")
    to = fields.String()
    periods = fields.List(fields.Nested(AccuracyPeriodSchema))
