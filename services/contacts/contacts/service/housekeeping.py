"""Periodic per-tenant work the worker does without being asked: job files past their retention
are purged, and tenants whose scoring rules decay get a rescoring (decay moves with time, not
only with an edit).

A tenant gets a `job_schedule` row per task when it first needs one (its first job; a decaying
rule). The worker claims due rows (a conditional UPDATE that moves due_at a lease ahead, so two
workers never take the same one), does the task as that tenant, and sets the next due time.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from contacts.models import Job, ScoringRule, metadata, schedule_table
from contacts.service.jobs import PURGE, PURGE_EVERY, files_table
from contacts.service.scoring import DECAY, queue_rescore
from crm_core import context
from crm_db.base import utcnow
from crm_db.database import Database
from crm_events.outbox import Outbox

log = logging.getLogger(__name__)
LEASE = dt.timedelta(minutes=10)
FINISHED = ("completed", "failed")


def purge_files(session: Session, cutoff: dt.datetime) -> int:
    """Delete the stored files (uploads, outputs) of this tenant's jobs that finished before `cutoff`;
    how many jobs lost files. The job rows stay (their counts and status), marked files_purged_at."""
    files, tenant, now = files_table(), context.require_tenant(), utcnow()
    old = list(session.scalars(select(Job).where(Job.status.in_(FINISHED), Job.finished_at < cutoff,
                                                 Job.id.in_(select(files.c.job_id).where(files.c.tenant_id == tenant)))))
    for job in old:
        session.execute(delete(files).where(files.c.tenant_id == tenant, files.c.job_id == job.id))
        job.params = {**job.params, "files_purged_at": now.isoformat()}
    return len(old)


def decaying_rules(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(ScoringRule).where(ScoringRule.decay_days > 0)) or 0) > 0


@dataclass
class Housekeeper:
    db: Database
    outbox: Outbox
    retention: dt.timedelta = dt.timedelta(days=30)
    decay_every: dt.timedelta | None = dt.timedelta(days=1)  # None: no periodic rescoring
    poll_interval: float = 60.0

    def claim(self, now: dt.datetime, limit: int = 20) -> list[tuple[uuid.UUID, str]]:
        t = schedule_table(metadata())
        with self.db.transaction() as session:  # no tenant: the schedule is cross-tenant (no RLS)
            due = session.execute(select(t.c.tenant_id, t.c.task).where(t.c.due_at <= now)
                                  .order_by(t.c.due_at).limit(limit)).all()
            claimed = []
            for row in due:
                moved = session.execute(update(t).where(t.c.tenant_id == row.tenant_id, t.c.task == row.task,
                                                        t.c.due_at <= now).values(due_at=now + LEASE))
                if moved.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append((row.tenant_id, row.task))
        return claimed

    def run_once(self, now: dt.datetime | None = None) -> int:
        """Do every due task (`now`: a fake clock in tests); how many."""
        now = now or utcnow()
        claimed = self.claim(now)
        t = schedule_table(metadata())
        for tenant_id, task in claimed:
            with context.tenant_context(tenant_id, request_id=f"housekeeping-{task}"), self.db.transaction() as session:
                where = (t.c.tenant_id == tenant_id, t.c.task == task)
                if task == PURGE:
                    purged = purge_files(session, now - self.retention)
                    if purged:
                        log.info("purged the files of %d jobs past their retention", purged)
                    session.execute(update(t).where(*where).values(due_at=now + PURGE_EVERY))
                elif task == DECAY and self.decay_every is not None and decaying_rules(session):
                    queue_rescore(session, self.outbox)
                    session.execute(update(t).where(*where).values(due_at=now + self.decay_every))
                else:  # no decaying rules any more (or periodic rescoring off): nothing to schedule
                    session.execute(delete(t).where(*where))
        return len(claimed)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # the database went away, say: try again later
                log.exception("job housekeeping failed; retrying")
            stop.wait(self.poll_interval)
