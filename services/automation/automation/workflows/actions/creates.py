"""create_task and create_deal: a POST to pipeline's public route with the step's idempotency key,
so a retry (or a redelivered event) answers the first task or deal instead of making another."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from automation.workflows.actions.base import (
    RECORD_TYPES,
    StepSchema,
    Template,
    call,
    current_record,
    is_replayed_key,
    load,
    owner_of,
    run_record,
    user_or_owner,
)
from automation.workflows.steps import StepContext, StepError, Writes
from automation.workflows.templates import render, template_problem

TASK_PRIORITIES = ("low", "normal", "high")
TASK_LINK = {"contact": "contact_id", "company": "company_id", "deal": "deal_id", "ticket": "ticket_id"}
MAX_TITLE = 500
MAX_NAME = 200


def links(record_type: str, record_id: str, record: Mapping[str, Any], *names: str) -> dict[str, str]:
    """The run's record as a link, plus the contact and company it links to itself (so a task
    about a deal shows on its contact too); only the link names given are filled."""
    out = {f"{record_type}_id": record_id} if f"{record_type}_id" in names else {}
    for name in names:
        if name not in out and record.get(name):
            out[name] = str(record[name])
    return out


def _one_line(text: str, limit: int, what: str) -> str:
    line = " ".join(text.split())
    if not line:
        raise StepError(f"The {what} renders empty", retryable=False)
    return line[:limit]


def _assignee(value: str | None, record_type: str, record: Mapping[str, Any]) -> str | None:
    return owner_of(record_type, record) if value in (None, "owner") else value


def _post(ctx: StepContext, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
    """The created record; {} when an earlier attempt of this step created it with another body
    (its record or clock moved on since), which the service answers 422 for the key."""
    resp = call(ctx, "pipeline", "POST", path, body, what=what, allow=(422,))
    if resp.status == 422:
        if is_replayed_key(resp):
            return {}
        raise StepError(f"{what}: HTTP 422: {resp.problem()}", retryable=False)
    return resp.body if isinstance(resp.body, dict) else {}


class CreateTaskSchema(StepSchema):
    title = Template(required=True)
    notes = Template(validate=validate.Length(max=20_000))
    due_in_days = fields.Integer(strict=True, validate=validate.Range(min=0, max=3650))
    due_in_hours = fields.Integer(strict=True, validate=validate.Range(min=0, max=24 * 3650))
    assignee = fields.String(validate=user_or_owner)
    priority = fields.String(validate=validate.OneOf(TASK_PRIORITIES))

    @validates_schema
    def one_due(self, data: dict[str, Any], **_: Any) -> None:
        if "due_in_days" in data and "due_in_hours" in data:
            raise ValidationError({"due_in_hours": ["Give due_in_days or due_in_hours, not both."]})


class CreateTask:
    type = "create_task"
    schema = CreateTaskSchema
    record_types = RECORD_TYPES

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        return Writes(frozenset({"crm.task.created"}))

    def request(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        record_type, record_id = run_record(ctx, RECORD_TYPES, self.type)
        p = load(self.schema, params)
        record, values = current_record(ctx), ctx.template_values()
        body: dict[str, Any] = {"title": _one_line(render(p["title"], values), MAX_TITLE, "task title"),
                                **links(record_type, record_id, record, *TASK_LINK.values())}
        if p.get("notes"):
            body["notes"] = render(p["notes"], values)[:20_000]
        # From the step's clock (the engine's `now` for the step), so every attempt sends one body.
        if "due_in_days" in p or "due_in_hours" in p:
            delta = dt.timedelta(days=p.get("due_in_days", 0), hours=p.get("due_in_hours", 0))
            body["due_at"] = (ctx.now + delta).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        body["assignee_id"] = _assignee(p.get("assignee"), record_type, record)
        if p.get("priority"):
            body["priority"] = p["priority"]
        return body

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        body = self.request(ctx, params)
        task = _post(ctx, "/v1/tasks", body, "Create the task")
        return {"task_id": task.get("id"), "title": body["title"], "due_at": body.get("due_at"),
                "assignee_id": body["assignee_id"], **({} if task else {"created_by_earlier_attempt": True})}

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        body = self.request(ctx, params)
        return {"task": body, "request": {"service": "pipeline", "method": "POST", "path": "/v1/tasks", "body": body}}


class CreateDealSchema(StepSchema):
    title = Template(required=True)
    pipeline_id = fields.UUID()
    stage_id = fields.UUID()
    amount = fields.Raw()  # a number, a decimal string, or a template of one
    currency = fields.String(validate=validate.Regexp(r"^[A-Za-z]{3}$", error="Use an ISO 4217 code."))
    owner = fields.String(validate=user_or_owner)

    @validates("amount")
    def money(self, value: Any, **_: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError("Give a number, a decimal string or a template.")
        if isinstance(value, str):
            problem = template_problem(value) if "{" in value else None if _decimal(value) is not None else "Not a number."
            if problem:
                raise ValidationError(problem)


def _decimal(text: Any) -> decimal.Decimal | None:
    try:
        value = decimal.Decimal(str(text).strip().replace(",", ""))
    except decimal.InvalidOperation:
        return None
    return value if value.is_finite() else None


class CreateDeal:
    type = "create_deal"
    schema = CreateDealSchema
    record_types = RECORD_TYPES

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        return Writes(frozenset({"crm.deal.created"}))

    def request(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        record_type, record_id = run_record(ctx, RECORD_TYPES, self.type)
        p = load(self.schema, params)
        record, values = current_record(ctx), ctx.template_values()
        body: dict[str, Any] = {"name": _one_line(render(p["title"], values), MAX_NAME, "deal title"),
                                **links(record_type, record_id, record, "contact_id", "company_id")}
        for name in ("pipeline_id", "stage_id"):
            if p.get(name):
                body[name] = str(p[name])
        if p.get("amount") is not None:
            raw = render(p["amount"], values) if isinstance(p["amount"], str) else p["amount"]
            amount = _decimal(raw)
            if amount is None or abs(amount) >= decimal.Decimal("1e15"):
                raise StepError(f"The deal amount {str(raw)[:50]!r} is not a number", retryable=False)
            body["amount"] = {"amount": str(amount.quantize(decimal.Decimal("0.01"))),
                              "currency": (p.get("currency") or self._base_currency(ctx)).upper()}
        owner = _assignee(p.get("owner"), record_type, record)
        if owner:
            body["owner_id"] = owner
        return body

    def _base_currency(self, ctx: StepContext) -> str:
        """The tenant's base currency, for an amount without one."""
        resp = call(ctx, "pipeline", "GET", "/v1/settings/pipeline", what="Read the pipeline settings")
        currency = resp.body.get("base_currency") if isinstance(resp.body, dict) else None
        if not currency:
            raise StepError("The tenant has no base currency; give the step a currency", retryable=False)
        return str(currency)

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        body = self.request(ctx, params)
        deal = _post(ctx, "/v1/deals", body, "Create the deal")
        return {"deal_id": deal.get("id"), "name": body["name"], "pipeline_id": deal.get("pipeline_id"),
                "stage_id": deal.get("stage_id"), "owner_id": body.get("owner_id"),
                **({} if deal else {"created_by_earlier_attempt": True})}

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        body = self.request(ctx, params)
        return {"deal": body, "request": {"service": "pipeline", "method": "POST", "path": "/v1/deals", "body": body}}
