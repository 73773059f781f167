"""SLA configuration as records (business-hours calendars, SLA policies), their holiday feeds, and
the worker's SLA schedulers. A change that moves due times asks sla_jobs for a recompute."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import Conflict, ProblemError, validation_error
from crm_core.settings import Settings
from crm_db.database import Database
from crm_db.timers import Timer, TimerScheduler
from crm_events.outbox import Outbox
from crm_events.records import RecordService
from crm_hours import feed as holiday_feed
from crm_runtime.cli import BackgroundLoop, ConsumerSpec
from tickets.models import timers
from tickets.models.sla import TARGETS, BusinessHours, SlaPolicy
from tickets.service import conditions, sla
from tickets.service.sla import BREACH, FEED, TIMERS, WARNING, SlaTimerHandler
from tickets.service.sla_jobs import RECOMPUTE, Recomputes

if TYPE_CHECKING:
    from tickets.service.desk import Desk


# --- calendars and policies as records ---------------------------------------------------------

def _holidays_json(values: dict[str, Any]) -> None:
    if "holidays" in values and values["holidays"] is not None:
        seen: dict[str, str] = {}
        for h in values["holidays"]:
            seen.setdefault(h["date"].isoformat() if isinstance(h["date"], dt.date) else str(h["date"]), h.get("name") or "")
        values["holidays"] = [{"date": d, "name": n} for d, n in sorted(seen.items())]


class BusinessHoursService(RecordService[BusinessHours]):
    model = BusinessHours
    aggregate = "business_hours"

    def __init__(self, outbox: Outbox, serialize: Callable[[BusinessHours], dict[str, Any]],
                 recomputes: Recomputes | None = None) -> None:
        super().__init__(outbox, serialize)
        self.recomputes = recomputes or Recomputes()

    def _prepare(self, session: Session, values: dict[str, Any], record: BusinessHours | None) -> None:
        _holidays_json(values)
        if values.get("holiday_feed_url") == "":
            values["holiday_feed_url"] = None
        if values.get("is_default"):
            others = select(BusinessHours).where(BusinessHours.is_default.is_(True))
            for other in session.scalars(others):
                if record is None or other.id != record.id:
                    other.is_default = False

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        values.setdefault("holidays", [])
        self._prepare(session, values, None)

    def create(self, session: Session, values: dict[str, Any]) -> BusinessHours:
        record = super().create(session, values)
        _plan_feed(session, record)
        if record.is_default:
            self.recomputes.for_calendar(session, record.id, f"Business hours {record.name!r} became the default",
                                         was_default=True)
        return record

    def before_update(self, session: Session, record: BusinessHours, values: dict[str, Any]) -> None:
        self._prepare(session, values, record)
        session.info["tickets.sla_was_default"] = record.is_default
        if "holiday_feed_url" in values and values["holiday_feed_url"] != record.holiday_feed_url:
            values.update(feed_holidays=[], feed_refreshed_at=None, feed_error=None)

    def after_update(self, session: Session, record: BusinessHours, changes: dict[str, list[Any]]) -> None:
        if "holiday_feed_url" in changes:
            _plan_feed(session, record)
        if changes.keys() & {"time_zone", "frames", "holidays", "feed_holidays", "is_default"}:
            self.recomputes.for_calendar(session, record.id, f"Business hours {record.name!r} changed",
                                         was_default=bool(session.info.pop("tickets.sla_was_default", False)))

    def before_delete(self, session: Session, record: BusinessHours) -> None:
        users = session.scalars(select(SlaPolicy.name).where(SlaPolicy.business_hours_id == record.id)).all()
        if users:
            raise Conflict(f"The calendar is used by SLA policies: {', '.join(users)}.",
                           errors={"business_hours_id": [f"In use by {len(users)} policies."]})
        TIMERS.cancel(session, FEED, record.id)

    def delete(self, session: Session, record_id: uuid.UUID, expected_version: int | None = None) -> None:
        was_default = bool(session.scalars(select(BusinessHours.is_default).where(BusinessHours.id == record_id)).first())
        super().delete(session, record_id, expected_version)
        if was_default:
            self.recomputes.for_calendar(session, record_id, "The default business hours were deleted", was_default=True)


def _check_condition(session: Session, condition: str | None) -> None:
    try:
        conditions.check_condition(session, condition)
    except ProblemError as exc:
        messages = [m for ms in (exc.errors or {}).values() for m in ms] or [exc.detail or "Invalid condition."]
        raise validation_error({"condition": messages}, detail=f"Invalid condition: {exc.detail or messages[0]}") from exc


class SlaPolicyService(RecordService[SlaPolicy]):
    model = SlaPolicy
    aggregate = "sla_policy"

    def __init__(self, outbox: Outbox, serialize: Callable[[SlaPolicy], dict[str, Any]],
                 recomputes: Recomputes | None = None) -> None:
        super().__init__(outbox, serialize)
        self.recomputes = recomputes or Recomputes()

    def _check(self, session: Session, values: dict[str, Any], record: SlaPolicy | None) -> None:
        if "condition" in values:
            values["condition"] = (values["condition"] or "").strip() or None
            _check_condition(session, values["condition"])
        calendar_id = values.get("business_hours_id")
        if calendar_id is not None and session.scalars(select(BusinessHours.id).where(BusinessHours.id == calendar_id)).first() is None:
            raise validation_error({"business_hours_id": [f"No business hours with id {calendar_id}."]})
        if record is not None and not any(values.get(f"{t}_minutes", getattr(record, f"{t}_minutes")) for t in TARGETS):
            raise validation_error({"first_response_minutes": ["A policy needs at least one target."]})

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._check(session, values, None)

    def create(self, session: Session, values: dict[str, Any]) -> SlaPolicy:
        record = super().create(session, values)
        self.recomputes.request(session, f"SLA policy {record.name!r} was added", rematch=True)
        return record

    def before_update(self, session: Session, record: SlaPolicy, values: dict[str, Any]) -> None:
        self._check(session, values, record)

    def after_update(self, session: Session, record: SlaPolicy, changes: dict[str, list[Any]]) -> None:
        if changes.keys() & {"condition", "position"}:
            self.recomputes.request(session, f"SLA policy {record.name!r} changed what it applies to", rematch=True)
        elif changes.keys() - {"name"}:
            self.recomputes.request(session, f"SLA policy {record.name!r} changed", policy_ids=[record.id])

    def delete(self, session: Session, record_id: uuid.UUID, expected_version: int | None = None) -> None:
        super().delete(session, record_id, expected_version)
        self.recomputes.request(session, "An SLA policy was deleted", rematch=True)



# --- holiday feeds and the worker's schedulers ------------------------------------------------

def _plan_feed(session: Session, record: BusinessHours) -> None:
    TIMERS.cancel(session, FEED, record.id)
    if record.holiday_feed_url:
        TIMERS.schedule(session, FEED, record.id, sla.now(), {})


@dataclass
class FeedRefresher:
    """Fetches a calendar's iCalendar holiday feed (bounded by `timeout`), stores what it found and
    recomputes the tickets counting in it, then plans the next refresh. Runs on its own scheduler
    so a slow feed never delays SLA timers; the request path never fetches."""

    timeout: float = 10.0
    every: dt.timedelta = dt.timedelta(hours=24)
    allow_private: bool = False
    fetch: Callable[..., bytes] = holiday_feed.fetch
    recomputes: Recomputes = field(default_factory=Recomputes)

    def __call__(self, session: Session, timer: Timer) -> None:
        record = session.scalars(select(BusinessHours).where(BusinessHours.id == timer.subject_id)).first()
        if record is None or not record.holiday_feed_url:
            return
        at = sla.now()
        try:
            data = self.fetch(record.holiday_feed_url, timeout=self.timeout, allow_private=self.allow_private)
            found = [{"date": h.date.isoformat(), "name": h.name}
                     for h in holiday_feed.parse_holidays(data, record.time_zone, today=at.date())]
        except holiday_feed.FeedError as exc:
            record.feed_error = str(exc)[:1000]
            found = None
        if found is not None:
            changed = found != (record.feed_holidays or [])
            record.feed_holidays, record.feed_refreshed_at, record.feed_error = found, at, None
            session.flush()
            if changed:
                self.recomputes.for_calendar(session, record.id, f"The holiday feed of {record.name!r} changed")
        TIMERS.schedule(session, FEED, record.id, at + self.every, {})


def schedulers(settings: Settings, db: Database, desk: Desk | None = None,
               clock: Callable[[], dt.datetime] | None = None) -> tuple[TimerScheduler, TimerScheduler]:
    """The SLA timer scheduler and the holiday-feed scheduler of the worker."""
    from tickets.models import metadata
    from tickets.service.desk import build_desk

    desk = desk or build_desk(settings, Outbox(settings.service, metadata()))
    clock = clock or (lambda: sla.now())
    handler = SlaTimerHandler(desk, clock)
    poll = min(float(settings.get("CRM_SLA_TIMER_POLL_SECONDS", "") or 5), 15.0)  # events within a minute
    clocks = TimerScheduler(db, timers, {}, {WARNING: handler.warning, BREACH: handler.breach}, now=clock,
                            batch=int(settings.get("CRM_TIMER_BATCH", "") or 500), idle_sleep=poll)
    refresher = FeedRefresher(timeout=float(settings.get("CRM_SLA_HOLIDAY_FEED_TIMEOUT", "") or 10),
                              every=dt.timedelta(hours=float(settings.get("CRM_SLA_HOLIDAY_FEED_HOURS", "") or 24)),
                              allow_private=(settings.get("CRM_SLA_HOLIDAY_FEED_ALLOW_PRIVATE", "") or "").lower() in ("1", "true"),
                              recomputes=Recomputes.from_settings(settings))
    feeds = TimerScheduler(db, timers, {FEED: refresher}, now=clock, batch=5, idle_sleep=30.0)
    return clocks, feeds


def recompute_scheduler(settings: Settings, db: Database, clock: Callable[[], dt.datetime] | None = None) -> TimerScheduler:
    """Big recomputes (sla_jobs), one chunk per round and back to back while a job has chunks left;
    on their own scheduler so that a recompute of 100,000 tickets never delays a breach."""
    recomputes = Recomputes.from_settings(settings)
    return TimerScheduler(db, timers, {RECOMPUTE: recomputes.run_chunk}, gave_up={RECOMPUTE: recomputes.give_up},
                          now=clock or (lambda: sla.now()), batch=1, idle_sleep=1.0)


# --- composition ----------------------------------------------------------------------------------

def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """The area's event consumers (run by the worker)."""
    return []


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The SLA timer scheduler, the holiday-feed refresher and the recompute jobs (run by the worker)."""
    sla_timers, feeds = schedulers(settings, db)
    return [sla_timers.run, feeds.run, recompute_scheduler(settings, db).run]
