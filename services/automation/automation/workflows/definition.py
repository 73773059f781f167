"""A workflow's definition: its shape (marshmallow), its steps as a graph, and the checks a save
makes before anything runs (docs/workflows.md, "Validation").

Errors are keyed by where they are: `trigger.condition`, `steps.<step id>.<field>`, so the
console can put each message beside the field it is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from automation.workflows.steps import Action, Writes
from crm_db.base import utcnow
from crm_http.parsing import flatten_errors

END = "end"
STEP_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
EVENT_TYPE = re.compile(r"^crm\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
RECORD_TYPES = ("contact", "company", "deal", "ticket")
SOURCES = ("import", "api", "workflow", "user")
FLOW_TYPES = ("condition", "delay", "wait_for_event")
MAX_STEPS = 100
MAX_WAIT_DAYS = 365
# Event aggregates whose subject is the record a run acts on.
AGGREGATE_RECORD = {"contact": "contact", "company": "company", "deal": "deal", "ticket": "ticket"}


def record_type_of(event_type: str) -> str | None:
    parts = event_type.split(".")
    return AGGREGATE_RECORD.get(parts[1]) if len(parts) == 3 else None


def _zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"Unknown time zone {value!r}.") from exc


def _cron(value: str) -> None:
    if len(value.split()) != 5:
        raise ValidationError("A cron expression has five fields: minute hour day-of-month month day-of-week.")
    try:
        next(CronSim(value, utcnow()))
    except (CronSimError, StopIteration) as exc:
        raise ValidationError(f"Not a valid cron expression: {exc}") from exc


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class TriggerSchema(_Strict):
    type = fields.String(required=True, validate=validate.OneOf(("event", "schedule", "webhook", "manual")))
    event = fields.String(validate=validate.Regexp(EVENT_TYPE, error="Use an event type like crm.contact.created."))
    condition = fields.String(validate=validate.Length(min=1, max=4000))
    changed = fields.List(fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(min=1, max=50))
    changed_to = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(min=1, max=20))
    cron = fields.String(validate=_cron)
    timezone = fields.String(validate=_zone)
    record_type = fields.String(validate=validate.OneOf(RECORD_TYPES))
    filter = fields.String(validate=validate.Length(min=1, max=4000))
    exclude_sources = fields.List(fields.String(validate=validate.OneOf(SOURCES)), validate=validate.Length(max=4))

    @validates_schema(skip_on_field_errors=False)
    def _per_type(self, data: dict[str, Any], **_: Any) -> None:
        kind = data.get("type")
        allowed = {"event": {"event", "condition", "changed", "changed_to"},
                   "schedule": {"cron", "timezone", "record_type", "filter"},
                   "webhook": {"record_type"}, "manual": {"record_type"}}.get(str(kind), set())
        errors: dict[str, list[str]] = {}
        for name in ("event", "condition", "changed", "changed_to", "cron", "timezone", "record_type", "filter"):
            if name in data and name not in allowed:
                errors[name] = [f"Not a field of a {kind} trigger."]
        required = {"event": ("event",), "schedule": ("cron", "record_type"), "manual": ("record_type",)}.get(str(kind), ())
        for name in required:
            if name not in data:
                errors[name] = ["Missing data for required field."]
        if kind == "event" and "event" in data and record_type_of(data["event"]) is None and (
                "condition" in data or "changed" in data or "changed_to" in data):
            errors["event"] = [f"{data['event']} is not about a contact, company, deal or ticket: it can have no condition."]
        if errors:
            raise ValidationError(errors)


class StepSchema(Schema):
    """The envelope every step shares; the rest is checked by the step type's own schema."""

    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Regexp(STEP_ID, error="Letters, digits, _ and - only (1-100)."))
    type = fields.String(required=True)
    next = fields.String(validate=validate.Length(min=1, max=100))


class ConditionStep(_Strict):
    condition = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    then = fields.String(validate=validate.Length(min=1, max=100))
    # "else" is a Python keyword: the field keeps the JSON name.
    else_ = fields.String(data_key="else", validate=validate.Length(min=1, max=100))


def _one_of(data: Mapping[str, Any], names: tuple[str, ...], *, required: bool = True) -> None:
    given = [n for n in names if n in data]
    if len(given) > 1:
        raise ValidationError({given[1]: [f"Give one of {', '.join(names)}."]})
    if required and not given:
        raise ValidationError({names[0]: [f"Give one of {', '.join(names)}."]})


_DURATION = {"minutes": 60 * 24 * MAX_WAIT_DAYS, "hours": 24 * MAX_WAIT_DAYS, "days": MAX_WAIT_DAYS}


class DelayStep(_Strict):
    minutes = fields.Integer(validate=validate.Range(min=0, max=_DURATION["minutes"]))
    hours = fields.Integer(validate=validate.Range(min=0, max=_DURATION["hours"]))
    days = fields.Integer(validate=validate.Range(min=0, max=_DURATION["days"]))
    until = fields.AwareDateTime()
    until_field = fields.String(validate=validate.Length(min=1, max=100))
    offset_minutes = fields.Integer(validate=validate.Range(min=-_DURATION["minutes"], max=_DURATION["minutes"]))
    business_hours = fields.Raw()  # true, or a business-hours calendar id

    @validates_schema
    def _one(self, data: dict[str, Any], **_: Any) -> None:
        _one_of(data, ("minutes", "hours", "days", "until", "until_field"))
        if "offset_minutes" in data and "until_field" not in data:
            raise ValidationError({"offset_minutes": ["Only with until_field."]})
        hours = data.get("business_hours")
        if hours is not None and hours is not True and not isinstance(hours, str):
            raise ValidationError({"business_hours": ["true, or a business-hours calendar id."]})


class WaitStep(_Strict):
    event = fields.String(required=True, validate=validate.Regexp(EVENT_TYPE, error="Use an event type like crm.deal.updated."))
    condition = fields.String(validate=validate.Length(min=1, max=4000))
    timeout_minutes = fields.Integer(validate=validate.Range(min=1, max=_DURATION["minutes"]))
    timeout_hours = fields.Integer(validate=validate.Range(min=1, max=_DURATION["hours"]))
    timeout_days = fields.Integer(validate=validate.Range(min=1, max=_DURATION["days"]))
    on_timeout = fields.String(validate=validate.Length(min=1, max=100))

    @validates_schema
    def _one(self, data: dict[str, Any], **_: Any) -> None:
        _one_of(data, ("timeout_minutes", "timeout_hours", "timeout_days"))


FLOW_SCHEMAS: dict[str, type[Schema]] = {"condition": ConditionStep, "delay": DelayStep, "wait_for_event": WaitStep}


class WorkflowSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    enabled = fields.Boolean(load_default=True)
    trigger = fields.Dict(required=True)
    steps = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=MAX_STEPS))


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    params: dict[str, Any]  # the step's own fields, as loaded by its schema
    next: str  # the step after it (a step id or END), jumps resolved
    branches: tuple[str, ...] = ()  # other targets: a condition's else, a wait's timeout

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.next, *self.branches)


@dataclass(frozen=True)
class Definition:
    trigger: dict[str, Any]
    steps: tuple[Step, ...]

    @property
    def first(self) -> str:
        return self.steps[0].id

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    @property
    def record_type(self) -> str | None:
        t = self.trigger
        return record_type_of(t["event"]) if t["type"] == "event" else t.get("record_type")


class DefinitionErrors(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid workflow definition")
        self.errors = errors


def parse_definition(raw: Mapping[str, Any], actions: Mapping[str, Action]) -> Definition:
    """The shape of trigger and steps, and the step graph: targets exist and go forward, every
    step is reachable. Raises DefinitionErrors. Field knowledge (filters, field names) and
    cycles between workflows need the services and the other workflows: see checks.py."""
    errors: dict[str, list[str]] = {}
    trigger: dict[str, Any] = {}
    try:
        trigger = TriggerSchema().load(raw.get("trigger") or {})
    except ValidationError as exc:
        errors.update(flatten_errors(exc.messages, "trigger"))
    steps: list[tuple[str, str, dict[str, Any], str | None]] = []
    seen: set[str] = set()
    raw_steps = raw.get("steps") or []
    for index, item in enumerate(raw_steps):
        where = f"steps.{item.get('id') if isinstance(item, dict) and isinstance(item.get('id'), str) else index}"
        if not isinstance(item, dict):
            errors[where] = ["A step is a JSON object."]
            continue
        try:
            head = StepSchema().load(item)
        except ValidationError as exc:
            errors.update(flatten_errors(exc.messages, where))
            continue
        if head["id"] in seen:
            errors[f"{where}.id"] = [f"Another step has the id {head['id']!r}."]
            continue
        if head["id"] == END:
            errors[f"{where}.id"] = [f"{END!r} means the end of the run; give the step another id."]
            continue
        seen.add(head["id"])
        schema = FLOW_SCHEMAS.get(head["type"]) or (actions[head["type"]].schema if head["type"] in actions else None)
        if schema is None:
            known = ", ".join(sorted({*FLOW_TYPES, *actions}))
            errors[f"{where}.type"] = [f"Unknown step type {head['type']!r}; one of: {known}."]
            continue
        own = {k: v for k, v in item.items() if k not in ("id", "type", "next")}
        try:
            loaded = schema().load(own)
        except ValidationError as exc:
            errors.update(flatten_errors(exc.messages, where))
            continue
        # Actions take the step's JSON as written (their schema has checked it); flow steps the
        # loaded values (dates parsed).
        params = loaded if head["type"] in FLOW_SCHEMAS else own
        steps.append((head["id"], head["type"], params, head.get("next")))
    if errors:
        raise DefinitionErrors(errors)
    graph = _graph(steps)
    _check_graph(graph)
    definition = Definition(trigger, tuple(graph))
    _check_record_types(definition, actions)
    return definition


def _check_record_types(definition: Definition, actions: Mapping[str, Action]) -> None:
    """An action that acts on a kind of record, in a workflow whose runs have another or none."""
    record_type, errors = definition.record_type, {}
    for step in definition.steps:
        allowed = actions[step.type].record_types if step.type in actions else None
        if allowed is None or record_type in allowed:
            continue
        kinds = ", ".join(sorted(allowed))
        errors[f"steps.{step.id}.type"] = [
            f"{step.type} acts on a {kinds}; this workflow's runs have no record (give the trigger a record_type)."
            if record_type is None else f"{step.type} acts on a {kinds}, not on a {record_type}."]
    if errors:
        raise DefinitionErrors(errors)


def _graph(steps: list[tuple[str, str, dict[str, Any], str | None]]) -> list[Step]:
    out = []
    for index, (step_id, kind, params, jump) in enumerate(steps):
        following = steps[index + 1][0] if index + 1 < len(steps) else END
        nxt, branches = jump or following, ()
        if kind == "condition":
            nxt = params.get("then") or jump or following
            branches = (params.get("else_") or END,)
        elif kind == "wait_for_event":
            branches = (params.get("on_timeout") or jump or following,)
        out.append(Step(step_id, kind, params, nxt, branches))
    return out


def _check_graph(graph: list[Step]) -> None:
    position = {s.id: i for i, s in enumerate(graph)}
    errors: dict[str, list[str]] = {}
    for i, step in enumerate(graph):
        names = {"condition": ("then", "else"), "wait_for_event": ("next", "on_timeout")}.get(step.type, ("next",))
        for name, target in zip(names, step.targets, strict=False):
            if target == END:
                continue
            if target not in position:
                errors[f"steps.{step.id}.{name}"] = [f"No step has the id {target!r} (or use {END!r})."]
            elif position[target] <= i:
                errors[f"steps.{step.id}.{name}"] = [
                    f"Jumps go forward only (to a later step), so that every run ends; {target!r} comes before."]
    if not errors:
        reached = {graph[0].id}
        for step in graph:  # forward jumps only: one pass in order reaches everything reachable
            if step.id in reached:
                reached.update(t for t in step.targets if t != END)
        for step in graph:
            if step.id not in reached:
                errors[f"steps.{step.id}"] = ["No path reaches this step: every step before it jumps past it or ends."]
    if errors:
        raise DefinitionErrors(errors)


def writes_of(definition: Definition, actions: Mapping[str, Action]) -> list[tuple[str, Writes]]:
    """(step id, what it may write) for every action step, for the cycle check."""
    out = []
    for step in definition.steps:
        action = actions.get(step.type)
        if action is not None:
            out.append((step.id, action.writes(step.params, definition.record_type)))
    return out
