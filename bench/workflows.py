"""Workflow benchmark on PostgreSQL + Kafka with the real worker processes.

Events: 10,000 contacts (BENCH_WORKFLOW_EVENTS) created through the gateway's POST /v1/contacts/batch
at a steady rate (BENCH_WORKFLOW_RATE per second, in batches of BENCH_WORKFLOW_BATCH), each starting
a run of the workflow "on crm.contact.created: create_task". The path of one event: the contacts
web process (gunicorn) writes it to its outbox, the contacts worker's relay publishes it to Kafka,
`python -m automation worker` (its automation.workflows consumer, run loop and timers, as deployed)
starts a run and takes it through the step, POSTing the task to the pipeline web process (gunicorn).
Printed, from automation's database: event-to-action latency (the run's event_time, the contact
event's time, to the create_task step's finished_at; goal p99 <= 1 s) as p50 / p99 / max, with its
parts (event -> run started, run started -> step started, the step itself); runs completed per
second; CPU ms per run of the automation worker, of the pipeline and contacts web processes, of the
contacts and pipeline workers, and of the PostgreSQL backends (automation's database, pipeline's,
all of the bench's), and runs per second per core of the automation worker (runs/s divided by its
CPU s per wall s). The phase is bounded (BENCH_WORKFLOW_TIMEOUT, 420 s from the first event): when
the platform cannot keep up with the offered rate, the figures are of the runs completed by then,
and say so. Latency means something only where the runs keep up with the rate (BENCH_WORKFLOW_RATE).

Waiting runs (measured first, while the worker has nothing else to do): 100,000 runs
(BENCH_WORKFLOW_WAITING) waiting on a one-day delay are written
straight into automation's database (what runs.start_run + runs.sleep leave: the run waiting, its
delay step, its timer), in bulk. Printed, before and with them: the automation worker's CPU ms per
second while it has nothing to do (BENCH_WORKFLOW_IDLE_SECONDS of it; goal: the waiting runs add
close to nothing), and the time of one idle poll of the run loop (RunWorker.run_due with nothing
runnable: the fair claim on the run queue) and of the timer scheduler (TimerScheduler.run_once with
nothing due), from this process. BENCH_WORKFLOW_WORKERS (1) automation workers share the work.

The machine's other users share its cores: CPU per run hardly depends on them, latency and
runs/s do. Alone: `.venv/bin/python bench/workflows.py` (PostgreSQL from CRM_TEST_PG_ADMIN_URL,
Kafka from CRM_TEST_KAFKA_BOOTSTRAP, else the bench's own servers as bench/run.py starts them).
Bounded: fixed counts, 127.0.0.1 only, and the event phase's deadline above.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mail_send import BackendSampler  # noqa: E402
from run import cpu_seconds, drop_databases, kafka_bootstrap, pg_admin_url, pg_backends, process_tree  # noqa: E402

EVENTS = int(os.environ.get("BENCH_WORKFLOW_EVENTS", "10000").replace("_", ""))
RATE = float(os.environ.get("BENCH_WORKFLOW_RATE", "40"))
BATCH = int(os.environ.get("BENCH_WORKFLOW_BATCH", "10"))
WAITING = int(os.environ.get("BENCH_WORKFLOW_WAITING", "100000").replace("_", ""))
IDLE_SECONDS = float(os.environ.get("BENCH_WORKFLOW_IDLE_SECONDS", "20"))
TIMEOUT = float(os.environ.get("BENCH_WORKFLOW_TIMEOUT", "420"))
WORKERS = int(os.environ.get("BENCH_WORKFLOW_WORKERS", "1"))
POLLS = 200  # idle polls timed
SERVICES = ("contacts", "pipeline", "automation", "gateway")
UNLIMITED = "1000000"

EVENT_WORKFLOW = {"name": "Call every new contact", "trigger": {"type": "event", "event": "crm.contact.created"},
                  "steps": [{"id": "call", "type": "create_task", "title": "Call {{ record.first_name }}"}]}
WAITING_WORKFLOW = {"name": "Call a day later", "trigger": {"type": "manual", "record_type": "contact"},
                    "steps": [{"id": "wait", "type": "delay", "days": 1},
                              {"id": "call", "type": "create_task", "title": "Call {{ record.first_name }}"}]}


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


class Rows:
    """One tenant's rows of a service database, as its owner (under RLS, like every reader)."""

    def __init__(self, owner_url: str, tenant: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(owner_url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.tenant = tenant

    def all(self, query: str) -> list[Any]:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": self.tenant})
            return list(conn.execute(text(query)).all())

    def close(self) -> None:
        self.engine.dispose()


def _ok(resp: Any, status: int) -> Any:
    if resp.status != status:
        raise SystemExit(f"workflows bench: HTTP {resp.status}: {resp.data[:500]!r}")
    return resp.json()


def _send(platform: Any, token: str, prefix: str, count: int) -> None:
    items = [{"first_name": f"{prefix}-{i}", "last_name": "Bench", "email": f"{prefix}-{i}@bench.example.com"}
             for i in range(count)]
    body = _ok(platform.request("POST", "/v1/contacts/batch", {"mode": "create", "items": items}, token=token), 200)
    bad = [r for r in body["results"] if r["status"] != 201]
    if bad:
        raise SystemExit(f"workflows bench: batch {prefix}: {bad[:3]}")


def _steady_load(platform: Any, token: str) -> float:
    """EVENTS contacts in batches at RATE a second (sent on schedule by two threads); the wall time taken."""
    batches = -(-EVENTS // BATCH)
    interval = BATCH / RATE
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        futures = []
        for n in range(batches):
            delay = started + n * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(_send, platform, token, f"w{n}", min(BATCH, EVENTS - n * BATCH)))
        for f in futures:
            f.result()
    return time.perf_counter() - started


def _wait_runs(runs: Rows, expected: int, deadline: float) -> int:
    done = 0
    while time.perf_counter() < deadline:
        done = int(runs.all("SELECT count(*) FROM workflow_runs WHERE status IN ('completed', 'failed')")[0][0])
        if done >= expected:
            break
        time.sleep(0.25)
    return done


def _latencies(runs: Rows, since: dt.datetime) -> dict[str, list[float]]:
    rows = runs.all(
        "SELECT extract(epoch FROM s.finished_at - r.event_time), extract(epoch FROM r.created_at - r.event_time), "
        "extract(epoch FROM s.started_at - r.created_at), extract(epoch FROM s.finished_at - s.started_at) "
        "FROM workflow_runs r JOIN workflow_run_steps s ON s.run_id = r.id AND s.step_id = 'call' "
        f"WHERE r.status = 'completed' AND r.event_time >= '{since.isoformat()}'")
    names = ("event_to_action", "event_to_run", "run_to_step", "step")
    return {name: sorted(float(r[i]) for r in rows) for i, name in enumerate(names)}


class Cpu:
    """CPU seconds of process groups across a phase (pids looked up at each end)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.before: dict[str, float] = {}

    def start(self) -> None:
        self.before = {name: cpu_seconds(pids()) for name, pids in self.groups.items()}

    def used(self) -> dict[str, float]:
        return {name: cpu_seconds(pids()) - self.before[name] for name, pids in self.groups.items()}


def bench_events(platform: Any, token: str, tenant: str, worker_pid: Callable[[], list[int]],
                 backends: dict[str, Callable[[], list[int]]]) -> None:
    from crm_db.base import utcnow

    _ok(platform.request("POST", "/v1/workflows", EVENT_WORKFLOW, token=token), 201)
    automation = platform.services["automation"]
    runs = Rows(automation.settings.database_owner_url, tenant)
    # A warm-up batch first: the worker's consumers have joined their groups, pools and caches are
    # filled, and the measured events start on a running pipeline.
    _send(platform, token, "warm", BATCH)
    if _wait_runs(runs, BATCH, time.perf_counter() + 120) < BATCH:
        raise SystemExit("workflows bench: the warm-up runs did not complete within 120 s")
    since = utcnow()
    others = [p.pid for p in platform.processes if p.pid not in worker_pid()]
    cpu = Cpu({"automation_worker": worker_pid,
               "pipeline_web": lambda: process_tree(platform.services["pipeline"].web.pid),
               "contacts_web": lambda: process_tree(platform.services["contacts"].web.pid),
               "contacts+pipeline_workers": lambda: others})
    samplers = {name: BackendSampler(pids) for name, pids in backends.items()}
    for sampler in samplers.values():
        sampler.before = set(sampler.pids())
        sampler.__enter__()
    try:
        cpu.start()
        wall = time.perf_counter()
        deadline = wall + TIMEOUT
        load_seconds = _steady_load(platform, token)
        done = _wait_runs(runs, BATCH + EVENTS, deadline) - BATCH
        wall = time.perf_counter() - wall
        used = cpu.used()
    finally:
        for sampler in samplers.values():
            sampler.__exit__()
    try:
        by_status = dict(runs.all("SELECT status, count(*) FROM workflow_runs GROUP BY status"))
        lat = _latencies(runs, since)
    finally:
        runs.close()
    if by_status.get("failed"):
        raise SystemExit(f"workflows bench: runs failed: {by_status}")
    e2a = lat["event_to_action"]
    if not e2a:
        raise SystemExit(f"workflows bench: no run completed within {TIMEOUT:.0f} s: {by_status}")
    completed = len(e2a)
    p99 = _pct(e2a, 0.99)
    print(f"  events: {EVENTS} contacts in {load_seconds:.1f} s ({EVENTS / load_seconds:.0f}/s offered, batches of "
          f"{BATCH}); " + (f"all {EVENTS} runs completed {wall:.1f} s after the first event" if done >= EVENTS else
                           f"ONLY {completed} of {EVENTS} runs completed within the bound of {TIMEOUT:.0f} s "
                           f"(runs now {by_status}; the rest not yet started: the trigger consumer's backlog)"))
    print(f"  event-to-action latency p50 {statistics.median(e2a):.3f} s  p99 {p99:.3f} s  max {e2a[-1]:.3f} s "
          f"(goal p99 <= 1 s; {completed} runs)")
    for name, label in (("event_to_run", "event -> run started"), ("run_to_step", "run started -> step started"),
                        ("step", "create_task step")):
        values = lat[name]
        print(f"    {label:<28} p50 {statistics.median(values):.3f} s  p99 {_pct(values, 0.99):.3f} s  "
              f"max {values[-1]:.3f} s")
    worker_s = used["automation_worker"]
    runs_per_s = completed / wall
    print(f"  runs completed/s {runs_per_s:.1f}; automation worker {worker_s / wall:.2f} cores busy -> "
          f"{runs_per_s / max(worker_s / wall, 1e-9):.0f} runs/s per core")
    # Per completed run: when some are still unfinished, the CPU of their part-done work counts too.
    print("  CPU ms per run: " + ", ".join(f"{name} {seconds * 1000 / completed:.2f}" for name, seconds in used.items())
          + ", " + ", ".join(f"postgres {name} {s.seconds() * 1000 / completed:.2f}" for name, s in samplers.items()))
    print(f"workflow_event_to_action_p99_s={p99:.3f}", flush=True)


def _insert_waiting(automation: Any, tenant: uuid.UUID, workflow_id: uuid.UUID) -> float:
    """WAITING runs as runs.start_run + runs.sleep leave them, written in bulk; the seconds taken."""
    from automation.models import Base
    from automation.workflows.models import WorkflowRun, WorkflowRunStep
    from automation.workflows.runs import RESUME
    from crm_core.context import tenant_context
    from crm_core.ids import uuid7
    from crm_db.base import utcnow
    from crm_db.bulk import bulk_insert
    from crm_db.database import Database
    from crm_db.timers import timer_table

    db = Database(automation.settings.database_url, pool_size=1)
    started = time.perf_counter()
    now = utcnow()
    until = now + dt.timedelta(days=1)
    # Started an hour ago: not counted by the per-minute run-start limit of the event phase after.
    record = {"created_at": now - dt.timedelta(hours=1), "updated_at": now, "version": 1}
    try:
        for start in range(0, WAITING, 5000):
            runs, steps, timers = [], [], []
            for i in range(start, min(WAITING, start + 5000)):
                run_id = uuid7()
                runs.append({"tenant_id": tenant, "id": run_id, "workflow_id": workflow_id, "workflow_version": 1,
                             "status": "waiting", "trigger_key": f"manual:bench:{i}", "trigger": {"type": "manual"},
                             "record_type": "contact", "record_id": str(uuid7()), "record": None, "record_stale": True,
                             "causation": [str(run_id)], "current_step": "call", "step_count": 1, "wait_token": 1,
                             "waiting_until": until, "error": None, "finished_at": None, "started_by": None,
                             "event_time": None, **record})
                steps.append({"tenant_id": tenant, "id": uuid7(), "run_id": run_id, "step_id": "wait", "type": "delay",
                              "sequence": 1, "status": "waiting", "input": {"days": 1},
                              "output": {"until": until.isoformat()}, "error": None, "attempts": 1, "key_generation": 0,
                              "started_at": now, "finished_at": None, **record})
                timers.append({"tenant_id": tenant, "kind": RESUME, "subject_id": run_id, "due_at": until,
                               "payload": {"token": 1, "step": "call"}, "created_at": now, "attempts": 0})
            with tenant_context(tenant), db.transaction() as session:
                conn = session.connection()
                bulk_insert(conn, WorkflowRun.__table__, runs)
                bulk_insert(conn, WorkflowRunStep.__table__, steps)
                bulk_insert(conn, timer_table(Base.metadata), timers)
    finally:
        db.dispose()
    return time.perf_counter() - started


def _poll_times(automation: Any) -> tuple[list[float], list[float]]:
    """Wall ms of idle polls: the run loop's claim with nothing runnable, the timers' with nothing due."""
    from automation.workflows.wiring import WorkflowParts
    from crm_db.database import Database

    db = Database(automation.settings.database_url, pool_size=2)
    parts = WorkflowParts.build(automation.settings, db)
    worker, timers = parts.worker(db), parts.timers(db)
    try:
        run_loop, timer_loop = [], []
        for _ in range(POLLS):
            t = time.perf_counter()
            if worker.run_due(max_rounds=1):
                raise SystemExit("workflows bench: a run was runnable during the idle polls")
            run_loop.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            timers.run_once()
            timer_loop.append((time.perf_counter() - t) * 1000)
        return sorted(run_loop), sorted(timer_loop)
    finally:
        db.dispose()


def bench_waiting(platform: Any, token: str, tenant: str, worker_pid: Callable[[], list[int]],
                  backends: Callable[[], list[int]]) -> None:
    workflow = _ok(platform.request("POST", "/v1/workflows", WAITING_WORKFLOW, token=token), 201)
    automation = platform.services["automation"]
    time.sleep(2)  # the worker's loops settled after its start
    idle = _idle(automation, worker_pid, backends)
    took = _insert_waiting(automation, uuid.UUID(tenant), uuid.UUID(workflow["id"]))
    runs = Rows(automation.settings.database_owner_url, tenant)
    try:
        waiting = int(runs.all("SELECT count(*) FROM workflow_runs WHERE status = 'waiting'")[0][0])
    finally:
        runs.close()
    time.sleep(2)  # past anything the inserts woke
    loaded = _idle(automation, worker_pid, backends)
    print(f"  waiting runs: {waiting} runs on a one-day delay (bulk-written in {took:.1f} s); automation worker idle, "
          f"{IDLE_SECONDS:.0f} s each, before -> with them:")
    print(f"    worker CPU ms per second {idle['cpu']:.1f} -> {loaded['cpu']:.1f} (the relay's, consumers' and "
          f"loops' own polling); postgres (automation's database) {idle['pg']:.1f} -> {loaded['pg']:.1f}")
    print(f"    idle poll ms (p50/p99 of {POLLS}): run loop {idle['run_p50']:.2f}/{idle['run_p99']:.2f} -> "
          f"{loaded['run_p50']:.2f}/{loaded['run_p99']:.2f}; timer scheduler {idle['timer_p50']:.2f}/{idle['timer_p99']:.2f}"
          f" -> {loaded['timer_p50']:.2f}/{loaded['timer_p99']:.2f}")
    print(f"workflow_waiting_worker_cpu_ms_per_s={loaded['cpu']:.1f}", flush=True)


def _idle(automation: Any, worker_pid: Callable[[], list[int]], backends: Callable[[], list[int]]) -> dict[str, float]:
    """The worker's CPU ms per second over IDLE_SECONDS of nothing to do, and then idle poll times."""
    sampler = BackendSampler(backends)
    sampler.before = set(backends())
    with sampler:
        cpu, wall = cpu_seconds(worker_pid()), time.perf_counter()
        time.sleep(IDLE_SECONDS)
        cpu, wall = cpu_seconds(worker_pid()) - cpu, time.perf_counter() - wall
    run_loop, timer_loop = _poll_times(automation)
    return {"cpu": cpu * 1000 / wall, "pg": sampler.seconds() * 1000 / wall,
            "run_p50": statistics.median(run_loop), "run_p99": _pct(run_loop, 0.99),
            "timer_p50": statistics.median(timer_loop), "timer_p99": _pct(timer_loop, 0.99)}


def main() -> None:
    from crm_testing.platform import start_platform

    os.environ.setdefault("CRM_LOG_LEVEL", "WARNING")  # the gateway runs in this process: its access log is noise here

    admin, kafka = pg_admin_url(), kafka_bootstrap()
    limits = {f"CRM_RATE_LIMIT_{name}_{kind}": UNLIMITED for name in ("TENANT", "KEY") for kind in ("RATE", "BURST")}
    with tempfile.TemporaryDirectory() as tmp:
        platform = start_platform(
            Path(tmp), pg_admin_url=admin, kafka_bootstrap=kafka, only=set(SERVICES),
            web_processes=frozenset({"contacts", "pipeline"}),
            # The bench's rate is above the default per-tenant run starts (1,000 a minute).
            service_extra={"automation": {"CRM_WORKFLOW_MAX_RUNS_PER_MINUTE": UNLIMITED}}, **limits)
        databases = [_database_name(h.settings.database_url) for h in platform.services.values()]
        try:
            platform.start_workers(only={"contacts", "pipeline"})
            workers = [platform.services["automation"].spawn("worker") for _ in range(WORKERS)]
            platform.processes += workers
            account = platform.signup("Workflow Bench")
            token, tenant = account["access_token"], account["tenant"]["id"]
            name_of = {s: _database_name(platform.services[s].settings.database_url) for s in SERVICES}
            backends = {"automation": pg_backends(admin, [name_of["automation"]]),
                        "pipeline": pg_backends(admin, [name_of["pipeline"]]),
                        "all": pg_backends(admin, databases)}
            print(f"workflows bench: {EVENTS} events at {RATE:.0f}/s through the real worker processes "
                  f"(PostgreSQL + Kafka; {WORKERS} automation worker(s)), then {WAITING} waiting runs; "
                  f"{os.cpu_count()} cores, shared with whatever else runs")
            # Waiting runs first, while the worker has nothing else to do (an event phase that could not
            # keep up leaves a backlog); the event phase then runs beside them, as it would in production.
            bench_waiting(platform, token, tenant, lambda: [w.pid for w in workers], backends["automation"])
            bench_events(platform, token, tenant, lambda: [w.pid for w in workers], backends)
        finally:
            platform.close()
            drop_databases(admin, databases)


if __name__ == "__main__":
    main()
