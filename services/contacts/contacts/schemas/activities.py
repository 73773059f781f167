"""Activity validation in, serialisation out.

One schema takes every type; which fields a type may carry and which it needs are the rules in
`type_errors`, shared by create (here) and update (the service, which knows the stored type).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, post_load, pre_load, validate, validates_schema

from contacts.models import ACTIVITY_TYPES
from crm_core.timezones import is_time_zone
from crm_http.fields import RecordSchema, TrimmedSchema, UtcDateTime

DIRECTIONS = ("inbound", "outbound")
CALL_OUTCOMES = ("connected", "no_answer", "busy", "left_voicemail", "wrong_number")
MAX_DURATION = 7 * 24 * 3600  # a week: anything longer is a typo, not a call
COMMON_FIELDS = frozenset({"type", "occurred_at", "subject", "body", "deal_id", "contact_id"})
MEETING_FIELDS = frozenset({"starts_at", "ends_at", "attendees", "location", "time_zone", "send_invitations",
                            "cancelled"})
TYPE_FIELDS: dict[str, frozenset[str]] = {
    "note": frozenset(),
    "call": frozenset({"direction", "duration_seconds", "outcome"}),
    "email": frozenset({"direction"}),
    "meeting": MEETING_FIELDS,
}
ATTENDEE_STATUSES = ("needs_action", "accepted", "declined", "tentative")
# Without these an activity of the type says nothing (a note without text, a call with nobody
# knowing who called whom, a meeting without a time).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "note": ("body",),
    "call": ("direction",),
    "email": ("direction",),
    "meeting": ("starts_at",),
}
DATETIME_FIELDS = ("occurred_at", "starts_at", "ends_at")
# Read-only on email activities: the message an email logged by mail came from (null on emails
# posted through the API) and its conversation (`?thread_id=` on the timeline).
MESSAGE_FIELDS = frozenset({"inbound_id", "thread_id", "message_id", "in_reply_to", "references", "participants"})
MEETING_OUT = frozenset({"sequence"})  # read-only: the SEQUENCE of the last invitation sent


def _zone(value: str) -> None:
    # The shared check: a directory ("Europe"), a path or garbage is refused, never looked up on disk.
    if not is_time_zone(value):
        raise ValidationError("Not an IANA time zone such as Europe/Berlin.")


def attendee(value: Any) -> dict[str, Any]:
    """One stored attendee as the API shows it (meetings logged before invitations kept bare addresses)."""
    if isinstance(value, str):
        return {"email": value, "name": None, "status": "needs_action"}
    return {"email": value.get("email"), "name": value.get("name"), "status": value.get("status") or "needs_action"}


class AttendeeSchema(Schema):
    """`{"email", "name"?, "status"?}`, or a bare address."""

    email = fields.Email(required=True, validate=validate.Length(max=320))
    name = fields.String(validate=validate.Length(max=200), allow_none=True, load_default=None)
    status = fields.String(validate=validate.OneOf(ATTENDEE_STATUSES), load_default="needs_action")

    @pre_load
    def bare_address(self, data: Any, **_: Any) -> Any:
        return {"email": data} if isinstance(data, str) else data

    @post_load
    def lower(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["email"] = data["email"].lower()
        return data


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Aware UTC; SQLite hands back naive values, which are UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def type_errors(kind: str, given: Iterable[str], merged: Mapping[str, Any]) -> dict[str, list[str]]:
    """422 field errors for an activity of `kind`: `given` are the fields the request sent,
    `merged` the values the activity would have afterwards."""
    allowed = COMMON_FIELDS | TYPE_FIELDS[kind]
    errors: dict[str, list[str]] = {}
    for name in given:
        if name not in allowed:
            takes = ", ".join(sorted(allowed - {"type"}))
            errors[name] = [f"Not a field of {kind} activities (they take {takes})."]
    for name in REQUIRED_FIELDS[kind]:
        if merged.get(name) in (None, ""):
            errors.setdefault(name, []).append(f"Required for {kind} activities.")
    if kind == "email" and not merged.get("subject") and not merged.get("body"):
        errors.setdefault("subject", []).append("An email needs a subject or a body.")
    if kind == "meeting":
        starts, ends = as_utc(merged.get("starts_at")), as_utc(merged.get("ends_at"))
        if starts is not None and ends is not None and ends < starts:
            errors.setdefault("ends_at", []).append("Must not be before starts_at.")
    return errors


class ActivityInSchema(TrimmedSchema):
    trim_fields = frozenset({"type", "subject", "direction", "outcome", "location", "time_zone"})  # bodies stay as typed

    type = fields.String(validate=validate.OneOf(ACTIVITY_TYPES))
    occurred_at = UtcDateTime()  # ISO 8601 with an offset; a naive time is refused
    subject = fields.String(validate=validate.Length(min=1, max=500), allow_none=True)
    body = fields.String(validate=validate.Length(min=1, max=100_000), allow_none=True)
    direction = fields.String(validate=validate.OneOf(DIRECTIONS), allow_none=True)
    duration_seconds = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_DURATION), allow_none=True)
    outcome = fields.String(validate=validate.OneOf(CALL_OUTCOMES), allow_none=True)
    starts_at = UtcDateTime(allow_none=True)
    ends_at = UtcDateTime(allow_none=True)
    attendees = fields.List(fields.Nested(AttendeeSchema), validate=validate.Length(max=200), allow_none=True)
    deal_id = fields.UUID(allow_none=True)
    location = fields.String(validate=validate.Length(max=500), allow_none=True)
    time_zone = fields.String(validate=[validate.Length(max=64), _zone], allow_none=True)
    send_invitations = fields.Boolean(allow_none=True)
    cancelled = fields.Boolean(allow_none=True)

    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # Stored in UTC: SQLite keeps no offset, and timelines order by the stored value.
        for name in DATETIME_FIELDS:
            if data.get(name) is not None:
                data[name] = as_utc(data[name])
        if data.get("attendees") is not None:
            data["attendees"] = list({a["email"]: a for a in data["attendees"]}.values())  # once per address
        return data


class ActivityCreateSchema(ActivityInSchema):
    type = fields.String(required=True, validate=validate.OneOf(ACTIVITY_TYPES))

    @validates_schema(skip_on_field_errors=False)
    def fits_type(self, data: dict[str, Any], **_: Any) -> None:
        kind = data.get("type")
        if kind in TYPE_FIELDS:
            errors = type_errors(kind, data.keys(), data)
            if errors:
                raise ValidationError(errors)


class DealActivityCreateSchema(ActivityCreateSchema):
    """On a deal's timeline an activity may name the contact it was with: it is then one record on
    the deal's, the contact's and the contact's company's timelines."""

    contact_id = fields.UUID(allow_none=True)


class ActivityUpdateSchema(ActivityInSchema):
    """Any field of the activity's type; `type` itself cannot change (the service says so)."""


class ActivitySchema(RecordSchema, ActivityInSchema):
    attendees = fields.Function(lambda a: None if a.attendees is None else [attendee(x) for x in a.attendees])
    sequence = fields.Integer(dump_only=True, allow_none=True)
    contact_id = fields.UUID(allow_none=True)
    company_id = fields.UUID(allow_none=True)
    author_id = fields.UUID(allow_none=True)
    inbound_id = fields.UUID(dump_only=True, allow_none=True)
    thread_id = fields.UUID(dump_only=True, allow_none=True)
    message_id = fields.String(dump_only=True, allow_none=True)
    in_reply_to = fields.String(dump_only=True, allow_none=True)
    references = fields.List(fields.String(), dump_only=True, allow_none=True)
    participants = fields.List(fields.Dict(), dump_only=True, allow_none=True)

    @post_dump
    def only_type_fields(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """A timeline mixes types: each entry shows its own fields, not every other type's nulls."""
        kind = data.get("type") or ""
        own = (TYPE_FIELDS.get(kind, frozenset()) | (MESSAGE_FIELDS if kind == "email" else frozenset())
               | (MEETING_OUT if kind == "meeting" else frozenset()))
        others = set().union(*TYPE_FIELDS.values(), MESSAGE_FIELDS, MEETING_OUT) - own
        return {k: v for k, v in data.items() if k not in others}
