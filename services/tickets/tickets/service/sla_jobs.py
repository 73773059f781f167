"""Recomputing many tickets' SLA clocks after a calendar or policy change, without a long request.

A change that touches at most `inline_max` open tickets recomputes them in its own transaction
(the answer shows the new due times at once). A bigger one records an sla_recomputes row and a
timer (kind sla_recompute); the worker's recompute scheduler then does `chunk` tickets per
transaction in ticket id order, counting `tickets_done` against `tickets_total`, and plans the next
chunk until none is left. Chunks read the policies and calendars as they are when they run, so a
later change is never undone by an earlier job: at worst a ticket is recomputed twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.settings import Settings
from crm_db.timers import Timer
from crm_events.records import RecordService
from tickets.models.sla import SlaRecompute
from tickets.service import sla

RECOMPUTE = "sla_recompute"
QUEUED = "tickets.sla_recomputes_queued"  # session.info: ids of the jobs this transaction queued
HEADER = "Sla-Recompute-Id"  # on a write's answer: the job it queued, to follow at /v1/sla-recomputes/{id}


def queued_headers(session: Session) -> dict[str, str]:
    """The answer's header naming the (last) recompute job the write queued, if it queued one."""
    ids = session.info.get(QUEUED) or []
    return {HEADER: str(ids[-1])} if ids else {}


@dataclass(frozen=True)
class Recomputes:
    inline_max: int = 200  # open tickets a change recomputes in its own request
    chunk: int = 1000  # tickets per worker transaction

    @classmethod
    def from_settings(cls, settings: Settings) -> Recomputes:
        return cls(inline_max=int(settings.get("CRM_SLA_RECOMPUTE_INLINE_MAX", "") or 200),
                   chunk=int(settings.get("CRM_SLA_RECOMPUTE_CHUNK", "") or 1000))

    def request(self, session: Session, reason: str, *, policy_ids: Iterable[uuid.UUID | None] | None = None,
                rematch: bool = False) -> SlaRecompute | None:
        """Recompute the open tickets under `policy_ids` (None: all) now, or queue a job for them."""
        scope = None if policy_ids is None else list(policy_ids)
        if scope is not None and not scope:
            return None
        total = sla.count_open(session, scope)
        if total == 0:
            return None
        if total <= self.inline_max:
            sla.recompute(session, policy_ids=scope, rematch=rematch)
            return None
        job = SlaRecompute(status="queued", reason=reason[:300], tickets_total=total, tickets_done=0,
                           scope={"policy_ids": None if scope is None else [str(p) if p else None for p in scope],
                                  "rematch": rematch})
        session.add(job)
        session.flush()
        sla.TIMERS.schedule(session, RECOMPUTE, job.id, sla.now(), {})
        session.info.setdefault(QUEUED, []).append(job.id)
        return job

    def for_calendar(self, session: Session, calendar_id: uuid.UUID, reason: str,
                     was_default: bool = False) -> SlaRecompute | None:
        """The open tickets whose policy counts in this calendar (or in the default one, if it is or was it)."""
        policy_ids = sla.policies_counting_in(session, calendar_id, was_default)
        return self.request(session, reason, policy_ids=policy_ids) if policy_ids else None

    def run_chunk(self, session: Session, timer: Timer) -> None:
        """The timer handler: one chunk of a job, then the next chunk's timer (or the job done)."""
        job = session.scalars(select(SlaRecompute).where(SlaRecompute.id == timer.subject_id).with_for_update()).first()
        if job is None or job.status in ("completed", "failed"):
            return
        at = sla.now()
        if job.status == "queued":
            job.status, job.started_at = "running", at
        raw = job.scope.get("policy_ids")
        scope = None if raw is None else [uuid.UUID(p) if p else None for p in raw]
        done, last = sla.recompute_chunk(session, policy_ids=scope, rematch=bool(job.scope.get("rematch")), at=at,
                                         after=job.after_ticket_id, limit=self.chunk)
        job.tickets_done += done
        job.tickets_total = max(job.tickets_total, job.tickets_done)  # tickets opened since count too
        if last is None or done < self.chunk:
            job.status, job.finished_at = "completed", at
            job.tickets_total = job.tickets_done
        else:
            job.after_ticket_id = last
            sla.TIMERS.schedule(session, RECOMPUTE, job.id, at, {})

    def give_up(self, session: Session, timer: Timer, error: str) -> None:
        """A chunk failed every retry: the job says so (and why) instead of running forever."""
        job = session.scalars(select(SlaRecompute).where(SlaRecompute.id == timer.subject_id).with_for_update()).first()
        if job is not None and job.status in ("queued", "running"):
            job.status, job.finished_at, job.error = "failed", sla.now(), error[:1000]


class RecomputeRecords(RecordService[SlaRecompute]):
    """Read-only records for GET /v1/sla-recomputes (the worker writes them)."""

    model = SlaRecompute
    aggregate = "sla_recompute"
