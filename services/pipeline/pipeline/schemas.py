"""Pipeline, deal and task validation in, serialisation out."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from crm_core.timezones import is_time_zone
from crm_http.fields import MoneySchema, RecordSchema, TrimmedSchema, UtcDateTime, money_out, require_any
from pipeline.models import STAGE_KINDS, TASK_PRIORITIES, TASK_TYPES
from pipeline.recurrence import RecurrenceError, normalise

NAME = validate.Length(min=1, max=200)
KIND = validate.OneOf(STAGE_KINDS)


# Pipelines ---------------------------------------------------------------------------------------

class StageInSchema(TrimmedSchema):
    """A stage in a stage list; with `id` it edits that stage and may leave fields out."""

    id = fields.UUID()
    name = fields.String(validate=validate.Length(min=1, max=100))
    probability = fields.Integer(strict=True, validate=validate.Range(min=0, max=100))
    kind = fields.String(validate=KIND)
    # The list order is the stage order; position is accepted so a read stage list can be sent back.
    position = fields.Integer(strict=True)

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


class PipelineCreateSchema(PipelineInSchema):
    name = fields.String(required=True, validate=NAME)
    stages = fields.List(fields.Nested(StageInSchema), required=True, validate=validate.Length(min=1, max=50))


class StageSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    position = fields.Integer(dump_only=True)
    probability = fields.Integer(dump_only=True)
    kind = fields.String(dump_only=True)


class PipelineSchema(RecordSchema):
    name = fields.String(dump_only=True)
    is_default = fields.Boolean(dump_only=True)
    stages = fields.List(fields.Nested(StageSchema), dump_only=True)


# Deals -------------------------------------------------------------------------------------------

class DealInSchema(TrimmedSchema):
    name = fields.String(validate=NAME)
    amount = fields.Nested(MoneySchema, allow_none=True)
    pipeline_id = fields.UUID()
    stage_id = fields.UUID()
    contact_id = fields.UUID(allow_none=True)
    owner_id = fields.UUID(allow_none=True)
    status = fields.String(validate=KIND)
    expected_close_date = fields.Date(allow_none=True)

    @post_load
    def money_columns(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """{"amount": {"amount", "currency"}} -> the amount and currency columns."""
        if "amount" in data:
            money = data.pop("amount") or {}
            data["amount"], data["currency"] = money.get("amount"), money.get("currency")
        return data


class DealCreateSchema(DealInSchema):
    name = fields.String(required=True, validate=NAME)


class DealSchema(RecordSchema):
    name = fields.String()
    amount = fields.Function(lambda deal: money_out(deal.amount, deal.currency), metadata={
        "type": ["object", "null"], "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}}})
    pipeline_id = fields.UUID()
    stage_id = fields.UUID()
    contact_id = fields.UUID(allow_none=True)
    owner_id = fields.UUID(allow_none=True)
    status = fields.String()
    expected_close_date = fields.Date(allow_none=True)
    probability = fields.Integer()


class DealStageHistorySchema(Schema):
    id = fields.UUID()
    deal_id = fields.UUID()
    from_stage_id = fields.UUID(allow_none=True)  # none for the deal's first stage
    to_stage_id = fields.UUID()
    changed_at = UtcDateTime()
    changed_by = fields.UUID(allow_none=True)


# Tasks -------------------------------------------------------------------------------------------

MAX_REMINDERS = 5
REMINDER_CHANNELS = ("in_app", "email")
TITLE = validate.Length(min=1, max=500)
TASK_LINKS = ("deal_id", "contact_id", "company_id", "ticket_id")


def _time_zone(value: str) -> None:
    if not is_time_zone(value):
        raise ValidationError("Not an IANA time zone name (e.g. Europe/Berlin).")


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
    due_at = UtcDateTime(allow_none=True)
    due_date = fields.Date(allow_none=True)
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
    until = UtcDateTime(required=True)


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
