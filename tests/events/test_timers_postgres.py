"""crm_db.timers on PostgreSQL: concurrent schedulers never fire a timer twice; a scheduler that
dies mid-batch loses nothing and the next one fires every timer once; handlers run under the
timer's tenant (app.tenant_id set for RLS)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import MetaData, func, select, text
from sqlalchemy.orm import Session

from crm_core.context import tenant_context
from crm_db.database import Database
from crm_db.timers import Timer, Timers, TimerScheduler, timer_table
from crm_testing.db import create_service_database, libpq_url

T0 = dt.datetime(2027, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def pg(pg_admin_url: str) -> Iterator[tuple[Database, object]]:
    name = f"timers_{uuid.uuid4().hex[:10]}"
    owner_url, app_url = create_service_database(pg_admin_url, name)
    meta = MetaData()
    table = timer_table(meta)
    owner = Database(owner_url)
    meta.create_all(owner.engine)
    owner.dispose()
    db = Database(app_url)
    yield db, table
    db.dispose()
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _schedule(db: Database, table: object, tenants: list[uuid.UUID], per: int) -> None:
    timers = Timers(table)  # type: ignore[arg-type]
    for tenant in tenants:
        with tenant_context(tenant), db.transaction() as session:
            timers.schedule_many(session, "ping", uuid.uuid4(), [(T0, {"n": n}) for n in range(per)])


def test_concurrent_schedulers_fire_each_timer_once(pg: tuple[Database, object]) -> None:
    db, table = pg
    tenants = [uuid.uuid4() for _ in range(3)]
    _schedule(db, table, tenants, 40)
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def handler(session: Session, timer: Timer) -> None:
        setting = session.execute(text("select current_setting('app.tenant_id', true)")).scalar()
        assert setting == str(timer.tenant_id)
        with lock:
            seen.append((str(timer.tenant_id), timer.id))

    schedulers = [TimerScheduler(db, table, {"ping": handler}, now=lambda: T0, batch=9) for _ in range(4)]  # type: ignore[arg-type]
    threads = [threading.Thread(target=s.drain) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(seen) == 120 and len(set(seen)) == 120
    assert sum(s.fired_total for s in schedulers) == 120


def test_a_crash_mid_batch_loses_nothing(pg: tuple[Database, object]) -> None:
    db, table = pg
    _schedule(db, table, [uuid.uuid4()], 10)
    calls: list[int] = []

    class Crash(BaseException):
        """The process dying: no handler error the scheduler could record."""

    def dying(_session: Session, timer: Timer) -> None:
        calls.append(timer.id)
        if len(calls) == 5:
            raise Crash

    with pytest.raises(Crash):
        TimerScheduler(db, table, {"ping": dying}, now=lambda: T0).run_once()  # type: ignore[arg-type]
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table).where(table.c.fired_at.is_(None))).scalar() == 10  # type: ignore[attr-defined]
    fired: list[int] = []
    later = TimerScheduler(db, table, {"ping": lambda _s, t: fired.append(t.id)}, now=lambda: T0 + dt.timedelta(hours=1))  # type: ignore[arg-type]
    assert later.drain() == 10 and len(set(fired)) == 10
    assert later.drain() == 0
