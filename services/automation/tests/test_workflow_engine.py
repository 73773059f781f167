"""The run engine on PostgreSQL (RLS on), with the services' API faked: steps in order, delays
on a controllable clock through real timers, waits ended by events or timeouts, retries with
backoff then failure and resume, cancellation, and the loop limit."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select
from workflow_fakes import fake_actions

import automation
from automation.models import Base, metadata
from automation.workflows import runs
from automation.workflows.engine import RunWorker
from automation.workflows.models import Workflow, WorkflowRun, WorkflowRunStep, WorkflowVersion
from automation.workflows.runs import RESUME, Limits
from automation.workflows.scheduling import TimerHandlers
from automation.workflows.triggers import Triggers
from crm_core.context import tenant_context
from crm_db.database import Database
from crm_db.migrate import upgrade
from crm_db.timers import TimerScheduler, timer_table
from crm_events.envelope import Event
from crm_runtime.service import migrations_dir
from crm_testing.clock import Clock
from crm_testing.db import create_service_database, libpq_url


class FakeApi:
    """The owning services, as the engine sees them: records by id, conditions by a predicate."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.matching: set[str] = set()  # record ids that match any condition
        self.by_email: dict[str, list[str]] = {}  # contacts by address, for "email = '...'" selects
        self.selects: list[str] = []

    def record(self, tenant_id: uuid.UUID, record_type: str, record_id: str) -> dict[str, Any] | None:
        return self.records.get(record_id)

    def matches(self, tenant_id: uuid.UUID, record_type: str, record_id: str, text: str) -> bool:
        return record_id in self.matching

    def select_ids(self, tenant_id: uuid.UUID, record_type: str, text: str | None, limit: int) -> list[str]:
        self.selects.append(f"{record_type}: {text}")
        address = (text or "").removeprefix("email = '").removesuffix("'")
        return self.by_email.get(address, [])[:limit]


@pytest.fixture
def db(pg_admin_url: str) -> Iterator[Database]:
    metadata()
    name = f"automation_engine_{uuid.uuid4().hex[:8]}"
    owner_url, app_url = create_service_database(pg_admin_url, name)
    upgrade(migrations_dir(automation.__file__), owner_url)
    database = Database(app_url)
    yield database
    database.dispose()
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Rig:
    def __init__(self, db: Database, fail: list[str] | None = None, limits: Limits | None = None) -> None:
        self.db, self.api, self.clock, self.calls = db, FakeApi(), Clock(), []
        self.tenant = uuid.uuid4()
        self.actions = fake_actions(self.calls, fail)
        self.limits = limits or Limits()
        self.worker = RunWorker(db, self.api, self.actions, self.limits, retry_base=5.0, now=self.clock)  # type: ignore[arg-type]
        self.timers = TimerScheduler(db, timer_table(Base.metadata), {RESUME: TimerHandlers(self.actions, self.limits, self.clock).resume},
                                     now=self.clock)
        self.triggers = Triggers(self.api, self.actions, self.limits, self.clock)  # type: ignore[arg-type]

    def workflow(self, trigger: dict[str, Any], steps: list[dict[str, Any]]) -> uuid.UUID:
        body = {"trigger": trigger, "steps": steps}
        with tenant_context(self.tenant), self.db.transaction() as session:
            wf = Workflow(id=uuid.uuid4(), name="wf", enabled=True, trigger_type=trigger["type"],
                          trigger_event=trigger.get("event"), version_number=1, definition=body)
            session.add(wf)
            session.flush()
            session.add(WorkflowVersion(workflow_id=wf.id, number=1, definition=body))
            return wf.id

    def event(self, event_type: str, subject: str, data: dict[str, Any] | None = None, **extra: Any) -> Event:
        event = Event(type=event_type, source="contacts", tenant_id=str(self.tenant), subject=subject, data=data or {}, **extra)
        with tenant_context(self.tenant), self.db.transaction() as session:
            self.triggers.on_event(session, event)
        return event

    def settle(self) -> None:
        for _ in range(20):
            if self.worker.run_due() == 0 and self.timers.run_once() == 0:
                return

    def runs(self) -> list[WorkflowRun]:
        with tenant_context(self.tenant), self.db.transaction() as session:
            found = session.scalars(select(WorkflowRun).order_by(WorkflowRun.created_at)).all()
            session.expunge_all()
            return list(found)

    def steps(self, run_id: uuid.UUID) -> dict[str, WorkflowRunStep]:
        with tenant_context(self.tenant), self.db.transaction() as session:
            found = session.scalars(select(WorkflowRunStep).where(WorkflowRunStep.run_id == run_id)).all()
            session.expunge_all()
            return {s.step_id: s for s in found}


EXAMPLE_STEPS = [
    {"id": "call", "type": "create_task", "title": "Call {{ record.first_name }}", "due_in_days": 1},
    {"id": "wait", "type": "delay", "minutes": 1},
    {"id": "tag", "type": "update_record", "fields": {"tags": ["called-workflow"]}},
]
LEADS = {"type": "event", "event": "crm.contact.created", "condition": "lifecycle_stage = 'lead'"}


def test_a_run_goes_through_its_steps_and_its_delay_fires_on_the_clock(db: Database) -> None:
    rig = Rig(db)
    rig.workflow(LEADS, EXAMPLE_STEPS)
    rig.api.records["c1"] = {"id": "c1", "first_name": "Ada"}
    rig.api.matching.add("c1")
    rig.api.records["c2"] = {"id": "c2", "first_name": "Bob"}
    event = rig.event("crm.contact.created", "c1")
    rig.event("crm.contact.created", "c2")  # does not match: no run
    rig.event("crm.contact.created", "c1", id=event.id)  # a redelivery starts nothing
    rig.settle()
    [run] = rig.runs()
    assert run.status == "waiting" and run.record_id == "c1"
    assert [c[0] for c in rig.calls] == [f"wf:{run.id}:call"]
    rig.clock.advance(seconds=59)
    rig.settle()
    assert rig.runs()[0].status == "waiting"
    rig.clock.advance(seconds=2)
    rig.settle()
    [run] = rig.runs()
    assert run.status == "completed"
    assert [c[0] for c in rig.calls] == [f"wf:{run.id}:call", f"wf:{run.id}:tag"]
    steps = rig.steps(run.id)
    assert [steps[s].status for s in ("call", "wait", "tag")] == ["succeeded"] * 3
    assert steps["call"].input == {"title": "Call {{ record.first_name }}", "due_in_days": 1}
    assert steps["wait"].output and steps["wait"].output["by"] == "timer"


def test_a_failing_step_retries_with_backoff_then_fails_and_resumes_from_that_step(db: Database) -> None:
    rig = Rig(db, fail=["down"] * 5)
    wid = rig.workflow({"type": "manual", "record_type": "contact"}, [{"id": "call", "type": "create_task", "title": "x"}])
    rig.api.records["c1"] = {"id": "c1"}
    with tenant_context(rig.tenant), db.transaction() as session:
        wf = session.get(Workflow, (rig.tenant, wid))
        assert wf is not None
        definition = runs.definition_for_workflow(session, wf, rig.actions)
        runs.start_run(session, wf, definition, trigger_key="manual:1", trigger={"type": "manual"}, record_type="contact",
                       record_id="c1", causation=[], now=rig.clock(), limits=rig.limits)
    for seconds in (0, 7, 40, 150, 730):  # backoff 5, 30, 120, 600 s, each up to 20 % longer
        rig.clock.advance(seconds=seconds)
        rig.settle()
    [run] = rig.runs()
    step = rig.steps(run.id)["call"]
    assert run.status == "failed" and step.attempts == 5 and step.status == "failed"
    assert "Step 'call' failed after 5 attempts: down" == run.error
    with tenant_context(rig.tenant), db.transaction() as session:
        from automation.workflows.service import WorkflowService

        WorkflowService(None, rig.actions, rig.limits).retry(session, session.get(WorkflowRun, (rig.tenant, run.id)))  # type: ignore[arg-type]
    rig.clock.advance(seconds=1)
    rig.settle()
    [run] = rig.runs()
    assert run.status == "completed" and rig.steps(run.id)["call"].attempts == 6
    assert [c[0] for c in rig.calls] == [f"wf:{run.id}:call"]


def test_wait_for_event_ends_on_the_event_or_takes_the_timeout_branch(db: Database) -> None:
    rig = Rig(db)
    rig.workflow({"type": "event", "event": "crm.deal.created"}, [
        {"id": "wait", "type": "wait_for_event", "event": "crm.deal.updated", "timeout_days": 2, "on_timeout": "nudge"},
        {"id": "won", "type": "create_task", "title": "Say thanks", "next": "end"},
        {"id": "nudge", "type": "create_task", "title": "Nudge"},
    ])
    for deal in ("d1", "d2"):
        rig.api.records[deal] = {"id": deal}
        rig.event("crm.deal.created", deal)
    rig.settle()
    assert [r.status for r in rig.runs()] == ["waiting", "waiting"]
    rig.event("crm.deal.updated", "d1")
    rig.settle()
    rig.clock.advance(days=2, seconds=1)
    rig.settle()
    by_record = {r.record_id: r for r in rig.runs()}
    assert {k: r.status for k, r in by_record.items()} == {"d1": "completed", "d2": "completed"}
    assert [p["title"] for _k, p in rig.calls] == ["Say thanks", "Nudge"]
    assert set(rig.steps(by_record["d1"].id)) == {"wait", "won"}
    assert set(rig.steps(by_record["d2"].id)) == {"wait", "nudge"}


def test_a_wait_for_mail_ends_when_the_runs_contact_wrote_it(db: Database) -> None:
    """crm.mail.received names no contact: its sender's address is looked up, only while a run waits for mail."""
    rig = Rig(db)
    rig.workflow({"type": "event", "event": "crm.contact.created"}, [
        {"id": "wait", "type": "wait_for_event", "event": "crm.mail.received", "timeout_days": 2, "on_timeout": "end"},
        {"id": "replied", "type": "create_task", "title": "Replied"},
    ])
    rig.api.by_email["ada@example.com"] = ["c1"]
    rig.event("crm.mail.received", "m0", {"from": {"address": "ada@example.com"}})
    assert rig.api.selects == []  # nobody waits for mail: no lookup
    for contact in ("c1", "c2"):
        rig.api.records[contact] = {"id": contact}
        rig.event("crm.contact.created", contact)
    rig.settle()
    rig.event("crm.mail.received", "m1", {"from": {"address": "ada@example.com", "name": "Ada"}})
    rig.settle()
    assert rig.api.selects == ["contact: email = 'ada@example.com'"]
    assert {r.record_id: r.status for r in rig.runs()} == {"c1": "completed", "c2": "waiting"}
    assert [p["title"] for _k, p in rig.calls] == ["Replied"]


def test_a_causation_chain_deeper_than_the_limit_stops_with_a_clear_error(db: Database) -> None:
    rig = Rig(db, limits=Limits(max_chain=3))
    rig.workflow({"type": "event", "event": "crm.contact.updated"}, [{"id": "t", "type": "create_task", "title": "x"}])
    rig.api.records["c1"] = {"id": "c1"}
    chain = [str(uuid.uuid4()) for _ in range(3)]
    rig.event("crm.contact.updated", "c1")  # no chain: runs
    rig.event("crm.contact.updated", "c1", causation=chain, origin="workflow")  # three runs deep already
    rig.settle()
    statuses = sorted((r.status, (r.error or "")[:13]) for r in rig.runs())
    assert statuses == [("completed", ""), ("failed", "Loop stopped:")]


def test_cancel_stops_a_waiting_run_and_its_timer_does_nothing(db: Database) -> None:
    rig = Rig(db)
    rig.workflow(LEADS, EXAMPLE_STEPS)
    rig.api.records["c1"] = {"id": "c1", "first_name": "Ada"}
    rig.api.matching.add("c1")
    rig.event("crm.contact.created", "c1")
    rig.settle()
    [run] = rig.runs()
    with tenant_context(rig.tenant), db.transaction() as session:
        assert runs.cancel(session, session.get(WorkflowRun, (rig.tenant, run.id)), rig.clock(), "test")  # type: ignore[arg-type]
    rig.clock.advance(minutes=5)
    rig.settle()
    assert rig.runs()[0].status == "cancelled" and len(rig.calls) == 1
    assert dt.timedelta(0) <= rig.clock() - rig.runs()[0].finished_at  # type: ignore[operator]


def _queue_due(db: Database, run_id: uuid.UUID) -> dt.datetime | None:
    from automation.workflows.models import run_queue

    with db.engine.begin() as conn:
        return conn.execute(select(run_queue.c.due_at).where(run_queue.c.run_id == run_id)).scalar()


def test_a_live_worker_renews_its_leases_and_leaves_a_retry_backoff_alone(db: Database) -> None:
    import threading

    rig = Rig(db, fail=["down"])
    wid = rig.workflow({"type": "manual", "record_type": "contact"}, [{"id": "call", "type": "create_task", "title": "x"}])
    rig.api.records["c1"] = {"id": "c1"}
    with tenant_context(rig.tenant), db.transaction() as session:
        wf = session.get(Workflow, (rig.tenant, wid))
        assert wf is not None
        run = runs.start_run(session, wf, runs.definition_for_workflow(session, wf, rig.actions), trigger_key="manual:1",
                             trigger={"type": "manual"}, record_type="contact", record_id="c1", causation=[],
                             now=rig.clock(), limits=rig.limits)
        assert run is not None
        run_id = run.id
    action, release = rig.actions["create_task"], threading.Event()
    first_run = action.run

    def slow(ctx: Any, params: Any) -> Any:  # a step still at work when the lease would run out
        release.wait(10)
        return first_run(ctx, params)

    action.run = slow  # type: ignore[method-assign]
    [future] = rig.worker._dispatch()
    assert _queue_due(db, run_id) == rig.clock() + rig.worker.lease
    rig.clock.advance(seconds=25)
    rig.worker._renewed = float("-inf")  # a third of a lease has passed
    rig.worker._renew_leases()
    assert _queue_due(db, run_id) == rig.clock() + rig.worker.lease  # moved on: no other worker takes it
    release.set()
    future.result(timeout=10)
    retry_at = _queue_due(db, run_id)  # the step failed ("down"): retried after its backoff
    assert retry_at is not None and rig.steps(run_id)["call"].status == "retrying"
    assert not rig.worker._leases  # released with its step
    # A renewal racing the step's end must not move the backoff: it matches only the lease it holds.
    from automation.workflows.engine import _Lease

    rig.worker._leases[run_id] = _Lease(rig.tenant, rig.clock() + rig.worker.lease)
    rig.worker._renewed = float("-inf")
    rig.worker._renew_leases()
    assert _queue_due(db, run_id) == retry_at
