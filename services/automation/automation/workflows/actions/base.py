"""What the actions share: step schemas, the owning services' answers turned into StepErrors, the
record a step acts on, and the read-modify-write of a record under If-Match."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from automation.workflows.client import RECORDS, ApiResponse, ServiceUnavailableError
from automation.workflows.steps import StepContext, StepError
from automation.workflows.templates import template_problem

RECORD_TYPES = frozenset(RECORDS)
STEP_KEYS = ("id", "type", "next")  # the engine's part of a step; an action's schema has the rest
# Who a record belongs to: tickets are assigned, the rest are owned.
OWNER_FIELD = {"contact": "owner_id", "company": "owner_id", "deal": "owner_id", "ticket": "assignee_id"}
READ_ONLY = frozenset({"id", "created_at", "updated_at", "version", "tenant_id", "number", "merged_ids"})
# crm.deal.changed is written per change of these (pipeline's history), crm.deal.stage_changed per stage move.
DEAL_LOGGED = frozenset({"amount", "expected_close_date", "owner_id", "probability", "forecast_category", "status"})
IF_MATCH_ATTEMPTS = 4


class StepSchema(Schema):
    class Meta:
        unknown = RAISE  # a misspelt field is a 422 at save time, not a silent no-op


class Template(fields.String):
    """A string that is a template (checked when the workflow is saved)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Length(min=1, max=100 * 1024))
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = template_problem(text)
        if problem:
            raise ValidationError(problem)
        return text


def user_or_owner(value: Any) -> None:
    """Either "owner" (the record's owner) or a user id."""
    if value == "owner":
        return
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise ValidationError('Use "owner" or a user id.') from None


def load(schema: type[Schema], params: Mapping[str, Any]) -> dict[str, Any]:
    """The step's fields, checked again at run time (a definition saved before a rule was added)."""
    try:
        return schema().load({k: v for k, v in params.items() if k not in STEP_KEYS})
    except ValidationError as exc:
        raise StepError(f"Invalid step: {exc.messages}", retryable=False) from exc


def each_type(record_type: str | None, allowed: Iterable[str]) -> list[str]:
    """The record types a step may act on: the run's, or (not known yet) every one it allows."""
    return [record_type] if record_type in allowed else sorted(allowed) if record_type is None else []


def updated_events(record_type: str, changed: Iterable[str] | None) -> frozenset[str]:
    """The events a PATCH of these fields of a record writes (None: any field)."""
    names = None if changed is None else set(changed)
    events = {f"crm.{record_type}.updated"}
    if record_type == "deal":
        if names is None or names & (DEAL_LOGGED | {"stage_id", "pipeline_id"}):
            events.add("crm.deal.changed")
        if names is None or names & {"stage_id", "pipeline_id", "status"}:
            events.add("crm.deal.stage_changed")
    if record_type == "ticket" and (names is None or names & {"status", "custom_status"}):
        events.add("crm.ticket.status_changed")
    return frozenset(events)


# -- the owning services' answers -------------------------------------------------------------

def is_replayed_key(resp: ApiResponse) -> bool:
    """422 for an Idempotency-Key sent before with another body: an earlier attempt of this step
    got through (the record or its clock moved on since, so the body differs)."""
    errors = resp.body.get("errors") if isinstance(resp.body, dict) else None
    return resp.status == 422 and isinstance(errors, dict) and "Idempotency-Key" in errors


def failure(resp: ApiResponse, what: str) -> StepError:
    """A non-2xx answer as the step's error: a race or an outage is retried, a refusal is not."""
    if resp.status in (404, 410):
        return StepError(f"{what}: not found (deleted, or never this tenant's)", retryable=False)
    # 401: the internal token was refused (a key being rotated), not the step's fault.
    retryable = resp.status in (401, 409, 412, 423, 425, 429) or resp.status >= 500
    return StepError(f"{what}: HTTP {resp.status}: {resp.problem()}", retryable=retryable)


def call(ctx: StepContext, service: str, method: str, path: str, body: Any = None, *, what: str,
         allow: Iterable[int] = (), **kw: Any) -> ApiResponse:
    """ctx.call, with an outage as a retryable StepError and any non-2xx answer (but `allow`) as its error."""
    try:
        resp = ctx.call(service, method, path, body, **kw)
    except ServiceUnavailableError as exc:
        raise StepError(f"{what}: {exc}", retryable=True) from exc
    if resp.ok or resp.status in allow:
        return resp
    raise failure(resp, what)


def record_path(record_type: str, record_id: str) -> tuple[str, str]:
    service, base = RECORDS[record_type]
    return service, f"{base}/{quote(str(record_id), safe='')}"


def fetch(ctx: StepContext, record_type: str, record_id: str) -> tuple[dict[str, Any], str | None]:
    """The record now and its ETag."""
    service, path = record_path(record_type, record_id)
    resp = call(ctx, service, "GET", path, what=f"Read {record_type} {record_id}")
    if not isinstance(resp.body, dict):
        raise StepError(f"Read {record_type} {record_id}: no record in the answer", retryable=True)
    return resp.body, resp.headers.get("etag")


def run_record(ctx: StepContext, allowed: Iterable[str], action: str) -> tuple[str, str]:
    """The run's record type and id, or a StepError when this action cannot act on it."""
    allowed = frozenset(allowed)
    if ctx.record_type is None or ctx.record_id is None:
        raise StepError(f"{action} needs a record; this run has none", retryable=False)
    if ctx.record_type not in allowed:
        raise StepError(f"{action} acts on {', '.join(sorted(allowed))}, not on a {ctx.record_type}", retryable=False)
    return ctx.record_type, str(ctx.record_id)


def current_record(ctx: StepContext) -> dict[str, Any]:
    """The run's record as the step started with it (read now if the engine did not)."""
    if ctx.record is not None:
        return ctx.record
    assert ctx.record_type is not None and ctx.record_id is not None
    return fetch(ctx, ctx.record_type, str(ctx.record_id))[0]


LINKED = {  # the record a step may act on instead of the run's: (record type, its field holding the id)
    ("contact", "company"): "company_id", ("deal", "company"): "company_id", ("deal", "contact"): "contact_id",
    ("ticket", "company"): "company_id", ("ticket", "contact"): "contact_id",
}


def target(ctx: StepContext, which: str, action: str) -> tuple[str, str, dict[str, Any] | None]:
    """(record type, id, record if known) of `which`: "trigger" (the run's record) or its linked
    "company" / "contact". The link is read from the run's own record, so it is this tenant's."""
    record_type, record_id = run_record(ctx, RECORD_TYPES, action)
    if which == "trigger" or which == record_type:
        return record_type, record_id, ctx.record
    field = LINKED.get((record_type, which))
    if field is None:
        raise StepError(f"A {record_type} has no linked {which}", retryable=False)
    linked = current_record(ctx).get(field)
    if not linked:
        raise StepError(f"The {record_type} has no {which} ({field} is empty)", retryable=False)
    return which, str(linked), None


def live_id(record: Mapping[str, Any] | None, record_id: str) -> str:
    """The id to write to: a read of a contact merged away answers the one it was merged into,
    and a write to the old id is a 409, so writes go to the id the read answered."""
    return str(record["id"]) if record and record.get("id") else record_id


def owner_of(record_type: str, record: Mapping[str, Any]) -> str | None:
    value = record.get(OWNER_FIELD[record_type])
    return str(value) if value else None


def modify(ctx: StepContext, record_type: str, record_id: str,
           change: Callable[[dict[str, Any]], dict[str, Any] | None], *, what: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Read, change, write under If-Match: a concurrent edit makes the PATCH a 412, and the change is
    worked out again on the fresh record (a few times, then the step is retried later). `change`
    returns the PATCH body, or None when the record needs none. Returns (record after, body sent)."""
    for _ in range(IF_MATCH_ATTEMPTS):
        record, etag = fetch(ctx, record_type, record_id)
        body = change(record)
        if body is None:
            return record, None
        service, path = record_path(record_type, live_id(record, record_id))
        resp = call(ctx, service, "PATCH", path, body, what=what, allow=(412,), if_match=etag or str(record.get("version")))
        if resp.status != 412:
            return (resp.body if isinstance(resp.body, dict) else record), body
    raise StepError(f"{what}: the {record_type} kept changing under this step; it is retried", retryable=True)
