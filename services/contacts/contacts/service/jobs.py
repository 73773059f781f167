"""Background jobs (imports, exports, rescoring): files in chunks, the queue, and the worker.

A job is a `jobs` row (status and counts, tenant-scoped) plus a `job_queue` row the worker claims.

Fairness between tenants: several worker threads share the queue (CRM_JOB_WORKERS), a tenant has
at most `tenant_concurrency` jobs running at once (CRM_JOB_TENANT_CONCURRENCY), and a claim takes
the oldest job of the tenant with the fewest running. So one tenant's 2 GiB import occupies one
worker, and every other tenant's imports, exports and rescorings go to the others. (Chosen over
a job yielding between batches: an import resumed elsewhere re-reads its file up to where it was,
which for a big file costs more than the time slice it gave away.) Claims are serialised (an
advisory lock on PostgreSQL, a lock in the process), so two workers never both see a tenant
below its cap and both take one of its jobs.
Claiming leases the job: `available_at` moves `lease` into the future and every batch a handler
commits extends it (`JobRun.heartbeat`, in the batch's own transaction). A worker that dies stops
extending it, so another worker takes the job over once the lease runs out; `attempts` counts the
takeovers, and doubles as the claim token so a worker that lost its lease cannot commit a batch.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contacts.models import Job, JobError, job_tables, metadata, schedule_table
from contacts.schemas.jobs import dump_job
from crm_core import context
from crm_core.errors import NotFound
from crm_core.ids import uuid7
from crm_db.base import utcnow
from crm_db.database import Database
from crm_events.outbox import Outbox

log = logging.getLogger(__name__)
_CLAIMS = threading.Lock()  # the workers of one process claim one at a time
CLAIM_LOCK_KEY = 0x636F6A6F62  # pg_advisory_xact_lock key of job claims ("cojob")
CHUNK_BYTES = 1024 * 1024  # job_files rows: ~1 MiB each
PURGE = "purge_files"  # housekeeping task: job files past their retention (service/housekeeping.py)
PURGE_EVERY = dt.timedelta(days=1)
RESTART = "restart_requested"  # in an export's params: an erasure asks it to write its file again


class JobFailed(Exception):
    """The job cannot be done (a file that is not CSV, say): status failed with this message."""


class LeaseLost(Exception):
    """Another worker took the job over (we were too slow): stop without committing."""


def files_table() -> Table:
    return job_tables(metadata())[0]


def queue_table() -> Table:
    return job_tables(metadata())[1]


# --- creating and reading jobs (request side) ----------------------------------------------------

def create_job(session: Session, outbox: Outbox, kind: str, object_: str, params: dict[str, Any], *,
               job_id: uuid.UUID | None = None) -> Job:
    """A queued job, its queue row and its `crm.<kind>.created` event, in the caller's transaction."""
    principal = context.current_principal()
    job = Job(id=job_id or uuid7(), kind=kind, object=object_, status="queued", params=params,
              created_by=principal.user_id if principal else None)
    session.add(job)
    session.flush()
    session.execute(insert(queue_table()).values(job_id=job.id, tenant_id=job.tenant_id, kind=kind,
                                                 available_at=utcnow(), attempts=0))
    outbox.emit(session, f"crm.{kind}.created", job.id, job_body(job))
    schedule(session, PURGE, utcnow() + PURGE_EVERY)  # its files will need purging one day
    return job


def schedule(session: Session, task: str, due_at: dt.datetime) -> None:
    """Make sure the tenant in context has a housekeeping `task` row (an existing one keeps its time)."""
    t, tenant = schedule_table(metadata()), context.require_tenant()
    if session.execute(select(t.c.task).where(t.c.tenant_id == tenant, t.c.task == task)).first() is not None:
        return
    try:
        with session.begin_nested():
            session.execute(insert(t).values(tenant_id=tenant, task=task, due_at=due_at))
    except IntegrityError:
        pass  # a concurrent request scheduled it first


def find_job(session: Session, kind: str, job_id: uuid.UUID) -> Job:
    job = session.scalars(select(Job).where(Job.id == job_id, Job.kind == kind)).first()
    if job is None:
        raise NotFound(f"No {kind} with id {job_id}.")
    return job


def write_chunks(session: Session, job_id: uuid.UUID, part: str, stream: Any, *, start_seq: int = 0) -> tuple[int, int]:
    """Copy a binary stream into job_files, CHUNK_BYTES at a time: (chunks, bytes)."""
    table, tenant = files_table(), context.require_tenant()
    seq, size = start_seq, 0
    while True:
        data = stream.read(CHUNK_BYTES)
        if not data:
            break
        session.execute(insert(table).values(tenant_id=tenant, job_id=job_id, part=part, seq=seq, data=data))
        seq, size = seq + 1, size + len(data)
    return seq - start_seq, size


def write_chunk(session: Session, job_id: uuid.UUID, part: str, seq: int, data: bytes) -> None:
    session.execute(insert(files_table()).values(tenant_id=context.require_tenant(), job_id=job_id, part=part, seq=seq,
                                                 data=data))


def read_chunks(db: Database, tenant: uuid.UUID, job_id: uuid.UUID, part: str) -> Iterator[bytes]:
    """A stored file, one chunk per short transaction: memory stays at one chunk for any size.
    The tenant is explicit: Core statements are not tenant-scoped by the ORM (RLS agrees), and a
    streamed HTTP answer iterates after the request context is gone."""
    table, seq = files_table(), 0
    while True:
        with context.tenant_context(tenant), db.transaction() as session:
            data = session.execute(select(table.c.data).where(
                table.c.tenant_id == tenant, table.c.job_id == job_id, table.c.part == part, table.c.seq == seq)).scalar()
        if data is None:
            return
        yield bytes(data)
        seq += 1


class ChunkReader(io.RawIOBase):
    """A raw binary stream over an iterator of chunks (read_chunks), for io.TextIOWrapper."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._view:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._view = memoryview(chunk)
        n = min(len(buffer), len(self._view))
        buffer[:n] = self._view[:n]
        self._view = self._view[n:]
        return n


def file_size(session: Session, job_id: uuid.UUID, part: str) -> int:
    table = files_table()
    return int(session.execute(select(func.coalesce(func.sum(func.length(table.c.data)), 0)).where(
        table.c.tenant_id == context.require_tenant(), table.c.job_id == job_id, table.c.part == part)).scalar_one())


def open_text(db: Database, job_id: uuid.UUID, part: str) -> io.TextIOWrapper:
    """A stored file as text (UTF-8, a BOM dropped), streamed chunk by chunk; newline="" for csv."""
    raw = io.BufferedReader(ChunkReader(read_chunks(db, context.require_tenant(), job_id, part)), buffer_size=256 * 1024)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def delete_chunks(session: Session, job_id: uuid.UUID, part: str) -> None:
    table = files_table()
    session.execute(delete(table).where(table.c.tenant_id == context.require_tenant(), table.c.job_id == job_id,
                                        table.c.part == part))


def job_body(job: Job) -> dict[str, Any]:
    return dump_job(job)


# --- the worker ----------------------------------------------------------------------------------

@dataclass
class JobRun:
    """What a handler gets: the job's identity, the database, and the lease to keep alive."""

    runner: JobRunner
    job_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    attempt: int

    @property
    def db(self) -> Database:
        return self.runner.db

    @property
    def outbox(self) -> Outbox:
        return self.runner.outbox

    def job(self, session: Session, *, for_update: bool = False) -> Job:
        stmt = select(Job).where(Job.id == self.job_id)
        return session.scalars(stmt.with_for_update() if for_update else stmt).one()

    def heartbeat(self, session: Session) -> None:
        """Extend the lease inside a batch's transaction; LeaseLost if another worker has the job."""
        queue = queue_table()
        result = session.execute(update(queue).where(queue.c.job_id == self.job_id, queue.c.attempts == self.attempt)
                                 .values(available_at=utcnow() + self.runner.lease))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(f"job {self.job_id} was taken over by another worker")

    def add_errors(self, session: Session, errors: list[tuple[int, str, dict[str, Any]]]) -> None:
        """JobError rows (row number, reason, the row as it came) with one executemany."""
        if not errors:
            return
        now, tenant = utcnow(), context.require_tenant()
        session.execute(insert(JobError.__table__), [  # type: ignore[arg-type]
            {"tenant_id": tenant, "id": uuid7(), "job_id": self.job_id, "row_number": number, "reason": text[:2000],
             "row": row, "created_at": now, "updated_at": now, "version": 1} for number, text, row in errors])

    def clear_errors(self, session: Session) -> None:
        session.execute(delete(JobError).where(JobError.job_id == self.job_id))


Handler = Callable[[JobRun], None]


@dataclass
class JobRunner:
    """Claims queued jobs one at a time and runs each as its tenant; handlers by kind."""

    db: Database
    outbox: Outbox
    lease: dt.timedelta = dt.timedelta(minutes=5)
    max_attempts: int = 3
    poll_interval: float = 1.0
    tenant_concurrency: int = 1
    handlers: dict[str, Handler] = field(default_factory=dict)

    def register_kind(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def claim(self) -> tuple[uuid.UUID, uuid.UUID, str, int] | None:
        """(job_id, tenant_id, kind, attempt) of the oldest available job of the tenant with the
        fewest jobs running (tenants at their cap skipped), leased to us."""
        queue, now = queue_table(), utcnow()
        # A leased queue row is a running job: its lease lies in the future.
        running = (select(queue.c.tenant_id, func.count().label("n")).where(queue.c.available_at > now)
                   .group_by(queue.c.tenant_id).subquery())
        busy = func.coalesce(running.c.n, 0)
        with _CLAIMS, self.db.transaction() as session:  # no tenant: the queue is cross-tenant (no RLS)
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
            stmt = (select(queue.c.job_id, queue.c.tenant_id, queue.c.kind, queue.c.attempts, queue.c.available_at)
                    .outerjoin(running, running.c.tenant_id == queue.c.tenant_id)
                    .where(queue.c.available_at <= now, busy < self.tenant_concurrency)
                    .order_by(busy, queue.c.available_at, queue.c.job_id).limit(1))
            row = session.execute(stmt).first()
            if row is None:
                return None
            # Conditional on what we read, so two SQLite processes cannot both claim it.
            claimed = session.execute(update(queue).where(queue.c.job_id == row.job_id, queue.c.attempts == row.attempts)
                                      .values(attempts=row.attempts + 1, available_at=now + self.lease))
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return row.job_id, row.tenant_id, row.kind, row.attempts + 1

    def run_once(self) -> bool:
        """Claim and run one job; False when none was waiting."""
        claimed = self.claim()
        if claimed is None:
            return False
        job_id, tenant_id, kind, attempt = claimed
        run = JobRun(self, job_id, tenant_id, kind, attempt)
        with context.tenant_context(tenant_id, request_id=f"job-{job_id}"):
            self._run(run)
        return True

    def _run(self, run: JobRun) -> None:
        handler = self.handlers.get(run.kind)
        with self.db.transaction() as session:
            job = session.scalars(select(Job).where(Job.id == run.job_id)).first()
            if job is None or job.status in ("completed", "failed"):
                self._dequeue(session, run)  # a leftover queue row
                return
            if handler is None or run.attempt > self.max_attempts:
                why = (f"No handler for jobs of kind {run.kind!r}." if handler is None else
                       f"Gave up after {self.max_attempts} attempts: the worker stopped while running it.")
                self._finish(session, run, job, "failed", why)
                return
            job.status = "running"
            job.started_at = job.started_at or utcnow()
            run.heartbeat(session)
        try:
            handler(run)
        except LeaseLost:
            log.warning("job %s: lease lost to another worker; leaving it", run.job_id)
            return
        except JobFailed as exc:
            self._close(run, "failed", str(exc))
            return
        except Exception as exc:
            log.exception("job %s (%s) crashed", run.job_id, run.kind)
            self._close(run, "failed", f"The job stopped on an unexpected error ({type(exc).__name__}); it has been logged.")
            return
        self._close(run, "completed", None)

    def _close(self, run: JobRun, status: str, error: str | None) -> None:
        try:
            with self.db.transaction() as session:
                run.heartbeat(session)  # still ours: a worker that took it over finishes it instead
                self._finish(session, run, run.job(session, for_update=True), status, error)
        except LeaseLost:
            log.warning("job %s: lease lost to another worker before it could be closed", run.job_id)
        except Exception:
            # The database may be down: the lease runs out and a worker tries again later.
            log.exception("job %s: could not record status %s", run.job_id, status)

    def _finish(self, session: Session, run: JobRun, job: Job, status: str, error: str | None) -> None:
        job.status, job.error, job.finished_at = status, error, utcnow()
        session.flush()
        self.outbox.emit(session, f"crm.{job.kind}.{status}", job.id, job_body(job))
        self._dequeue(session, run)

    def _dequeue(self, session: Session, run: JobRun) -> None:
        session.execute(delete(queue_table()).where(queue_table().c.job_id == run.job_id))

    def run(self, stop: threading.Event) -> None:
        """Poll until stopped; between jobs only when the queue is empty."""
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the database went away, say: keep polling
                log.exception("job worker loop failed; retrying")
                worked = False
            if not worked:
                stop.wait(self.poll_interval)
