"""Pipeline, deal and task validation in, serialisation out."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema
from sqlalchemy.orm import object_session

from crm_core.timezones import is_time_zone
from crm_db.base import utcnow
from crm_http.fields import MoneySchema, RecordSchema, TrimmedSchema, UtcDateTime, money_out, require_any
from pipeline.deal_properties import visible
from pipeline.models import FORECAST_CATEGORIES, STAGE_KINDS, TASK_PRIORITIES, TASK_TYPES
from pipeline.models.sales import CONTACT_ROLES, LOGGED_FIELDS
from pipeline.recurrence import RecurrenceError, normalise

NAME = validate.Length(min=1, max=200)
KIND = validate.OneOf(STAGE_KINDS)
FORECAST = validate.OneOf(FORECAST_CATEGORIES)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive UTC datetimes."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


# Pipelines ---------------------------------------------------------------------------------------

class StageInSchema(TrimmedSchema):
    """A stage in a stage list; with `id` it edits that stage and may leave fields out."""

    id = fields.UUID()
    name = fields.String(validate=validate.Length(min=1, max=100))
    probability = fields.Integer(strict=True, validate=validate.Range(min=0, max=100))
    kind = fields.String(validate=KIND)
    # The list order is the stage order; position is accepted so a read stage list can be sent back.
    position = fields.Integer(strict=True)
    rotten_days = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=3650), metadata={
        "description": "A deal with no activity for this many days in the stage is rotten; null: never."})
    forecast_category = fields.String(validate=FORECAST, metadata={
        "description": "Default category of the stage's deals; by default from kind and probability."})
    archived = fields.Boolean(metadata={"description": "An archived stage takes no new deals or moves; its deals stay."})
    archived_at = UtcDateTime(allow_none=True, load_only=True)  # accepted (ignored) so a read list can be sent back

    @validates_schema
    def new_stage_is_complete(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("id") is None:
            missing = {f: ["Required for a new stage."] for f in ("name", "probability") if f not in data}
            if missing:
                raise ValidationError(missing)


class PipelineInSchema(TrimmedSchema):
    name = fields.String(validate=NAME)
    is_default = fields.Boolean()
    stages = fields.List(fields.Nested(StageInSchema), validate=validate.Length(min=1, max=50))
    move_deals_to = fields.Dict(keys=fields.UUID(), values=fields.UUID(), metadata={
        "description": "For stages left out of `stages` that still hold deals: stage id -> the kept stage (same kind) "
                       "their deals move to (each move is in the deals' history)."})


class PipelineCreateSchema(PipelineInSchema):
    name = fields.String(required=True, validate=NAME)
    stages = fields.List(fields.Nested(StageInSchema), required=True, validate=validate.Length(min=1, max=50))


class StageSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    position = fields.Integer(dump_only=True)
    probability = fields.Integer(dump_only=True)
    kind = fields.String(dump_only=True)
    rotten_days = fields.Integer(dump_only=True, allow_none=True)
    forecast_category = fields.String(dump_only=True)
    archived = fields.Function(lambda s: s.archived_at is not None, dump_only=True, metadata={"type": "boolean"})
    archived_at = UtcDateTime(dump_only=True, allow_none=True)


class PipelineSchema(RecordSchema):
    name = fields.String(dump_only=True)
    is_default = fields.Boolean(dump_only=True)
    stages = fields.List(fields.Nested(StageSchema), dump_only=True)


# Deals -------------------------------------------------------------------------------------------

def _complete_money(money: dict[str, Any], name: str) -> None:
    """A PATCH loads partially, nested schemas included: a money object still needs both parts."""
    missing = {f"{name}.{part}": ["Missing data for required field."] for part in ("amount", "currency") if part not in money}
    if missing:
        raise ValidationError(missing)


class DealContactSchema(Schema):
    contact_id = fields.UUID(required=True)
    role = fields.String(load_default="other", validate=validate.OneOf(CONTACT_ROLES))

    @validates_schema
    def has_contact(self, data: dict[str, Any], **_: Any) -> None:
        if "contact_id" not in data:  # required, also in a (partial) PATCH
            raise ValidationError({"contact_id": ["Missing data for required field."]})


class DealInSchema(TrimmedSchema):
    name = fields.String(validate=NAME)
    amount = fields.Nested(MoneySchema, allow_none=True, metadata={
        "description": "Manual amount; a deal with line items takes it from them (setting it then is a 422)."})
    pipeline_id = fields.UUID()
    stage_id = fields.UUID()
    contact_id = fields.UUID(allow_none=True, metadata={"description": "The primary (first) contact."})
    contacts = fields.List(fields.Nested(DealContactSchema), validate=validate.Length(max=100), metadata={
        "description": "Replaces the deal's contacts; the first is `contact_id`."})
    company_id = fields.UUID(allow_none=True)
    owner_id = fields.UUID(allow_none=True)
    status = fields.String(validate=KIND)
    expected_close_date = fields.Date(allow_none=True)
    probability = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=100), metadata={
        "description": "Overrides the stage's probability (kept on stage moves); null goes back to the stage's."})
    forecast_category = fields.String(allow_none=True, validate=FORECAST, metadata={
        "description": "Overrides the stage's default; won and lost deals are always `closed`; null goes back to the default."})
    lost_reason = fields.String(allow_none=True, validate=validate.Length(min=1, max=200), metadata={
        "description": "One of the tenant's lost_reasons (/v1/settings/pipeline); required when the deal becomes lost."})
    lost_note = fields.String(allow_none=True, validate=validate.Length(max=10_000))
    position = fields.Float(allow_nan=False, metadata={"description": "Card order within the stage (ascending)."})
    before_id = fields.UUID(load_only=True, metadata={
        "description": "Place the card just before this deal of the (target) stage."})
    after_id = fields.UUID(load_only=True, metadata={"description": "Place the card just after this deal of the (target) stage."})
    properties = fields.Dict(keys=fields.String(), metadata={
        "description": "Custom fields (/v1/properties/deals); null deletes a value."})

    @validates_schema
    def one_placement(self, data: dict[str, Any], **_: Any) -> None:
        given = [f for f in ("position", "before_id", "after_id") if f in data]
        if len(given) > 1:
            raise ValidationError({given[1]: ["Give one of position, before_id and after_id."]})

    @post_load
    def money_columns(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """{"amount": {"amount", "currency"}} -> the amount and currency columns."""
        if "amount" in data:
            money = data.pop("amount") or {}
            if money:
                _complete_money(money, "amount")
            data["amount"], data["currency"] = money.get("amount"), money.get("currency")
        return data


class DealCreateSchema(DealInSchema):
    name = fields.String(required=True, validate=NAME)


def _rotten(deal: Any) -> bool:
    return deal.rots_at is not None and as_utc(deal.rots_at) <= utcnow()


class DealSchema(RecordSchema):
    number = fields.Integer()
    name = fields.String()
    amount = fields.Function(lambda deal: money_out(deal.amount, deal.currency), metadata={
        "type": ["object", "null"], "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}}})
    has_line_items = fields.Boolean()
    amount_in_base = fields.Decimal(as_string=True, places=2, allow_none=True, metadata={
        "description": "amount in the tenant's base currency (/v1/settings/pipeline) at its exchange rates; "
                       "null without an amount or when no rate for the deal's currency is set."})
    pipeline_id = fields.UUID()
    stage_id = fields.UUID()
    contact_id = fields.UUID(allow_none=True)
    # A Method field: deals are dumped from ORM objects (their contacts are a relationship, loaded per page).
    contacts = fields.Method("dump_contacts", metadata={"type": "array", "items": {"type": "object", "properties": {
        "contact_id": {"type": "string", "format": "uuid"}, "role": {"type": "string"}}}})
    company_id = fields.UUID(allow_none=True)
    owner_id = fields.UUID(allow_none=True)
    status = fields.String()
    expected_close_date = fields.Date(allow_none=True)
    probability = fields.Integer()
    probability_is_manual = fields.Boolean()
    forecast_category = fields.String()
    forecast_category_is_manual = fields.Boolean()
    lost_reason = fields.String(allow_none=True)
    lost_note = fields.String(allow_none=True)
    won_at = UtcDateTime(allow_none=True)
    lost_at = UtcDateTime(allow_none=True)
    closed_at = UtcDateTime(allow_none=True)
    stage_entered_at = UtcDateTime()
    next_activity_at = UtcDateTime(allow_none=True, metadata={"description": "Read-only: the earliest open task."})
    last_activity_at = UtcDateTime(allow_none=True, metadata={"description": "Read-only: the latest done task or activity."})
    rots_at = UtcDateTime(allow_none=True)
    rotten = fields.Function(_rotten, metadata={"type": "boolean"})
    position = fields.Float()
    properties = fields.Method("dump_properties", metadata={"type": "object"})

    def dump_contacts(self, deal: Any) -> list[dict[str, str]]:
        return [{"contact_id": str(c.contact_id), "role": c.role} for c in deal.contacts]

    def dump_properties(self, deal: Any) -> dict[str, Any]:
        return visible(object_session(deal), deal.properties)  # active custom fields only


class DealChangeSchema(Schema):
    """A row of the change log as stored."""

    id = fields.UUID()
    deal_id = fields.UUID()
    field = fields.String(metadata={"description": "stage_id, or one of " + ", ".join(LOGGED_FIELDS)})
    old_value = fields.Raw(allow_none=True)
    new_value = fields.Raw(allow_none=True)
    from_stage_id = fields.UUID(allow_none=True)  # none for the deal's first stage
    to_stage_id = fields.UUID(allow_none=True)
    changed_at = UtcDateTime()
    changed_by = fields.UUID(allow_none=True)


class DealHistoryEntrySchema(DealChangeSchema):
    """A history entry; stage changes also say when the stage was entered and left."""

    entered_at = UtcDateTime(allow_none=True, metadata={"description": "Stage changes: when to_stage_id was entered."})
    exited_at = UtcDateTime(allow_none=True, metadata={"description": "Stage changes: when the deal left it; null while there."})
    duration_seconds = fields.Integer(allow_none=True, metadata={"description": "Stage changes: time in to_stage_id so far."})


# Products and line items -------------------------------------------------------------------------

PERCENT = {"as_string": True, "places": 2, "validate": validate.Range(min=0, max=100)}


def _money_in(data: dict[str, Any], name: str) -> dict[str, Any]:
    if name in data:
        money = data.pop(name)
        _complete_money(money, name)
        data[name], data["currency"] = money["amount"], money["currency"]
    return data


class ProductInSchema(TrimmedSchema):
    name = fields.String(validate=NAME)
    sku = fields.String(allow_none=True, validate=validate.Length(min=1, max=100), metadata={"description": "Unique per tenant."})
    unit_price = fields.Nested(MoneySchema)
    tax_percent = fields.Decimal(**PERCENT)
    active = fields.Boolean()
    description = fields.String(allow_none=True, validate=validate.Length(max=10_000))

    @post_load
    def money_columns(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return _money_in(data, "unit_price")


class ProductCreateSchema(ProductInSchema):
    name = fields.String(required=True, validate=NAME)
    unit_price = fields.Nested(MoneySchema, required=True)


class ProductSchema(RecordSchema):
    name = fields.String()
    sku = fields.String(allow_none=True)
    unit_price = fields.Function(lambda p: money_out(p.unit_price, p.currency), metadata={"type": "object"})
    tax_percent = fields.Decimal(as_string=True, places=2)
    active = fields.Boolean()
    description = fields.String(allow_none=True)


class LineItemInSchema(TrimmedSchema):
    product_id = fields.UUID(allow_none=True)
    name = fields.String(validate=NAME, metadata={"description": "Defaults to the product's name."})
    quantity = fields.Decimal(as_string=True, places=4, validate=validate.Range(min=0, min_inclusive=False, max=10**12))
    unit_price = fields.Nested(MoneySchema, metadata={"description": "Defaults to the product's; must be in the deal's currency."})
    discount_percent = fields.Decimal(**PERCENT)
    tax_percent = fields.Decimal(**PERCENT, metadata={"description": "Defaults to the product's."})
    position = fields.Float(allow_nan=False)

    @post_load
    def money_columns(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return _money_in(data, "unit_price")


class LineItemCreateSchema(LineItemInSchema):
    quantity = fields.Decimal(as_string=True, places=4, load_default=decimal.Decimal(1),
                              validate=validate.Range(min=0, min_inclusive=False, max=10**12))


class LineItemSchema(RecordSchema):
    deal_id = fields.UUID()
    product_id = fields.UUID(allow_none=True)
    name = fields.String()
    quantity = fields.Decimal(as_string=True, places=4)
    unit_price = fields.Function(lambda i: money_out(i.unit_price, i.currency), metadata={"type": "object"})
    discount_percent = fields.Decimal(as_string=True, places=2)
    tax_percent = fields.Decimal(as_string=True, places=2)
    net_amount = fields.Function(lambda i: money_out(i.net_amount, i.currency), metadata={
        "type": "object", "description": "quantity x unit price, less the discount"})
    tax_amount = fields.Function(lambda i: money_out(i.tax_amount, i.currency), metadata={"type": "object"})
    gross_amount = fields.Function(lambda i: money_out(i.net_amount + i.tax_amount, i.currency), metadata={"type": "object"})
    position = fields.Float()


# Exchange rates and settings ---------------------------------------------------------------------

CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="Use an ISO 4217 code.")
RATE = {"as_string": True, "allow_nan": False, "validate": validate.Range(min=0, min_inclusive=False, max=10**12)}


class ExchangeRateInSchema(TrimmedSchema):
    rate = fields.Decimal(**RATE, metadata={"description": "Units of the base currency one unit of `currency` is worth."})


class ExchangeRateCreateSchema(ExchangeRateInSchema):
    currency = fields.String(required=True, validate=CURRENCY)
    rate = fields.Decimal(required=True, **RATE)


def _plain_decimal(value: decimal.Decimal | None) -> str | None:
    """A stored Numeric(24, 10) without its padding: "0.8", not "0.8000000000"."""
    return None if value is None else format(decimal.Decimal(value).normalize(), "f")


class ExchangeRateSchema(RecordSchema):
    currency = fields.String()
    rate = fields.Function(lambda r: _plain_decimal(r.rate), metadata={"type": "string"})


class PipelineSettingsInSchema(TrimmedSchema):
    base_currency = fields.String(validate=CURRENCY)
    lost_reasons = fields.List(fields.String(validate=validate.Length(min=1, max=200)), validate=validate.Length(min=1, max=100))
    lost_reason_required = fields.Boolean(metadata={
        "description": "Whether losing a deal needs a lost reason (default true); a given one is always checked."})
    follow_up_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=3650))

    @validates_schema
    def distinct_reasons(self, data: dict[str, Any], **_: Any) -> None:
        reasons = data.get("lost_reasons") or []
        if len({r.casefold() for r in reasons}) != len(reasons):
            raise ValidationError({"lost_reasons": ["Reasons must be distinct."]})


class PipelineSettingsSchema(Schema):
    base_currency = fields.String()
    lost_reasons = fields.List(fields.String())
    lost_reason_required = fields.Boolean()
    follow_up_days = fields.Integer()
    version = fields.Integer()
    updated_at = UtcDateTime(allow_none=True)


# Tasks -------------------------------------------------------------------------------------------

MAX_REMINDERS = 5
REMINDER_CHANNELS = ("in_app", "email")
TITLE = validate.Length(min=1, max=500)
TASK_LINKS = ("deal_id", "contact_id", "company_id", "ticket_id")


def _time_zone(value: str) -> None:
    if not is_time_zone(value):
        raise ValidationError("Not an IANA time zone name (e.g. Europe/Berlin).")


# Due times and snoozes stay well inside what datetime can hold, so a reminder's minutes before, a
# time zone's offset or the next occurrence never run past year 1 or 9999.
TASK_YEARS = (1900, 9998)


def _task_year(value: dt.date) -> None:
    if not TASK_YEARS[0] <= value.year <= TASK_YEARS[1]:
        raise ValidationError(f"Use a year from {TASK_YEARS[0]} to {TASK_YEARS[1]}.")


def _recurrence(value: str) -> None:
    try:
        normalise(value)
    except RecurrenceError as exc:
        raise ValidationError(str(exc)) from exc


class ReminderSchema(Schema):
    minutes_before = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=60 * 24 * 28))
    channels = fields.List(fields.String(validate=validate.OneOf(REMINDER_CHANNELS)), load_default=lambda: ["in_app"],
                           validate=validate.Length(min=1, max=5))

    @validates_schema
    def complete(self, data: dict[str, Any], **_: Any) -> None:
        # A PATCH loads partially, nested schemas too: a reminder is still whole or refused.
        if "minutes_before" not in data:
            raise ValidationError({"minutes_before": ["Missing data for required field."]})

    @post_load
    def distinct_channels(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["channels"] = list(dict.fromkeys(data.get("channels") or ["in_app"]))
        return data


class TaskInSchema(TrimmedSchema):
    type = fields.String(validate=validate.OneOf(TASK_TYPES))
    title = fields.String(validate=TITLE)
    notes = fields.String(allow_none=True, validate=validate.Length(max=20000))
    # A moment, or an all-day date in the task's time zone (the assignee's unless given); not both.
    due_at = UtcDateTime(allow_none=True, validate=_task_year)
    due_date = fields.Date(allow_none=True, validate=_task_year)
    time_zone = fields.String(allow_none=True, validate=_time_zone)
    duration_minutes = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=60 * 24 * 7))
    priority = fields.String(validate=validate.OneOf(TASK_PRIORITIES))
    deal_id = fields.UUID(allow_none=True)
    contact_id = fields.UUID(allow_none=True)
    company_id = fields.UUID(allow_none=True)
    ticket_id = fields.UUID(allow_none=True)
    assignee_id = fields.UUID(allow_none=True)
    done = fields.Boolean()
    recurrence = fields.String(allow_none=True, validate=_recurrence, metadata={
        "description": "An RFC 5545 RRULE (FREQ=WEEKLY;BYDAY=MO): completing this occurrence creates the next."})
    reminders = fields.List(fields.Nested(ReminderSchema), validate=validate.Length(max=MAX_REMINDERS))

    @validates_schema
    def one_due(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("due_at") is not None and data.get("due_date") is not None:
            raise ValidationError({"due_date": ["Give due_at (a moment) or due_date (all day), not both."]})

    @post_load
    def rule(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("recurrence"):
            data["recurrence"] = normalise(data["recurrence"])
        return data


class TaskCreateSchema(TaskInSchema):
    title = fields.String(required=True, validate=TITLE)
    done = fields.Boolean(load_default=False)

    @validates_schema
    def has_subject(self, data: dict[str, Any], **_: Any) -> None:
        require_any(data, *TASK_LINKS)


class TaskSchema(RecordSchema, TaskInSchema):
    completed_at = UtcDateTime(dump_only=True, allow_none=True)
    series_id = fields.UUID(dump_only=True, allow_none=True)  # shared by a recurring task's occurrences
    snoozed_until = UtcDateTime(dump_only=True, allow_none=True)


class TaskCompletedSchema(TaskSchema):
    next_occurrence = fields.Nested(TaskSchema, dump_only=True, allow_none=True)


class SnoozeSchema(Schema):
    until = UtcDateTime(required=True, validate=_task_year)


class AgendaSchema(Schema):
    time_zone = fields.String()
    date = fields.Date()  # today in time_zone
    overdue = fields.List(fields.Nested(TaskSchema))
    today = fields.List(fields.Nested(TaskSchema))
    next_7_days = fields.List(fields.Nested(TaskSchema))


class FollowUpDealSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    pipeline_id = fields.UUID()
    stage_id = fields.UUID()
    amount = fields.Function(lambda deal: money_out(deal.amount, deal.currency), metadata={
        "type": ["object", "null"], "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}}})
    expected_close_date = fields.Date(allow_none=True)
    next_activity_at = UtcDateTime(allow_none=True)
    last_activity_at = UtcDateTime(allow_none=True)
    rots_at = UtcDateTime(allow_none=True)


class FollowUpContactSchema(Schema):
    id = fields.UUID()
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    last_contacted_at = UtcDateTime(allow_none=True)


class FollowUpsSchema(Schema):
    follow_up_days = fields.Integer()
    deals_without_next_activity = fields.List(fields.Nested(FollowUpDealSchema))
    rotten_deals = fields.List(fields.Nested(FollowUpDealSchema))
    contacts = fields.List(fields.Nested(FollowUpContactSchema))
