"""Reminder dispatch benchmark: 10,000 reminders (BENCH_REMINDERS) due at the same instant, fired by
the pipeline worker's scheduler (pipeline.reminders.scheduler: crm_db.timers, real clock, the
production batch size and polling interval) on a fresh PostgreSQL database (app role, RLS on).

Setup writes, across 10 tenants, one open task with one reminder per row (half in_app, half in_app
+ email, each assignee in the users replica with an address) and its timer, all due a few seconds
ahead. The scheduler then runs until every timer has fired. Dispatch lag of a reminder = when its
notification was written minus its due time (the batch commits right after). Printed: lag p50 / p99
/ max (goal p99 <= 60 s), reminders/s once due, and CPU seconds per 1,000 reminders of this process
(the scheduler; setup excluded) and of the PostgreSQL backends serving the database.
Alone: `.venv/bin/python bench/reminders.py`. Knobs: BENCH_REMINDERS, CRM_TIMER_BATCH (500), BENCH_REMINDERS_DB.
Bounded: fixed row count, and the run stops after BENCH_REMINDERS_TIMEOUT seconds (600).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mail_send import BackendSampler  # noqa: E402
from run import drop_databases, pg_admin_url, pg_backends  # noqa: E402

REMINDERS = int(os.environ.get("BENCH_REMINDERS", "10000").replace("_", ""))
DATABASE = os.environ.get("BENCH_REMINDERS_DB", "bench_reminders")
TIMEOUT = float(os.environ.get("BENCH_REMINDERS_TIMEOUT", "600"))
TENANTS = [uuid.UUID(int=0x100 + i) for i in range(10)]
LEAD = dt.timedelta(seconds=3)  # setup is done before the reminders fall due


def _setup(db: Any, due: dt.datetime) -> None:
    from crm_core.context import tenant_context
    from crm_core.ids import uuid7
    from crm_db.base import utcnow
    from crm_db.bulk import bulk_insert
    from pipeline.models import Task
    from pipeline.models.reminders import UserReplica, timers

    now = utcnow()
    record = {"created_at": now, "updated_at": now, "version": 1}
    per_tenant = -(-REMINDERS // len(TENANTS))
    made = 0
    for t_index, tenant in enumerate(TENANTS):
        users = [uuid.uuid5(tenant, f"user-{u}") for u in range(20)]
        tasks, timer_rows = [], []
        for i in range(min(per_tenant, REMINDERS - made)):
            task_id, user = uuid7(), users[i % len(users)]
            channels = ["in_app", "email"] if i % 2 else ["in_app"]
            tasks.append({"tenant_id": tenant, "id": task_id, "type": "call", "title": f"Call #{t_index}-{i}", "notes": None,
                          "due_at": due + dt.timedelta(minutes=15), "due_date": None, "time_zone": "Europe/Berlin",
                          "duration_minutes": None, "priority": "normal", "deal_id": None, "contact_id": uuid7(),
                          "company_id": None, "ticket_id": None, "assignee_id": user, "done": False, "completed_at": None,
                          "recurrence": None, "series_id": None, "snoozed_until": None,
                          "reminders": [{"minutes_before": 15, "channels": channels}], **record})
            timer_rows.append({"tenant_id": tenant, "kind": "task_reminder", "subject_id": task_id, "due_at": due,
                               "payload": {"minutes_before": 15, "channels": channels}, "created_at": now, "attempts": 0})
        made += len(tasks)
        with tenant_context(tenant), db.transaction() as session:
            conn = session.connection()
            bulk_insert(conn, UserReplica.__table__, [
                {"tenant_id": tenant, "id": u, "email": f"rep{n}@t{t_index}.example.com", "name": f"Rep {n}",
                 "time_zone": "Europe/Berlin", "active": True, "event_time": now, **record} for n, u in enumerate(users)])
            bulk_insert(conn, Task.__table__, tasks)
            bulk_insert(conn, timers, timer_rows)


def _lags(owner_url: str) -> list[float]:
    from sqlalchemy import create_engine, text

    engine = create_engine(owner_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        lags: list[float] = []
        with engine.connect() as conn:
            for tenant in TENANTS:  # notifications are under RLS, for the owner too
                conn.execute(text("select set_config('app.tenant_id', :t, false)"), {"t": str(tenant)})
                lags += [float(r[0]) for r in conn.execute(text(
                    "SELECT extract(epoch FROM n.created_at - t.due_at) FROM notifications n "
                    "JOIN timers t ON t.id = (n.data->>'timer_id')::bigint WHERE n.kind = 'task_reminder'"))]
        return lags
    finally:
        engine.dispose()


def main() -> None:
    from crm_db.base import utcnow
    from crm_db.database import Database
    from crm_db.migrate import upgrade
    from crm_testing.apps import make_settings
    from crm_testing.db import create_service_database
    from pipeline import __file__ as pipeline_file
    from pipeline.reminders import scheduler

    admin = pg_admin_url()
    drop_databases(admin, [DATABASE])
    owner_url, app_url = create_service_database(admin, DATABASE)
    upgrade(Path(pipeline_file).resolve().parents[1] / "migrations", owner_url)
    backends = pg_backends(admin, [DATABASE])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings("pipeline", Path(tmp), database_url=app_url, owner_url=owner_url)
            db = Database(settings.database_url, pool_size=4)
            due = utcnow() + LEAD
            started = time.perf_counter()
            _setup(db, due)
            print(f"reminders bench: {REMINDERS} reminders due at one instant, {len(TENANTS)} tenants, half with email; "
                  f"setup {time.perf_counter() - started:.1f} s")
            timers = scheduler(settings, db)  # the worker's own: real clock, batch CRM_TIMER_BATCH, 1 s polls
            stop = threading.Event()
            sampler = BackendSampler(backends)
            sampler.before = set(backends())
            with sampler:
                cpu, wall = time.process_time(), time.perf_counter()
                thread = threading.Thread(target=timers.run, args=(stop,), daemon=True)
                thread.start()
                deadline = time.perf_counter() + TIMEOUT
                while timers.fired_total < REMINDERS and time.perf_counter() < deadline:
                    time.sleep(0.05)
                stop.set()
                thread.join(timeout=30)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            db.dispose()
            lags = sorted(_lags(owner_url))
            if len(lags) != REMINDERS:
                raise SystemExit(f"{len(lags)} of {REMINDERS} reminders fired within {TIMEOUT:.0f} s")
            p50, p99 = statistics.median(lags), lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            print(f"  lag p50 {p50:.2f} s  p99 {p99:.2f} s  max {lags[-1]:.2f} s (goal p99 <= 60 s); "
                  f"{REMINDERS / max(1e-9, lags[-1]):.0f} reminders/s once due; batch {timers.batch}")
            print(f"  CPU s per 1,000 reminders: scheduler {cpu * 1000 / REMINDERS:.3f}, postgres "
                  f"{sampler.seconds() * 1000 / REMINDERS:.3f} (scheduler ran {wall:.1f} s, waiting for the due time included)")
            print(f"reminder_lag_p99_s={p99:.2f}", flush=True)
    finally:
        drop_databases(admin, [DATABASE])


if __name__ == "__main__":
    main()
