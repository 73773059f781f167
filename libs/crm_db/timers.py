"""Timers: work due later (a task reminder, an SLA warning, a workflow delay) as rows of a service's
own `timers` table, written in the same transaction as the change that caused them.

A use case schedules, replaces or cancels a subject's timers inside its transaction (so moving or
cancelling the cause moves or cancels them, atomically). A TimerScheduler claims due rows with
`FOR UPDATE SKIP LOCKED` and, in ONE transaction per batch, calls each kind's handler under the
row's tenant (the handler writes rows and outbox events) and marks the row fired: exactly once
(a crash rolls back handler work and mark together; parallel schedulers skip each other's locked
rows), on time within the polling interval, and across restarts (a row due while the scheduler
was down is simply due).

Like the outbox and mail's queue, the table is not under RLS: the scheduler claims across tenants
before any tenant is known, and nothing in it is served over the API. Every statement here that
serves one tenant names the tenant explicitly (the context's tenant for writes); the handler runs
with that tenant in context and, on PostgreSQL, in app.tenant_id, so its own queries stay scoped.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from crm_core import context
from crm_db.base import JsonType, as_utc, utcnow
from crm_db.database import Database
from crm_db.tenancy import flush_deferred

log = logging.getLogger(__name__)

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite auto-increments INTEGER PRIMARY KEY only
MAX_ATTEMPTS = 5  # a handler failing this often gives its timer up (logged, kept with last_error)
RETRY_DELAY = dt.timedelta(seconds=30)


@functools.cache
def timer_table(metadata: MetaData) -> Table:
    """The `timers` table on a service's metadata (migrations create it with the same shape)."""
    return Table(
        "timers", metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("tenant_id", Uuid(), nullable=False),
        Column("kind", String(50), nullable=False),  # picks the handler: "task_reminder", "sla_warning"
        Column("subject_id", Uuid(), nullable=False),  # the record the timer belongs to
        Column("due_at", DateTime(timezone=True), nullable=False),
        Column("payload", JsonType, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow),
        Column("fired_at", DateTime(timezone=True)),  # set in the transaction that ran the handler
        Column("attempts", Integer, nullable=False, default=0),  # failed handler runs
        Column("last_error", Text),
        # The scheduler's claim: pending rows by due time (fired rows drop out of the index).
        Index("timers_pending_due_idx", "due_at", postgresql_where=text("fired_at IS NULL"),
              sqlite_where=text("fired_at IS NULL")),
        # replace / cancel of one subject's timers.
        Index("timers_tenant_subject_idx", "tenant_id", "kind", "subject_id"),
    )


@dataclass(frozen=True)
class Timer:
    id: int
    tenant_id: uuid.UUID
    kind: str
    subject_id: uuid.UUID
    due_at: dt.datetime
    payload: dict[str, Any]


Handler = Callable[[Session, Timer], None]
# Fires several due timers of one kind and one tenant at once (a few statements instead of a few
# per timer); must do for each timer what a Handler would.
BatchHandler = Callable[[Session, list[Timer]], None]
# Called when a timer of its kind is given up (with the last error), under the timer's tenant, in
# the batch's transaction: e.g. a job marks itself failed instead of waiting forever.
GaveUpHandler = Callable[[Session, Timer, str], None]


@dataclass(frozen=True)
class Timers:
    """Writes of one service's timers, in the caller's transaction and tenant."""

    table: Table

    def schedule(self, session: Session, kind: str, subject_id: uuid.UUID, due_at: dt.datetime,
                 payload: Mapping[str, Any] | None = None) -> None:
        self.schedule_many(session, kind, subject_id, [(due_at, payload or {})])

    def schedule_many(self, session: Session, kind: str, subject_id: uuid.UUID,
                      timers: Iterable[tuple[dt.datetime, Mapping[str, Any]]]) -> int:
        tenant, now = context.require_tenant(), utcnow()
        rows = [{"tenant_id": tenant, "kind": kind, "subject_id": subject_id, "due_at": as_utc(due),
                 "payload": dict(payload), "created_at": now, "attempts": 0} for due, payload in timers]
        if rows:
            session.execute(insert(self.table), rows)
        return len(rows)

    def cancel(self, session: Session, kind: str, subject_id: uuid.UUID) -> int:
        """Drop the subject's pending timers of this kind (fired ones stay: they happened)."""
        t = self.table.c
        result = session.execute(delete(self.table).where(
            t.tenant_id == context.require_tenant(), t.kind == kind, t.subject_id == subject_id, t.fired_at.is_(None)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def replace(self, session: Session, kind: str, subject_id: uuid.UUID,
                timers: Iterable[tuple[dt.datetime, Mapping[str, Any]]]) -> int:
        """The subject's pending timers of this kind become exactly `timers` (moved, added, dropped)."""
        self.cancel(session, kind, subject_id)
        return self.schedule_many(session, kind, subject_id, timers)

    def pending(self, session: Session, kind: str, subject_id: uuid.UUID) -> list[Timer]:
        return self._of(session, kind, subject_id, fired=False)

    def fired(self, session: Session, kind: str, subject_id: uuid.UUID) -> list[Timer]:
        """The subject's timers of this kind that already fired (kept until purged): a replan can
        leave out what already happened."""
        return self._of(session, kind, subject_id, fired=True)

    def _of(self, session: Session, kind: str, subject_id: uuid.UUID, *, fired: bool) -> list[Timer]:
        t = self.table.c
        rows = session.execute(select(self.table).where(
            t.tenant_id == context.require_tenant(), t.kind == kind, t.subject_id == subject_id,
            t.fired_at.is_not(None) if fired else t.fired_at.is_(None)).order_by(t.due_at, t.id)).all()
        return [_timer(r) for r in rows]


def _timer(row: Any) -> Timer:
    return Timer(row.id, row.tenant_id, row.kind, row.subject_id, as_utc(row.due_at), dict(row.payload or {}))


def _set_db_tenant(session: Session, tenant: uuid.UUID | None) -> None:
    """app.tenant_id for the rest of the transaction (RLS); the ORM criteria follow the context."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant or "")})


@dataclass
class TimerScheduler:
    """Claims due timers of the kinds it has handlers for and fires them (see the module doc)."""

    db: Database
    table: Table
    handlers: Mapping[str, Handler]
    batch_handlers: Mapping[str, BatchHandler] = field(default_factory=dict)  # preferred where given
    gave_up: Mapping[str, GaveUpHandler] = field(default_factory=dict)
    now: Callable[[], dt.datetime] = utcnow
    batch: int = 500
    idle_sleep: float = 1.0  # between polls when nothing was due: the lateness bound's main term
    max_attempts: int = MAX_ATTEMPTS
    retry_delay: dt.timedelta = RETRY_DELAY
    retention: dt.timedelta = dt.timedelta(days=30)  # fired timers kept this long, then purged
    purge_every: float = 3600.0  # seconds between purges in run()
    fired_total: int = field(default=0, init=False)

    def run(self, stop: threading.Event) -> None:
        """A ServiceProcess background loop: batches back to back while work is due."""
        purged_at = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - purged_at > self.purge_every:
                    purged_at = time.monotonic()
                    self.purge(self.retention)
                n = self.run_once()
            except Exception:  # database away: the rows wait, nothing is lost
                log.exception("timer scheduler round failed; retrying")
                stop.wait(2.0)
                continue
            if n < self.batch:
                stop.wait(self.idle_sleep)

    def run_once(self) -> int:
        """One batch: timers fired (or given up) in one transaction. A handler error rolls the batch
        back and it is done again with a savepoint per timer, so one bad timer costs only itself."""
        now = self.now()
        try:
            return self._round(now, careful=False)
        except _HandlerFailed:
            return self._round(now, careful=True)

    def drain(self, max_rounds: int = 1000) -> int:
        """Rounds until nothing is due (tests, benchmarks)."""
        total = 0
        for _ in range(max_rounds):
            n = self.run_once()
            total += n
            if n < self.batch:
                break
        return total

    def _claim(self, session: Session, now: dt.datetime) -> Sequence[Any]:
        t = self.table.c
        stmt = (select(self.table).where(t.fired_at.is_(None), t.due_at <= now, t.kind.in_(sorted({*self.handlers, *self.batch_handlers})))
                .order_by(t.due_at, t.id).limit(self.batch).with_for_update(skip_locked=True))
        return session.execute(stmt).all()

    def _round(self, now: dt.datetime, *, careful: bool) -> int:
        with context.tenant_context(None), self.db.transaction() as session:
            rows = self._claim(session, now)
            if not rows:
                return 0
            fired: list[int] = []
            failed: list[tuple[Any, str]] = []
            # Grouped by tenant and kind: one set_config per tenant of the batch, one call of a
            # batch handler per group (one per timer when careful).
            groups: dict[tuple[uuid.UUID, str], list[Any]] = {}
            for row in sorted(rows, key=lambda r: (str(r.tenant_id), r.kind, r.due_at, r.id)):
                groups.setdefault((row.tenant_id, row.kind), []).append(row)
            current: uuid.UUID | None = None
            for (tenant, kind), members in groups.items():
                if tenant != current:
                    current = tenant
                    _set_db_tenant(session, current)
                chunks = [members] if not careful else [[m] for m in members]
                with context.tenant_context(tenant):
                    for chunk in chunks:
                        error = self._fire(session, kind, [_timer(r) for r in chunk], careful)
                        if error is None:
                            fired += [r.id for r in chunk]
                        else:
                            failed += [(r, error) for r in chunk]
            _set_db_tenant(session, None)
            self._mark(session, now, fired, failed)
        self.fired_total += len(fired)
        return len(rows)

    def _call(self, session: Session, kind: str, timers: list[Timer]) -> None:
        batch = self.batch_handlers.get(kind)
        if batch is not None:
            batch(session, timers)
        else:
            for timer in timers:
                self.handlers[kind](session, timer)
        session.flush()  # stamps new rows with this tenant, while it is in context
        flush_deferred(session)

    def _fire(self, session: Session, kind: str, timers: list[Timer], careful: bool) -> str | None:
        if not careful:
            try:
                self._call(session, kind, timers)
            except Exception as exc:
                raise _HandlerFailed from exc
            return None
        try:
            with session.begin_nested():
                self._call(session, kind, timers)
        except Exception as exc:
            log.exception("timer %s (%s) failed", timers[0].id, kind)
            return f"{type(exc).__name__}: {exc}"[:1000]
        return None

    def _mark(self, session: Session, now: dt.datetime, fired: list[int], failed: list[tuple[Any, str]]) -> None:
        t = self.table.c
        if fired:
            session.execute(update(self.table).where(t.id.in_(fired)).values(fired_at=now))
        for row, error in failed:
            attempts = row.attempts + 1
            give_up = attempts >= self.max_attempts
            if give_up:
                log.error("timer %s (%s) gave up after %d attempts: %s", row.id, row.kind, attempts, error)
                self._gave_up(session, row, error)
            session.execute(update(self.table).where(t.id == row.id).values(
                attempts=attempts, last_error=error, fired_at=now if give_up else None,
                due_at=row.due_at if give_up else now + self.retry_delay * attempts))

    def _gave_up(self, session: Session, row: Any, error: str) -> None:
        handler = self.gave_up.get(row.kind)
        if handler is None:
            return
        try:
            with context.tenant_context(row.tenant_id), session.begin_nested():
                _set_db_tenant(session, row.tenant_id)
                handler(session, _timer(row), error)
                session.flush()
                flush_deferred(session)
        except Exception:  # the give-up itself is recorded either way
            log.exception("timer %s (%s): its give-up handler failed", row.id, row.kind)
        finally:
            _set_db_tenant(session, None)

    def purge(self, older_than: dt.timedelta = dt.timedelta(days=30)) -> int:
        """Delete fired timers older than this (they only record that something happened)."""
        t = self.table.c
        with context.tenant_context(None), self.db.transaction() as session:
            result = session.execute(delete(self.table).where(t.fired_at.is_not(None), t.fired_at < self.now() - older_than))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


class _HandlerFailed(Exception):
    """A handler raised in a fast round: the batch is redone carefully."""
