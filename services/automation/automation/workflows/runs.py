"""Runs inside a transaction: start one (deduped by its cause, checked against the loop and rate
limits), queue it, put it to sleep (a timer) or to wait (an event), wake it, stop it.

Every function here runs in the caller's transaction and tenant; none makes an HTTP call.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from automation.models import Base
from automation.workflows.definition import Definition, parse_definition
from automation.workflows.models import (
    CANCELLED,
    FAILED,
    FINISHED,
    RUNNING,
    WAITING,
    Workflow,
    WorkflowRun,
    WorkflowRunStep,
    WorkflowVersion,
    WorkflowWait,
    run_queue,
)
from automation.workflows.steps import ActionRegistry
from crm_core.ids import uuid7
from crm_core.metrics import metrics
from crm_db.fair_queue import FairQueue
from crm_db.timers import Timers, timer_table

RESUME = "workflow.resume"  # a delay's end or a wait's timeout
SCHEDULE = "workflow.schedule"  # a schedule trigger's next firing


@dataclass(frozen=True)
class Limits:
    max_chain: int = 5  # runs in a causation chain: deeper is a loop
    runs_per_minute: int = 1000  # run starts per tenant per minute
    max_active: int = 100  # enabled workflows per tenant
    schedule_max_records: int = 10_000


def timers() -> Timers:
    return Timers(timer_table(Base.metadata))


_DEFINITIONS: dict[tuple[uuid.UUID, uuid.UUID, int], Definition] = {}


def definition_of(session: Session, run: WorkflowRun, actions: ActionRegistry) -> Definition:
    """The definition of the version the run started on (versions never change: cached)."""
    key = (run.tenant_id, run.workflow_id, run.workflow_version)
    found = _DEFINITIONS.get(key)
    if found is None:
        raw = session.scalars(select(WorkflowVersion.definition).where(
            WorkflowVersion.workflow_id == run.workflow_id, WorkflowVersion.number == run.workflow_version)).one()
        found = parse_definition(raw, actions)
        if len(_DEFINITIONS) > 10_000:
            _DEFINITIONS.clear()
        _DEFINITIONS[key] = found
    return found


QUEUE = FairQueue(run_queue, "run_id")


def enqueue(session: Session, run: WorkflowRun, due_at: dt.datetime) -> None:
    QUEUE.set_due(session, run.tenant_id, run.id, due_at)


def unqueue(session: Session, run: WorkflowRun) -> None:
    QUEUE.remove(session, run.tenant_id, run.id)


def start_run(session: Session, workflow: Workflow, definition: Definition, *, trigger_key: str,
              trigger: dict[str, Any], record_type: str | None, record_id: str | None,
              causation: Sequence[str], now: dt.datetime, limits: Limits,
              started_by: uuid.UUID | None = None, event_time: dt.datetime | None = None,
              first_step: str | None = None) -> WorkflowRun | None:
    """A new run of the workflow's current version, queued to start now; None when this cause
    already started one (a redelivered event, a replayed webhook). A run that would be too deep
    in its causation chain, or over the tenant's rate, is recorded failed and does nothing."""
    existing = session.scalars(select(WorkflowRun.id).where(
        WorkflowRun.workflow_id == workflow.id, WorkflowRun.trigger_key == trigger_key)).first()
    if existing is not None:
        return None
    run_id = uuid7()
    chain = [*causation, str(run_id)]
    run = WorkflowRun(id=run_id, workflow_id=workflow.id, workflow_version=workflow.version_number, status=RUNNING,
                      trigger_key=trigger_key[:200], trigger=trigger, record_type=record_type, record_id=record_id,
                      causation=chain, current_step=first_step or definition.first, step_count=0, wait_token=0,
                      started_by=started_by, event_time=event_time, record_stale=True,
                      created_at=now)  # the same clock as the runs-per-minute count below
    error = None
    if len(causation) >= limits.max_chain:
        error = (f"Loop stopped: this run would be number {len(chain)} in a chain of workflow runs, each "
                 f"started by the previous one's change (limit {limits.max_chain}); chain: {', '.join(chain)}.")
        metrics().workflow_limit_rejections.labels("chain").inc()
    elif _started_last_minute(session, now) >= limits.runs_per_minute:
        error = f"Run limit reached: at most {limits.runs_per_minute} workflow runs start per minute."
        metrics().workflow_limit_rejections.labels("runs_per_minute").inc()
    if error:
        run.status, run.error, run.finished_at, run.current_step = FAILED, error, now, None
        metrics().workflow_runs.labels("rejected").inc()
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:  # the same cause, started at the same moment by another consumer
        return None
    if not error:  # a new run has no queue row yet: one INSERT, not set_due's UPDATE first
        session.execute(insert(run_queue).values(tenant_id=run.tenant_id, run_id=run.id, due_at=now))
        metrics().workflow_runs.labels("started").inc()
    return run


def _started_last_minute(session: Session, now: dt.datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(WorkflowRun).where(
        WorkflowRun.created_at > now - dt.timedelta(minutes=1))) or 0)


def sleep(session: Session, run: WorkflowRun, until: dt.datetime, resume_at: str) -> None:
    """A delay (or a wait's timeout): the run leaves the queue and a timer wakes it at `until`."""
    run.wait_token += 1
    run.status, run.waiting_until = WAITING, until
    unqueue(session, run)
    timers().schedule(session, RESUME, run.id, until, {"token": run.wait_token, "step": resume_at})


def wait_for(session: Session, run: WorkflowRun, record_id: str, event_type: str, condition: str | None,
             timeout_at: dt.datetime, on_event: str, on_timeout: str) -> None:
    sleep(session, run, timeout_at, on_timeout)
    session.add(WorkflowWait(run_id=run.id, record_id=record_id, event_type=event_type, condition=condition,
                             wait_token=run.wait_token))
    run.current_step = on_event  # where an event sends it; the timer's payload says where a timeout does


def wake(session: Session, run: WorkflowRun, step: str, now: dt.datetime, *, output: dict[str, Any]) -> bool:
    """End the run's delay or wait and queue it at `step`; False when it no longer waits."""
    if run.status != WAITING:
        return False
    waiting = session.scalars(select(WorkflowRunStep).where(
        WorkflowRunStep.run_id == run.id, WorkflowRunStep.status == WAITING)).first()
    if waiting is not None:
        waiting.status, waiting.finished_at, waiting.output = "succeeded", now, output
    session.execute(delete(WorkflowWait).where(WorkflowWait.run_id == run.id))
    timers().cancel(session, RESUME, run.id)
    run.wait_token += 1
    run.status, run.waiting_until, run.current_step, run.record_stale = RUNNING, None, step, True
    if step == "end":
        finish(session, run, now, "completed")
        return True
    enqueue(session, run, now)
    return True


def finish(session: Session, run: WorkflowRun, now: dt.datetime, status: str, error: str | None = None) -> None:
    run.status, run.finished_at, run.error = status, now, error
    if status != FAILED:
        run.current_step = None
    run.waiting_until = None
    unqueue(session, run)
    session.execute(delete(WorkflowWait).where(WorkflowWait.run_id == run.id))
    timers().cancel(session, RESUME, run.id)
    metrics().workflow_runs.labels(status).inc()


def cancel(session: Session, run: WorkflowRun, now: dt.datetime, why: str) -> bool:
    if run.status in FINISHED:
        return False
    session.execute(update(WorkflowRunStep).where(
        WorkflowRunStep.run_id == run.id, WorkflowRunStep.status.in_((RUNNING, WAITING, "retrying"))).values(
        status=CANCELLED, finished_at=now))
    finish(session, run, now, CANCELLED, why)
    return True


def stop_runs(session: Session, workflow_id: uuid.UUID, record_id: str | None, now: dt.datetime, why: str) -> int:
    """Cancel the workflow's unfinished runs (on one record, when given)."""
    stmt = select(WorkflowRun).where(WorkflowRun.workflow_id == workflow_id, WorkflowRun.status.in_((RUNNING, WAITING)))
    if record_id is not None:
        stmt = stmt.where(WorkflowRun.record_id == record_id)
    return sum(cancel(session, run, now, why) for run in session.scalars(stmt.with_for_update()).all())


def definition_for_workflow(session: Session, workflow: Workflow, actions: ActionRegistry) -> Definition:
    """The workflow's current definition (cached per version like definition_of)."""
    key = (workflow.tenant_id, workflow.id, workflow.version_number)
    found = _DEFINITIONS.get(key)
    if found is None:
        found = parse_definition(workflow.definition, actions)
        _DEFINITIONS[key] = found
    return found
