"""The run loop: claim runnable runs fairly across tenants and take each through its steps.

A step is three moves: (1) a short transaction marks the step started and counts the attempt;
(2) its work, outside any transaction (HTTP calls to the owning services, with the step's
idempotency key); (3) a short transaction records the outcome and moves the run on: to the next
step, to sleep (a timer), to wait (an event), to a retry with backoff, or to its end. A worker
that dies between (2) and (3) leaves the run in the queue with its lease; when the lease ends the
step runs again with the same key, and the service answers with what it did the first time.

Delays and waits hold no process: a waiting run is a row and a timer (crm_db.timers), so 100,000
of them cost their rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from automation.models import Base
from automation.workflows import runs
from automation.workflows.client import ServiceApi, ServiceUnavailableError
from automation.workflows.definition import END, Definition, Step
from automation.workflows.models import RUNNING, WAITING, Workflow, WorkflowRun, WorkflowRunStep, run_queue
from automation.workflows.scheduling import FAN_OUT, delay_until
from automation.workflows.steps import ActionRegistry, StepContext, StepError
from automation.workflows.tracing import workflow_writes
from crm_core.context import tenant_context
from crm_core.metrics import metrics
from crm_db.base import as_utc, utcnow
from crm_db.database import Database
from crm_db.fair_queue import TenantSlots
from crm_events.outbox import Outbox

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF = (5, 30, 120, 600, 1800)  # seconds after attempt 1, 2, ...: times the retry base / 5
# A claimed run's lease, renewed every third of it while its worker lives (_renew_leases): only a
# dead worker lets it run out, and then its runs wait at most this long for another worker. (It was
# a fixed 5 minutes, far above a step's HTTP deadline: a SIGKILLed worker stalled its in-flight runs
# for 5 minutes; tests/integration/test_workflow_kill.py.)
LEASE = dt.timedelta(seconds=30)
STEPS_PER_CLAIM = 50  # a long run yields its slot now and then
FAN_OUT_STEP = Step(FAN_OUT, FAN_OUT, {}, END)


@dataclass
class Work:
    """What step (2) needs, read in step (1)."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    workflow_id: uuid.UUID
    definition: Definition
    step: Step
    attempt: int
    started_at: dt.datetime  # the step's first attempt: due dates count from it, on every attempt
    wait_token: int
    causation: list[str]
    record_type: str | None
    record_id: str | None
    record: dict[str, Any] | None
    record_stale: bool
    trigger: dict[str, Any]
    first_action: bool
    key_generation: int = 0

    @property
    def idempotency_key(self) -> str:
        key = f"wf:{self.run_id}:{self.step.id}"
        return f"{key}:{self.key_generation}" if self.key_generation else key


@dataclass(eq=False)
class _Lease:
    """The due time a claim (or its last renewal) gave a run's queue row: a renewal moves the row only
    while it still holds exactly that, so a retry's backoff or a finished run's removal stands."""

    tenant_id: uuid.UUID
    due_at: dt.datetime


@dataclass
class Outcome:
    output: dict[str, Any] = field(default_factory=dict)
    next: str | None = None  # where the run goes on; None with an error
    error: str | None = None
    retryable: bool = False
    sleep_until: dt.datetime | None = None
    wait: tuple[str, str, str | None, dt.datetime, str] | None = None  # (record, event, condition, timeout, on_timeout)
    record: dict[str, Any] | None = None  # a fresh snapshot to keep
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    enrolments: list[tuple[str, uuid.UUID, str | None]] = field(default_factory=list)
    fan_out: list[str] | None = None  # a schedule run: the records to start runs on
    action: bool = False


class RunWorker:
    def __init__(self, db: Database, api: ServiceApi, actions: ActionRegistry, limits: runs.Limits, *,
                 concurrency: int = 8, tenant_concurrency: int = 4, idle_sleep: float = 0.2,
                 retry_base: float = 5.0, now: Callable[[], dt.datetime] = utcnow, lease: dt.timedelta = LEASE) -> None:
        self.db, self.api, self.actions, self.limits, self.lease = db, api, actions, limits, lease
        self.slots = TenantSlots(concurrency, tenant_concurrency)
        self._lock = threading.Lock()  # guards _leases
        self.idle_sleep, self.retry_base, self.now = idle_sleep, retry_base, now
        self.outbox = Outbox("automation", Base.metadata)
        self._pool: ThreadPoolExecutor | None = None
        self._leases: dict[uuid.UUID, _Lease] = {}  # by run id: the runs this worker has claimed
        self._renewed = time.monotonic()

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    self._renew_leases()
                    started = self._dispatch()
                except Exception:
                    log.exception("workflow run loop failed; retrying")
                    stop.wait(2.0)
                    continue
                if not started:
                    self.slots.freed.wait(self.idle_sleep)
                    self.slots.freed.clear()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def run_due(self, max_rounds: int = 100) -> int:
        """Rounds until nothing is runnable now (tests, benchmarks); runs advanced."""
        total = 0
        for _ in range(max_rounds):
            futures = self._dispatch()
            wait_all(futures)
            for f in futures:
                f.result()
            if not futures:
                break
            total += len(futures)
        return total

    def _dispatch(self) -> list[Future[None]]:
        free, room = self.slots.free()
        if free <= 0:
            return []
        now = self.now()
        with self.db.engine.begin() as conn:
            claimed = runs.QUEUE.claim(conn, now, free, per=self.slots.per_tenant, lease=self.lease, room=room)
        if not claimed:
            return []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.slots.total, thread_name_prefix="workflow-run")
        futures = []
        for tenant_id, run_id in claimed:
            lease = _Lease(tenant_id, now + self.lease)
            self.slots.take(tenant_id)
            with self._lock:
                self._leases[run_id] = lease
            future = self._pool.submit(self._advance, tenant_id, run_id)
            future.add_done_callback(lambda _f, t=tenant_id, r=run_id, x=lease: self._release(t, r, x))
            futures.append(future)
        return futures

    def _release(self, tenant_id: uuid.UUID, run_id: uuid.UUID, lease: _Lease) -> None:
        with self._lock:
            if self._leases.get(run_id) is lease:  # not a newer claim of the run (it yielded its slot)
                del self._leases[run_id]
        self.slots.release(tenant_id)

    def _renew_leases(self) -> None:
        """Every third of a lease: move the leases of the runs in flight here a lease ahead."""
        if time.monotonic() - self._renewed < self.lease.total_seconds() / 3:
            return
        self._renewed = time.monotonic()
        with self._lock:
            held = list(self._leases.items())
        if not held:
            return
        until = self.now() + self.lease
        q = run_queue.c
        stmt = update(run_queue).where(q.tenant_id == bindparam("t"), q.run_id == bindparam("r"),
                                       q.due_at == bindparam("held")).values(due_at=bindparam("until"))
        with self.db.engine.begin() as conn:
            conn.execute(stmt, [{"t": x.tenant_id, "r": run_id, "held": x.due_at, "until": until} for run_id, x in held])
        for _run_id, x in held:
            x.due_at = until  # a row that no longer held it was not moved, and never matches again

    def _advance(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        with tenant_context(tenant_id):
            try:
                for _ in range(STEPS_PER_CLAIM):
                    work = self._begin(run_id)
                    if work is None:
                        return
                    outcome = self._execute(work)
                    if not self._end(work, outcome):
                        return
                with self.db.transaction() as session:  # yield the slot: back in the queue, due now
                    run = session.get(WorkflowRun, (tenant_id, run_id))
                    if run is not None and run.status == RUNNING:
                        runs.enqueue(session, run, self.now())
            except Exception:
                log.exception("workflow run %s: step failed unexpectedly; retried when its lease ends", run_id)

    # -- (1) begin -------------------------------------------------------------------------------

    def _begin(self, run_id: uuid.UUID) -> Work | None:
        now = self.now()
        with self.db.transaction() as session:
            run = session.scalars(select(WorkflowRun).where(WorkflowRun.id == run_id).with_for_update()).first()
            if run is None:
                return None
            if run.status != RUNNING or run.current_step is None:
                runs.unqueue(session, run)
                return None
            definition = runs.definition_of(session, run, self.actions)
            try:
                step = FAN_OUT_STEP if run.current_step == FAN_OUT else definition.step(run.current_step)
            except KeyError:
                runs.finish(session, run, now, "failed", f"The run's step {run.current_step!r} is not in its version.")
                return None
            row = session.scalars(select(WorkflowRunStep).where(
                WorkflowRunStep.run_id == run.id, WorkflowRunStep.step_id == step.id)).first()
            first_action = False
            if row is None:
                run.step_count += 1
                first_action = step.type in self.actions and not session.scalars(select(WorkflowRunStep.id).where(
                    WorkflowRunStep.run_id == run.id, WorkflowRunStep.type.in_(list(self.actions)))).first()
                row = WorkflowRunStep(run_id=run.id, step_id=step.id, type=step.type, sequence=run.step_count,
                                      status=RUNNING, input=_jsonable(step.params), attempts=0, started_at=now)
                session.add(row)
            row.attempts += 1
            row.status = RUNNING
            return Work(run.tenant_id, run.id, run.workflow_id, definition, step, row.attempts,
                        as_utc(row.started_at or now), run.wait_token, list(run.causation or []), run.record_type,
                        run.record_id, run.record, run.record_stale, dict(run.trigger or {}), first_action,
                        row.key_generation or 0)

    # -- (2) execute -----------------------------------------------------------------------------

    def _execute(self, work: Work) -> Outcome:
        try:
            record = work.record
            fresh: dict[str, Any] | None = None
            if work.record_type and work.record_id and work.record_stale:
                fresh = self.api.record(work.tenant_id, work.record_type, work.record_id)
                if fresh is None:
                    return Outcome(error=f"The {work.record_type} {work.record_id} no longer exists (or was merged away).")
                record = fresh
            outcome = self._step(work, record)
            outcome.record = fresh
            return outcome
        except StepError as exc:
            return Outcome(error=exc.message, retryable=exc.retryable, action=work.step.type in self.actions)
        except ServiceUnavailableError as exc:
            return Outcome(error=str(exc), retryable=True)
        except Exception as exc:  # a bug: shown on the run, retried like a passing failure
            log.exception("workflow step %s of run %s failed", work.step.id, work.run_id)
            return Outcome(error=f"Unexpected error: {type(exc).__name__}: {exc}", retryable=True)

    def _step(self, work: Work, record: dict[str, Any] | None) -> Outcome:
        step, params = work.step, work.step.params
        if step.type == FAN_OUT:
            return self._fan_out(work)
        if step.type == "condition":
            if work.record_type is None or work.record_id is None:
                raise StepError("This run has no record to check a condition on.", retryable=False)
            matched = self.api.matches(work.tenant_id, work.record_type, work.record_id, params["condition"])
            return Outcome({"matched": matched}, next=step.next if matched else step.branches[0])
        if step.type == "delay":
            until = delay_until(self.api, work.tenant_id, params, work.started_at, record)
            return Outcome({"until": until.isoformat()}, next=step.next, sleep_until=until)
        if step.type == "wait_for_event":
            if work.record_id is None:
                raise StepError("This run has no record to wait for an event about.", retryable=False)
            minutes = (params.get("timeout_minutes") or 0) + 60 * (params.get("timeout_hours") or 0) \
                + 1440 * (params.get("timeout_days") or 0)
            timeout = work.started_at + dt.timedelta(minutes=minutes)
            return Outcome({"event": params["event"], "timeout_at": timeout.isoformat()}, next=step.next,
                           wait=(work.record_id, params["event"], params.get("condition"), timeout, step.branches[0]))
        action = self.actions[step.type]
        ctx = step_context(work, record, self.api)
        output = action.run(ctx, params)
        return Outcome(output, next=step.next, events=ctx.events, enrolments=ctx.enrolments, action=True)

    def _fan_out(self, work: Work) -> Outcome:
        t = work.definition.trigger
        ids = self.api.select_ids(work.tenant_id, t["record_type"], t.get("filter"), self.limits.schedule_max_records)
        return Outcome({"records": len(ids)}, next=END, fan_out=ids)

    # -- (3) end ---------------------------------------------------------------------------------

    def _end(self, work: Work, outcome: Outcome) -> bool:
        """Record the outcome; True when the run goes straight on to its next step."""
        now = self.now()
        with self.db.transaction() as session:
            run = session.scalars(select(WorkflowRun).where(WorkflowRun.id == work.run_id).with_for_update()).first()
            if run is None or run.status != RUNNING or run.current_step != work.step.id or run.wait_token != work.wait_token:
                return False  # cancelled or moved on meanwhile: this attempt's result is dropped
            row = session.scalars(select(WorkflowRunStep).where(
                WorkflowRunStep.run_id == run.id, WorkflowRunStep.step_id == work.step.id).with_for_update()).one()
            if outcome.record is not None:
                run.record, run.record_stale = outcome.record, False
            kind = work.step.type
            if outcome.error is not None:
                return self._failed(session, run, row, work, outcome, now)
            row.output, row.error, row.finished_at = _jsonable(outcome.output), None, now
            row.status = "succeeded"
            metrics().workflow_steps.labels(kind, "succeeded").inc()
            if outcome.action and work.first_action and run.event_time is not None:
                metrics().workflow_event_to_action.labels(work.definition.trigger["type"]).observe(
                    max(0.0, (now - as_utc(run.event_time)).total_seconds()))
            with workflow_writes(run.causation):
                for event_type, subject, data in outcome.events:
                    self.outbox.emit(session, event_type, subject, data)
            self._enrol(session, run, work, outcome, now)
            nxt = outcome.next or END
            if outcome.sleep_until is not None:
                row.status = WAITING
                run.current_step = nxt
                runs.sleep(session, run, outcome.sleep_until, nxt)
                return False
            if outcome.wait is not None:
                record_id, event_type, condition, timeout, on_timeout = outcome.wait
                row.status = WAITING
                runs.wait_for(session, run, record_id, event_type, condition, timeout, nxt, on_timeout)
                return False
            if nxt == END:
                runs.finish(session, run, now, "completed")
                return False
            run.current_step = nxt
            return True

    def _failed(self, session: Session, run: WorkflowRun, row: WorkflowRunStep, work: Work, outcome: Outcome,
                now: dt.datetime) -> bool:
        row.error = (outcome.error or "")[:2000]
        if outcome.retryable and row.attempts < MAX_ATTEMPTS:
            row.status = "retrying"
            delay = self.retry_base / 5 * BACKOFF[row.attempts - 1] * (1 + 0.2 * random.random())
            runs.enqueue(session, run, now + dt.timedelta(seconds=delay))
            metrics().workflow_steps.labels(work.step.type, "retrying").inc()
            return False
        row.status, row.finished_at = "failed", now
        if not outcome.retryable:
            row.key_generation = (row.key_generation or 0) + 1  # refused: a retry asks afresh (models.py)
        metrics().workflow_steps.labels(work.step.type, "failed").inc()
        attempts = f" after {row.attempts} attempts" if row.attempts > 1 else ""
        runs.finish(session, run, now, "failed", f"Step {work.step.id!r} failed{attempts}: {row.error}"[:2000])
        return False

    def _enrol(self, session: Session, run: WorkflowRun, work: Work, outcome: Outcome, now: dt.datetime) -> None:
        for verb, workflow_id, record_id in outcome.enrolments:
            target = session.get(Workflow, (run.tenant_id, workflow_id))
            if target is None:
                continue
            if verb == "stop":
                runs.stop_runs(session, target.id, record_id, now, f"Stopped by workflow run {run.id}.")
            elif target.enabled:
                definition = runs.definition_for_workflow(session, target, self.actions)
                runs.start_run(session, target, definition, trigger_key=f"enrol:{run.id}:{work.step.id}",
                               trigger={"type": "enrol", "run_id": str(run.id), "workflow_id": str(run.workflow_id)},
                               record_type=run.record_type, record_id=record_id, causation=run.causation, now=now,
                               limits=self.limits)
        if outcome.fan_out:
            workflow = session.get(Workflow, (run.tenant_id, run.workflow_id))
            if workflow is None:
                return
            definition = runs.definition_of(session, run, self.actions)
            at = str(run.trigger.get("at") or run.created_at)
            for record_id in outcome.fan_out:
                runs.start_run(session, workflow, definition, trigger_key=f"schedule:{at}:{record_id}",
                               trigger={**run.trigger, "record_id": record_id}, record_type=definition.record_type,
                               record_id=record_id, causation=[], now=now, limits=self.limits)

def step_context(work: Work, record: dict[str, Any] | None, api: ServiceApi, *, dry_run: bool = False) -> StepContext:
    """What an action sees of its step (steps.py)."""
    return StepContext(work.tenant_id, work.workflow_id, work.run_id, work.step.id, work.idempotency_key,
                       work.causation, work.record_type, work.record_id, record, work.trigger, api, work.started_at,
                       dry_run=dry_run)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
