"""A deal's activity dates: next_activity_at (its earliest open task), last_activity_at (its
latest done task or logged activity), and rots_at (when it turns rotten) that follows from them.

One place computes these, whatever moved them: a task written or completed, an activity logged
on the deal's timeline, the deal entering another stage, the stage's rotten_days edited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_db.base import as_utc, utcnow
from pipeline.models import Deal, PipelineStage, Task
from pipeline.models.calendar import Meeting


def rots_at(status: str, rotten_days: int | None, stage_entered_at: dt.datetime | None,
            last_activity_at: dt.datetime | None) -> dt.datetime | None:
    """When an open deal turns rotten: no activity for the stage's rotten_days since the later of
    its last activity and entering the stage. None for a closed deal or a stage that never rots."""
    if status != "open" or rotten_days is None:
        return None
    known = [as_utc(d) for d in (stage_entered_at, last_activity_at) if d is not None]
    return max(known) + dt.timedelta(days=rotten_days) if known else None


def refresh_deal_activity(session: Session, deal_ids: Iterable[uuid.UUID],
                          logged_at: dt.datetime | None = None, now: dt.datetime | None = None) -> None:
    """Recompute next/last activity and rots_at of these deals from their tasks and scheduled
    meetings (and, when an activity was just logged on the timeline, its time). No event: these
    are derived fields.

    Bumps no version either: a task being completed must not make a user's open deal form stale."""
    for deal_id in set(deal_ids):
        deal = session.scalars(select(Deal).where(Deal.id == deal_id)).first()  # tenant-scoped
        if deal is None:
            continue
        next_task = session.scalar(select(func.min(Task.due_at)).where(
            Task.deal_id == deal_id, Task.done.is_(False), Task.due_at.is_not(None)))
        next_meeting = session.scalar(select(func.min(Meeting.starts_at)).where(
            Meeting.deal_id == deal_id, Meeting.cancelled.is_(False), Meeting.starts_at >= (now or utcnow())))
        upcoming = [as_utc(d) for d in (next_task, next_meeting) if d is not None]
        next_at = min(upcoming) if upcoming else None
        last_done = session.scalar(select(func.max(Task.completed_at)).where(
            Task.deal_id == deal_id, Task.done.is_(True)))
        candidates = [as_utc(d) for d in (deal.last_activity_at, last_done, logged_at) if d is not None]  # SQLite: naive
        last_at = max(candidates) if candidates else None
        rotten_days = session.scalar(select(PipelineStage.rotten_days).where(PipelineStage.id == deal.stage_id))
        values = {"next_activity_at": next_at, "last_activity_at": last_at,
                  "rots_at": rots_at(deal.status, rotten_days, deal.stage_entered_at, last_at)}
        session.execute(update(Deal).where(Deal.id == deal_id).values(**values)
                        .execution_options(synchronize_session="fetch"))
