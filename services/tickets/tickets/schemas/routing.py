"""Teams, members and routing rules: validation in, serialisation out."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from crm_http.fields import RecordSchema, TrimmedSchema, UtcDateTime
from tickets.models import PRIORITIES
from tickets.models.routing import ASSIGNMENT_MODES, SLA_ESCALATIONS

NAME = validate.Length(min=1, max=200)
CAPACITY = validate.Range(min=0, max=100_000)
REASSIGN = ("open", "all", "none")
REASSIGN_DOC = ("When the member leaves (unavailable or removed), which of their open tickets in this team are "
                "handed on by the team's mode: `open` (new and open; pending and on-hold stay with them, "
                "the default), `all` (also pending and on-hold), `none`.")


class MemberInSchema(Schema):
    user_id = fields.UUID(required=True)
    capacity = fields.Integer(strict=True, allow_none=True, validate=CAPACITY, metadata={
        "description": "The most open tickets of this team the agent is assigned by routing; null: unlimited."})
    available = fields.Boolean(metadata={"description": "Whether routing assigns the agent new tickets (default true)."})


class MemberCreateSchema(MemberInSchema):
    pass


class MemberPatchSchema(Schema):
    capacity = fields.Integer(strict=True, allow_none=True, validate=CAPACITY)
    available = fields.Boolean()
    reassign = fields.String(validate=validate.OneOf(REASSIGN), metadata={"description": REASSIGN_DOC})


class TeamInSchema(TrimmedSchema):
    trim_fields = frozenset({"name"})
    name = fields.String(validate=NAME)
    lead_id = fields.UUID(allow_none=True, metadata={"description": "A user id: whom SLA breaches and escalations "
                                                                    "concern besides the assignee."})
    assignment_mode = fields.String(validate=validate.OneOf(ASSIGNMENT_MODES), metadata={
        "description": "manual: routing sets only the team; round_robin: the available member with room who waited "
                       "longest since their last assignment; least_open: the one with the fewest open tickets."})
    escalate_on_sla_warning = fields.Boolean()
    sla_escalation = fields.String(validate=validate.OneOf(SLA_ESCALATIONS), metadata={
        "description": "On an SLA warning (with escalate_on_sla_warning): notify the lead, or notify and reassign "
                       "the ticket to the lead."})
    members = fields.List(fields.Nested(MemberInSchema), validate=validate.Length(max=500), metadata={
        "description": "The whole member list (replaces it); the order is the round-robin order for ties."})

    @validates("members")
    def unique_members(self, value: list[dict[str, Any]], **_: Any) -> None:
        users = [m["user_id"] for m in value if m.get("user_id") is not None]
        if len(users) != len(set(users)):
            raise ValidationError("A user appears more than once.")


class TeamCreateSchema(TeamInSchema):
    name = fields.String(required=True, validate=NAME)


class TeamUpdateSchema(TeamInSchema):
    reassign = fields.String(validate=validate.OneOf(REASSIGN), metadata={"description": REASSIGN_DOC})


class MemberSchema(Schema):
    user_id = fields.UUID(dump_only=True)
    capacity = fields.Integer(dump_only=True, allow_none=True)
    available = fields.Boolean(dump_only=True)
    open_count = fields.Integer(dump_only=True, metadata={
        "description": "Open (not resolved or closed) tickets of this team assigned to the member."})
    last_assigned_at = UtcDateTime(dump_only=True, allow_none=True)


class TeamSchema(RecordSchema):
    name = fields.String(dump_only=True)
    lead_id = fields.UUID(dump_only=True, allow_none=True)
    assignment_mode = fields.String(dump_only=True)
    escalate_on_sla_warning = fields.Boolean(dump_only=True)
    sla_escalation = fields.String(dump_only=True)
    members = fields.List(fields.Nested(MemberSchema), dump_only=True)


class RuleInSchema(TrimmedSchema):
    trim_fields = frozenset({"name"})
    name = fields.String(validate=NAME)
    condition = fields.String(allow_none=True, validate=validate.Length(max=4000), metadata={
        "description": "The filter language on tickets, e.g. `channel = 'email' and tags in ('billing')`; "
                       "empty: every ticket."})
    team_id = fields.UUID(allow_none=True)
    set_priority = fields.String(allow_none=True, validate=validate.OneOf(PRIORITIES))
    add_tags = fields.List(fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(max=50))
    position = fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000), metadata={
        "description": "Rules are tried in ascending position (then creation); the first match applies."})
    enabled = fields.Boolean()


class RuleCreateSchema(RuleInSchema):
    name = fields.String(required=True, validate=NAME)

    @validates_schema
    def has_an_effect(self, data: dict[str, Any], **_: Any) -> None:
        if not (data.get("team_id") or data.get("set_priority") or data.get("add_tags")):
            raise ValidationError({"team_id": ["Give at least one of: team_id, set_priority, add_tags."]})


class RuleSchema(RecordSchema):
    name = fields.String(dump_only=True)
    condition = fields.String(dump_only=True, allow_none=True)
    team_id = fields.UUID(dump_only=True, allow_none=True)
    set_priority = fields.String(dump_only=True, allow_none=True)
    add_tags = fields.List(fields.String(), dump_only=True)
    position = fields.Integer(dump_only=True)
    enabled = fields.Boolean(dump_only=True)
