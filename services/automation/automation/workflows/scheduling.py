"""Time in workflows: when a delay ends, when a schedule fires next, and the timer handlers that
wake sleeping runs and fire schedules (crm_db.timers: exactly once, across restarts)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from cronsim import CronSim
from sqlalchemy import select
from sqlalchemy.orm import Session

from automation.workflows import runs
from automation.workflows.client import ServiceApi, ServiceUnavailableError
from automation.workflows.models import Workflow, WorkflowRun
from automation.workflows.steps import ActionRegistry, StepError
from crm_db.base import as_utc, utcnow
from crm_db.timers import Timer
from crm_hours.calendar import Calendar, add_business_time
from crm_query import parse_datetime

FAN_OUT = "fan_out"  # the step of a schedule's own run: it starts one run per selected record


def delay_until(api: ServiceApi, tenant_id: uuid.UUID, params: Mapping[str, Any], start: dt.datetime,
                record: Mapping[str, Any] | None) -> dt.datetime:
    """The moment a delay step ends, counted from the step's first attempt (so a retry agrees)."""
    if "until" in params:
        return as_utc(params["until"])
    if "until_field" in params:
        value = (record or {}).get(params["until_field"])
        if value is None:
            value = ((record or {}).get("properties") or {}).get(params["until_field"])
        if value in (None, ""):
            raise StepError(f"The record has no {params['until_field']} to wait until.", retryable=False)
        try:
            moment = parse_datetime(str(value))
        except Exception as exc:
            raise StepError(f"{params['until_field']} is not a date: {value!r}.", retryable=False) from exc
        return as_utc(moment) + dt.timedelta(minutes=params.get("offset_minutes") or 0)
    amount = dt.timedelta(minutes=params.get("minutes") or 0, hours=params.get("hours") or 0, days=params.get("days") or 0)
    hours = params.get("business_hours")
    if not hours:
        return start + amount
    return add_business_time(_calendar(api, tenant_id, hours), start, amount)


def _calendar(api: ServiceApi, tenant_id: uuid.UUID, which: bool | str) -> Calendar:
    """The business hours of the tickets service: the calendar named, or the default one."""
    if which is True:
        resp = api.request(tenant_id, "tickets", "GET", "/v1/business-hours", params={"limit": 100})
        spec = next((c for c in (resp.body or {}).get("data", []) if c.get("is_default")), None) if resp.ok else None
    else:
        resp = api.request(tenant_id, "tickets", "GET", f"/v1/business-hours/{quote(str(which), safe='')}")
        spec = resp.body if resp.ok else None
    if spec is None:
        if resp.status >= 500:
            raise ServiceUnavailableError("tickets did not give the business hours")
        raise StepError("No such business-hours calendar (or no default one).", retryable=False)
    holidays = [h.get("date") for h in [*(spec.get("holidays") or ()), *(spec.get("feed_holidays") or ())]]
    return Calendar.from_spec(spec["time_zone"], spec.get("frames") or {},
                              [dt.date.fromisoformat(d) for d in holidays if d])


def next_fire(cron: str, zone: str, after: dt.datetime) -> dt.datetime:
    """The first cron time after `after`, read in the workflow's time zone (DST as cronsim does)."""
    local = as_utc(after).astimezone(ZoneInfo(zone or "UTC"))
    return as_utc(next(CronSim(cron, local)))


def plan_schedule(session: Session, workflow: Workflow, now: dt.datetime) -> None:
    """(Re)plan the workflow's next firing, in the save's transaction: a schedule trigger gets
    exactly one pending timer; anything else (or disabled) has none."""
    runs.timers().cancel(session, runs.SCHEDULE, workflow.id)
    trigger = (workflow.definition or {}).get("trigger") or {}
    if workflow.enabled and trigger.get("type") == "schedule":
        at = next_fire(trigger["cron"], trigger.get("timezone") or "UTC", now)
        runs.timers().schedule(session, runs.SCHEDULE, workflow.id, at, {"version": workflow.version_number})


class TimerHandlers:
    """Handlers of the two timer kinds, run by the TimerScheduler inside its transaction."""

    def __init__(self, actions: ActionRegistry, limits: runs.Limits, now: Callable[[], dt.datetime] = utcnow) -> None:
        self.actions, self.limits, self.now = actions, limits, now

    def resume(self, session: Session, timer: Timer) -> None:
        run = session.scalars(select(WorkflowRun).where(WorkflowRun.id == timer.subject_id).with_for_update()).first()
        if run is None or run.wait_token != timer.payload.get("token"):
            return  # the run moved on (an event came, it was cancelled): this timer is spent
        now = self.now()
        runs.wake(session, run, str(timer.payload.get("step") or "end"), now, output={"resumed_at": now.isoformat(), "by": "timer"})

    def schedule(self, session: Session, timer: Timer) -> None:
        workflow = session.scalars(select(Workflow).where(Workflow.id == timer.subject_id).with_for_update()).first()
        if workflow is None or not workflow.enabled or workflow.trigger_type != "schedule":
            return
        definition = runs.definition_for_workflow(session, workflow, self.actions)
        at = as_utc(timer.due_at).isoformat()
        # One run fans out to the records (HTTP calls belong in the run loop, not in this transaction).
        runs.start_run(session, workflow, definition, trigger_key=f"schedule:{at}", trigger={"type": "schedule", "at": at},
                       record_type=None, record_id=None, causation=[], now=self.now(), limits=self.limits,
                       first_step=FAN_OUT)
        plan_schedule(session, workflow, max(as_utc(timer.due_at), self.now()))
