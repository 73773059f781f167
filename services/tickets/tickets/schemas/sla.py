"""Business hours, SLA policies and a ticket's SLA state, in and out."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from crm_core.timezones import is_time_zone
from crm_hours.calendar import CalendarError, parse_frames
from crm_hours.feed import FeedError, check_url
from crm_http.fields import RecordSchema, TrimmedSchema, UtcDateTime
from tickets.models.sla import TARGETS

MAX_MINUTES = 366 * 24 * 60  # a year of around-the-clock time


class _StoredDate(fields.Date):
    """A date in, the stored ISO string (JSON columns keep dates as text) out."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return value if isinstance(value, str) or value is None else super()._serialize(value, attr, obj, **kwargs)


class HolidaySchema(Schema):
    date = _StoredDate(required=True)
    name = fields.String(validate=validate.Length(max=200), load_default="")


class BusinessHoursInSchema(TrimmedSchema):
    trim_fields = frozenset({"name", "time_zone", "holiday_feed_url"})

    name = fields.String(validate=validate.Length(min=1, max=200))
    time_zone = fields.String(metadata={"description": "IANA time zone, e.g. Europe/Berlin."})
    frames = fields.Dict(keys=fields.String(), values=fields.List(fields.Dict()), metadata={
        "description": "Weekday (mon..sun) to open slots, e.g. {\"mon\": [{\"start\": \"09:00\", \"end\": \"12:00\"}, "
                       "{\"start\": \"13:00\", \"end\": \"17:00\"}]}. Days left out are closed; 24:00 ends a day."})
    holidays = fields.List(fields.Nested(HolidaySchema), validate=validate.Length(max=2000),
                           metadata={"description": "Dates closed all day, in the calendar's time zone."})
    holiday_feed_url = fields.String(allow_none=True, validate=validate.Length(max=2000), metadata={
        "description": "An iCalendar feed of holidays (http, https, webcal), refreshed in the background."})
    is_default = fields.Boolean(metadata={"description": "Used by policies without a calendar of their own."})

    @validates("time_zone")
    def _zone(self, value: str, **_: Any) -> None:
        if not is_time_zone(value):
            raise ValidationError(f"Unknown IANA time zone {value!r}.")

    @validates("frames")
    def _frames(self, value: dict[str, Any], **_: Any) -> None:
        try:
            parse_frames(value)
        except CalendarError as exc:
            raise ValidationError(exc.errors.get("frames", [str(exc)])) from exc

    @validates("holiday_feed_url")
    def _feed(self, value: str | None, **_: Any) -> None:
        if value:
            try:
                check_url(value)
            except FeedError as exc:
                raise ValidationError(str(exc)) from exc


class BusinessHoursCreateSchema(BusinessHoursInSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    time_zone = fields.String(required=True)
    frames = fields.Dict(keys=fields.String(), values=fields.List(fields.Dict()), required=True)


class BusinessHoursSchema(RecordSchema, BusinessHoursInSchema):
    feed_holidays = fields.List(fields.Nested(HolidaySchema), dump_only=True)
    feed_refreshed_at = UtcDateTime(dump_only=True, allow_none=True)
    feed_error = fields.String(dump_only=True, allow_none=True)


def _minutes(target: str) -> fields.Integer:
    return fields.Integer(allow_none=True, validate=validate.Range(min=1, max=MAX_MINUTES),
                          metadata={"description": f"The {target.replace('_', ' ')} target in business minutes."})


class SlaPolicyInSchema(TrimmedSchema):
    trim_fields = frozenset({"name"})

    name = fields.String(validate=validate.Length(min=1, max=200))
    condition = fields.String(allow_none=True, validate=validate.Length(max=4000), metadata={
        "description": "Which tickets the policy applies to, in the filter language of /v1/tickets?filter= "
                       "(e.g. `priority = 'urgent' and tags in ('vip')`); empty: every ticket."})
    business_hours_id = fields.UUID(allow_none=True, metadata={
        "description": "The calendar the targets count in; none: the default calendar, else around the clock (UTC)."})
    first_response_minutes = _minutes("first_response")
    next_response_minutes = _minutes("next_response")
    resolution_minutes = _minutes("resolution")
    warning_threshold = fields.Integer(validate=validate.Range(min=1, max=99), metadata={
        "description": "Percent of a target's business minutes elapsed when crm.ticket.sla_warning fires (default 80)."})
    position = fields.Integer(validate=validate.Range(min=-1_000_000, max=1_000_000), metadata={
        "description": "Order: the first matching policy (lowest position, then oldest) applies."})


class SlaPolicyCreateSchema(SlaPolicyInSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))

    @validates_schema
    def _some_target(self, data: dict[str, Any], **_: Any) -> None:
        if not any(data.get(f"{t}_minutes") for t in TARGETS):
            raise ValidationError({"first_response_minutes": [
                "Give at least one target: first_response_minutes, next_response_minutes or resolution_minutes."]})


class SlaPolicySchema(RecordSchema, SlaPolicyInSchema):
    pass


# --- a ticket's SLA state (GET /v1/tickets/{id}/sla; documentation of what api/sla.py returns) ---

class SlaExplanationSchema(Schema):
    anchor = UtcDateTime(metadata={"description": "When the clock started."})
    anchor_reason = fields.String(metadata={"description": "ticket_created or customer_message."})
    minutes = fields.Integer(metadata={"description": "The target, in business minutes."})
    elapsed_minutes = fields.Float()
    remaining_minutes = fields.Float()
    paused_minutes = fields.Float(metadata={"description": "Wall-clock minutes the clock stood still (pending, on hold, resolved)."})
    calendar = fields.Dict(metadata={"description": "id, name, time_zone of the calendar counted in."})
    text = fields.String()


class SlaTargetSchema(Schema):
    target = fields.String(validate=validate.OneOf(TARGETS))
    cycle = fields.Integer(metadata={"description": "0; next_response counts its rounds from 1."})
    started_at = UtcDateTime()
    due_at = UtcDateTime(allow_none=True, metadata={"description": "None while paused or stopped."})
    warning_at = UtcDateTime(allow_none=True)
    met_at = UtcDateTime(allow_none=True)
    breached = fields.Boolean()
    breached_at = UtcDateTime(allow_none=True)
    warned_at = UtcDateTime(allow_none=True)
    paused = fields.Boolean()
    paused_by = fields.String(allow_none=True, metadata={"description": "The status that stopped the clock."})
    why = fields.Nested(SlaExplanationSchema)


class SlaSegmentSchema(Schema):
    start = UtcDateTime()
    end = UtcDateTime()
    state = fields.String(validate=validate.OneOf(["running", "paused", "stopped", "outside_hours", "holiday"]))
    status = fields.String(allow_none=True)


class TicketSlaSchema(Schema):
    ticket_id = fields.UUID()
    policy = fields.Dict(allow_none=True)
    calendar = fields.Dict(allow_none=True)
    sla_due_at = UtcDateTime(allow_none=True)
    sla_breached = fields.Boolean()
    targets = fields.List(fields.Nested(SlaTargetSchema))
    history = fields.List(fields.Nested(SlaTargetSchema), metadata={"description": "Earlier next_response rounds."})
    segments = fields.List(fields.Nested(SlaSegmentSchema))
    segments_truncated = fields.Boolean()


class SlaRecomputeSchema(RecordSchema):
    status = fields.String(dump_only=True, metadata={"enum": ["queued", "running", "completed", "failed"]})
    reason = fields.String(dump_only=True, metadata={"description": "The change that asked for it"})
    tickets_total = fields.Integer(dump_only=True, metadata={"description": "Open tickets to recompute"})
    tickets_done = fields.Integer(dump_only=True)
    started_at = UtcDateTime(dump_only=True, allow_none=True)
    finished_at = UtcDateTime(dump_only=True, allow_none=True)
    error = fields.String(dump_only=True, allow_none=True,
                          metadata={"description": "Why a failed job stopped (a chunk failed every retry)"})


class SlaRecomputeInSchema(Schema):
    """Nothing to send: the worker writes these records."""
