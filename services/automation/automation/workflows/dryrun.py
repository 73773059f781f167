"""Dry runs (`POST /v1/workflows/{id}/test`): a definition walked on one record, each step saying
what it would do, nothing changed. The web process serves them; no run loop is needed for it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from automation.workflows.client import ServiceApi, ServiceUnavailableError
from automation.workflows.definition import END, Definition
from automation.workflows.engine import Work, step_context
from automation.workflows.scheduling import delay_until
from automation.workflows.steps import ActionRegistry, StepError
from crm_db.base import utcnow


class DryRun:
    def __init__(self, api: ServiceApi, actions: ActionRegistry, now: Callable[[], dt.datetime] = utcnow) -> None:
        self.api, self.actions, self.now = api, actions, now

    def run(self, tenant_id: uuid.UUID, workflow_id: uuid.UUID, definition: Definition,
                record_type: str | None, record_id: str | None) -> dict[str, Any]:
        """What a run on this record would do, step by step, changing nothing: conditions are
        checked for real (they only read), delays and waits are reported and passed (a wait as if
        its event came), actions show their preview."""
        now = self.now()
        record = self.api.record(tenant_id, record_type, record_id) if record_type and record_id else None
        if record_type and record_id and record is None:
            return {"record_id": record_id, "error": f"No {record_type} with id {record_id!r}."}
        out: list[dict[str, Any]] = []
        current = definition.first
        run_id = uuid.UUID(int=0)
        while current != END and len(out) < len(definition.steps):
            step = definition.step(current)
            work = Work(tenant_id, run_id, workflow_id, definition, step, 1, now, 0, [], record_type, record_id,
                        record, False, {"type": "test"}, False)
            entry: dict[str, Any] = {"step_id": step.id, "type": step.type}
            try:
                if step.type in self.actions:
                    entry["would"] = self.actions[step.type].preview(step_context(work, record, self.api, dry_run=True), step.params)
                    current = step.next
                elif step.type == "condition":
                    if record_type is None or record_id is None:
                        raise StepError("This run has no record to check a condition on.", retryable=False)
                    matched = self.api.matches(tenant_id, record_type, record_id, step.params["condition"])
                    entry["matched"], current = matched, step.next if matched else step.branches[0]
                elif step.type == "delay":
                    entry["would_wait_until"] = delay_until(self.api, tenant_id, step.params, now, record).isoformat()
                    current = step.next
                else:
                    entry["would_wait_for"] = step.params["event"]
                    current = step.next
            except (StepError, ServiceUnavailableError) as exc:
                entry["error"] = getattr(exc, "message", str(exc))
                out.append(entry)
                break
            out.append(entry)
        return {"record_id": record_id, "steps": out}
