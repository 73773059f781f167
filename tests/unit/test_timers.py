"""crm_db.timers on SQLite: schedule / replace / cancel in the caller's transaction, firing exactly
once with a controllable clock, a failing handler retried and finally given up."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from sqlalchemy import MetaData, select
from sqlalchemy.orm import Session

from crm_core.context import current_tenant, tenant_context
from crm_db.database import Database
from crm_db.timers import Timer, Timers, TimerScheduler, timer_table

T0 = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def test_schedule_fire_once_replace_cancel(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'timers.db'}")
    meta = MetaData()
    table = timer_table(meta)
    meta.create_all(db.engine)
    timers, tenant, other = Timers(table), uuid.uuid4(), uuid.uuid4()
    subject, moved, dropped = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    seen: list[tuple[uuid.UUID | None, Timer]] = []

    def handler(_session: Session, timer: Timer) -> None:
        seen.append((current_tenant(), timer))

    with tenant_context(tenant), db.transaction() as session:
        timers.schedule(session, "ping", subject, T0 + dt.timedelta(minutes=5), {"n": 1})
        timers.schedule(session, "ping", moved, T0 + dt.timedelta(minutes=5), {"n": 2})
        timers.schedule(session, "ping", dropped, T0 + dt.timedelta(minutes=5), {"n": 3})
        timers.schedule(session, "other_kind", subject, T0, {})
    with tenant_context(other), db.transaction() as session:
        timers.schedule(session, "ping", subject, T0 + dt.timedelta(minutes=5), {"n": 4})
        # another tenant's cancel of the same subject id touches nothing of tenant's
        assert timers.cancel(session, "ping", moved) == 0
    with tenant_context(tenant), db.transaction() as session:
        timers.replace(session, "ping", moved, [(T0 + dt.timedelta(minutes=30), {"n": 22})])
        assert timers.cancel(session, "ping", dropped) == 1

    clock = Clock(T0 + dt.timedelta(minutes=4, seconds=59))
    scheduler = TimerScheduler(db, table, {"ping": handler}, now=clock, batch=10)
    assert scheduler.run_once() == 0
    clock.at = T0 + dt.timedelta(minutes=5)
    assert scheduler.drain() == 2
    assert sorted((t, timer.payload["n"]) for t, timer in seen) == sorted([(tenant, 1), (other, 4)])
    assert scheduler.drain() == 0  # fired once
    clock.at = T0 + dt.timedelta(hours=1)
    assert scheduler.drain() == 1 and seen[-1][1].payload == {"n": 22} and seen[-1][1].subject_id == moved
    with db.engine.connect() as conn:  # the kind without a handler is left for its own scheduler
        assert conn.execute(select(table.c.kind).where(table.c.fired_at.is_(None))).scalars().all() == ["other_kind"]
    with tenant_context(tenant), db.transaction() as session:
        assert [t.kind for t in timers.pending(session, "other_kind", subject)] == ["other_kind"]


def test_failing_handler_costs_only_itself(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'timers.db'}")
    meta = MetaData()
    table = timer_table(meta)
    meta.create_all(db.engine)
    timers, tenant = Timers(table), uuid.uuid4()
    with tenant_context(tenant), db.transaction() as session:
        for n in range(3):
            timers.schedule(session, "ping", uuid.uuid4(), T0, {"n": n})
    fired: list[int] = []

    def handler(_session: Session, timer: Timer) -> None:
        if timer.payload["n"] == 1:
            raise ValueError("boom")
        fired.append(timer.payload["n"])

    gave_up: list[tuple[int, str, uuid.UUID | None]] = []

    def give_up(_session: Session, timer: Timer, error: str) -> None:
        gave_up.append((timer.payload["n"], error, current_tenant()))

    clock = Clock(T0)
    scheduler = TimerScheduler(db, table, {"ping": handler}, gave_up={"ping": give_up}, now=clock, max_attempts=2,
                               retry_delay=dt.timedelta(seconds=30))
    scheduler.run_once()
    assert sorted(set(fired)) == [0, 2]
    fired.clear()
    assert scheduler.run_once() == 0  # the failed one waits for its retry
    assert gave_up == []
    clock.at = T0 + dt.timedelta(seconds=30)
    assert scheduler.run_once() == 1 and fired == []
    assert gave_up == [(1, "ValueError: boom", tenant)]  # once, under the timer's tenant
    with db.engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.payload["n"].as_integer() == 1)).one()
    assert row.attempts == 2 and row.fired_at is not None and "boom" in row.last_error
    assert scheduler.drain() == 0


def test_run_loop_fires_and_purges_old_timers(tmp_path: Path) -> None:
    import threading

    db = Database(f"sqlite:///{tmp_path / 'timers.db'}")
    meta = MetaData()
    table = timer_table(meta)
    meta.create_all(db.engine)
    tenant = uuid.uuid4()
    with tenant_context(tenant), db.transaction() as session:
        Timers(table).schedule(session, "ping", uuid.uuid4(), T0)
    clock = Clock(T0)
    stop = threading.Event()
    fired: list[int] = []

    def handler(_session: Session, timer: Timer) -> None:
        fired.append(timer.id)
        clock.at = T0 + dt.timedelta(days=31)  # the next purge finds it old enough
        stop.set()

    scheduler = TimerScheduler(db, table, {"ping": handler}, now=clock, idle_sleep=0.01, purge_every=0.0)
    scheduler.run(stop)
    assert len(fired) == 1
    stop.clear()
    threading.Timer(0.2, stop.set).start()
    scheduler.run(stop)
    with db.engine.connect() as conn:
        assert conn.execute(select(table)).all() == []
