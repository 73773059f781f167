"""The workflow parts, put together once per process from its settings: the service API client,
the action registry, the limits; the routes (web), the run loop, timers and trigger consumer (worker)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint

from automation.models import Base
from automation.workflows import api as routes
from automation.workflows.client import ServiceApi
from automation.workflows.dryrun import DryRun
from automation.workflows.engine import RunWorker
from automation.workflows.runs import RESUME, SCHEDULE, Limits
from automation.workflows.scheduling import TimerHandlers
from automation.workflows.service import WorkflowService
from automation.workflows.steps import ActionRegistry
from automation.workflows.triggers import Triggers
from crm_core.settings import Settings
from crm_db.database import Database
from crm_db.timers import TimerScheduler, timer_table
from crm_runtime.cli import ConsumerSpec
from crm_runtime.service import ServiceRuntime

GROUP = "automation.workflows"


def limits(settings: Settings) -> Limits:
    def number(name: str, default: int) -> int:
        return int(settings.get(name, str(default)) or default)

    return Limits(max_chain=number("CRM_WORKFLOW_MAX_CHAIN", 5),
                  runs_per_minute=number("CRM_WORKFLOW_MAX_RUNS_PER_MINUTE", 1000),
                  max_active=number("CRM_WORKFLOW_MAX_ACTIVE", 100),
                  schedule_max_records=number("CRM_WORKFLOW_SCHEDULE_MAX_RECORDS", 10_000))


def action_registry(settings: Settings, db: Database | None) -> ActionRegistry:
    from automation.sender import DEFAULT_TIMEOUT, Sender
    from automation.service import ALLOW_PRIVATE
    from automation.workflows.actions import actions

    sender = Sender(allow_private=settings.get_bool(ALLOW_PRIVATE),
                    timeout=float(settings.get("CRM_WEBHOOK_TIMEOUT_SECONDS", str(DEFAULT_TIMEOUT)) or DEFAULT_TIMEOUT))
    return actions(db=db, sender=sender)


@dataclass
class WorkflowParts:
    settings: Settings
    api: ServiceApi | None
    actions: ActionRegistry
    limits: Limits

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None) -> WorkflowParts:
        api = ServiceApi(settings) if settings.internal_private_key else None
        return cls(settings, api, action_registry(settings, db), limits(settings))

    def service(self) -> WorkflowService:
        return WorkflowService(self.api, self.actions, self.limits)

    def worker(self, db: Database) -> RunWorker:
        return RunWorker(db, self._api(), self.actions, self.limits,
                         concurrency=int(self.settings.get("CRM_WORKFLOW_CONCURRENCY", "8") or 8),
                         retry_base=float(self.settings.get("CRM_WORKFLOW_RETRY_BASE_SECONDS", "5") or 5),
                         lease=dt.timedelta(seconds=float(self.settings.get("CRM_WORKFLOW_LEASE_SECONDS", "30") or 30)))

    def timers(self, db: Database) -> TimerScheduler:
        handlers = TimerHandlers(self.actions, self.limits)
        return TimerScheduler(db, timer_table(Base.metadata), {RESUME: handlers.resume, SCHEDULE: handlers.schedule},
                              idle_sleep=float(self.settings.get("CRM_WORKFLOW_TIMER_POLL_SECONDS", "1") or 1))

    def triggers(self) -> Triggers:
        return Triggers(self._api(), self.actions, self.limits)

    def _api(self) -> ServiceApi:
        if self.api is None:
            raise RuntimeError("automation's worker needs CRM_INTERNAL_PRIVATE_KEY(_FILE): workflows act through "
                               "the services' APIs with internal tokens it signs")
        return self.api


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    parts = WorkflowParts.build(runtime.settings, runtime.db)
    service = parts.service()
    dry_runs = DryRun(parts.api, parts.actions) if parts.api else None
    routes.register(bp, runtime, service, dry_runs)


def background(settings: Settings, db: Database) -> list:
    parts = WorkflowParts.build(settings, db)
    return [parts.worker(db).run, parts.timers(db).run]


def consumers(settings: Settings, db: Database, topics: list[str]) -> list[ConsumerSpec]:
    parts = WorkflowParts.build(settings, db)
    triggers = parts.triggers()
    return [ConsumerSpec(GROUP, list(topics), {"*": triggers.on_event})]
