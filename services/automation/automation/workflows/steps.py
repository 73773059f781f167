"""What the engine hands an action, and what an action is.

An action runs outside any database transaction (its work is HTTP calls to the owning services);
the engine records its output, or its error, afterwards. It must be safe to run twice with the
same `ctx.idempotency_key`: a worker may die between the call and the record, and the retry
then repeats the call. Services dedupe POSTs on the Idempotency-Key; a PATCH that sets values is
idempotent by itself.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from marshmallow import Schema

from automation.workflows.client import ApiResponse, ServiceApi


class StepError(Exception):
    """An action failed. `retryable`: the cause may pass (a service down, a 409/412 race), so the
    engine retries with backoff; otherwise (a 422: the definition asks for something impossible)
    the run fails at once, and can be retried from this step once the cause is fixed."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass
class StepContext:
    tenant_id: uuid.UUID
    workflow_id: uuid.UUID
    run_id: uuid.UUID
    step_id: str
    idempotency_key: str  # f"wf:{run_id}:{step_id}": the same on every attempt and retry of this step
    causation: list[str]  # run ids that led here, oldest first, ending with this run's
    record_type: str | None  # contact, company, deal, ticket; None for a run without a record
    record_id: str | None
    record: dict[str, Any] | None  # the record as its service shows it at the step's start
    trigger: dict[str, Any]  # the event envelope, the webhook body, or {"type": "manual", "user_id": ...}
    api: ServiceApi
    now: dt.datetime
    dry_run: bool = False
    # Events this step writes to automation's own outbox (e.g. crm.mail.send_requested), committed
    # in the same transaction as the step's result: written once however often the step runs.
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # Starts or stops runs of other workflows (enrol / stop_workflow), in the step's transaction.
    enrolments: list[tuple[str, uuid.UUID, str | None]] = field(default_factory=list)  # ("start"|"stop", workflow, record)

    def call(self, service: str, method: str, path: str, body: Any = None, **kw: Any) -> ApiResponse:
        """An API call of this step, with its tenant, origin, causation chain and idempotency key."""
        kw.setdefault("idempotency_key", self.idempotency_key if method == "POST" else None)
        return self.api.request(self.tenant_id, service, method, path, body, causation=self.causation, **kw)

    def emit(self, event_type: str, subject: str, data: dict[str, Any]) -> None:
        self.events.append((event_type, subject, data))

    def template_values(self) -> dict[str, Any]:
        return {"record": self.record or {}, "trigger": self.trigger,
                "run": {"id": str(self.run_id), "workflow_id": str(self.workflow_id)}}


@dataclass(frozen=True)
class Writes:
    """What an action may change, for the cycle check between workflows: the event types its
    write produces and, for updates, the fields it sets (None: any field)."""

    event_types: frozenset[str]
    fields: frozenset[str] | None = None


class Action(Protocol):
    type: str
    schema: type[Schema]  # the step's own fields (not id/type/next); unknown fields are refused
    record_types: frozenset[str] | None  # record types it can act on; None: any, or none needed

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes: ...

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        """Do it; return the step's output (JSON). Raise StepError on failure."""
        ...

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        """What run() would do (rendered titles, fields, recipients), changing nothing."""
        ...


ActionRegistry = Mapping[str, Action]
ActionFactory = Callable[[], ActionRegistry]
