"""The workflow test rig: the platform on PostgreSQL + Kafka with the other services' workers as
processes (as deployed), and automation's relay, consumers, run loop, timers and webhook delivery
as threads of the test process on a controllable clock (real time plus an offset the test moves),
so a one-day delay takes no day. Shared by test_workflows_flow.py and test_workflows_steps.py.

    with workflow_rig(var_dir, pg_admin_url, kafka_bootstrap) as rig:
        token = rig.platform.signup("Co")["access_token"]
        ...
        rig.clock.advance(minutes=1)
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automation.models import Base
from automation.worker import DeliveryWorker
from automation.workflows.engine import RunWorker
from automation.workflows.runs import RESUME, SCHEDULE
from automation.workflows.scheduling import TimerHandlers
from automation.workflows.steps import Action
from automation.workflows.wiring import WorkflowParts
from crm_db.base import as_utc, utcnow
from crm_db.database import Database
from crm_db.timers import TimerScheduler, timer_table
from crm_runtime.cli import _consumer_loops, _relay_loop
from crm_testing.platform import Platform, start_platform, wait_for

SERVICES = frozenset({"contacts", "pipeline", "tickets", "mail", "automation"})


class OffsetClock:
    """Real time plus an offset: runs queued "now" by the consumer are due at once, and a test
    jumps over a delay with advance() or advance_to()."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)

    def advance_to(self, moment: dt.datetime | str, *, past: dt.timedelta = dt.timedelta(seconds=1)) -> None:
        """Just past `moment` (an aware datetime or ISO text), if the clock is not there yet."""
        when = as_utc(dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment)
        gap = when + past - self()
        if gap > dt.timedelta(0):
            self.offset += gap


@dataclass
class Rig:
    platform: Platform
    clock: OffsetClock
    # The registry automation's in-thread run loop uses: a test may wrap an action in it (fault
    # injection) with monkeypatch.setitem, and the next step of that type runs the wrapper.
    actions: dict[str, Action]


@contextmanager
def workflow_rig(var_dir: Path, pg_admin_url: str, kafka_bootstrap: str, *, services: frozenset[str] = SERVICES,
                 service_extra: Mapping[str, dict[str, str]] | None = None) -> Iterator[Rig]:
    """`services`: those started (automation always); `service_extra`: settings per service, e.g.
    {"mail": {"CRM_SMTP_URL": sink.url}}, {"automation": {"CRM_WORKFLOW_MAX_ACTIVE": "2"}}."""
    services = services | {"automation"}
    platform = start_platform(var_dir, pg_admin_url=pg_admin_url, kafka_bootstrap=kafka_bootstrap,
                              only=set(services), service_extra=dict(service_extra or {}))
    db: Database | None = None
    try:
        platform.start_workers(only=set(services - {"automation"}))
        clock = OffsetClock()
        handle = platform.services["automation"]
        db = Database(handle.settings.database_url, pool_size=6)
        # With automation's database, as the worker builds it (wiring.background): round_robin
        # keeps its place there.
        parts = WorkflowParts.build(handle.settings, db)
        assert parts.api is not None
        handlers = TimerHandlers(parts.actions, parts.limits, clock)
        loops = [
            _relay_loop(handle.process, handle.settings, db),
            *_consumer_loops(handle.process, handle.settings, db),
            RunWorker(db, parts.api, parts.actions, parts.limits, idle_sleep=0.05, retry_base=0.5, now=clock).run,
            TimerScheduler(db, timer_table(Base.metadata), {RESUME: handlers.resume, SCHEDULE: handlers.schedule},
                           now=clock, idle_sleep=0.1).run,
            DeliveryWorker.from_settings(handle.settings, db).run,
        ]
        for loop in loops:
            thread = threading.Thread(target=loop, args=(platform.stop,), daemon=True)
            thread.start()
            platform.threads.append(thread)
        assert isinstance(parts.actions, dict)  # the very registry the run loop reads
        yield Rig(platform, clock, parts.actions)
    finally:
        platform.close()
        if db is not None:
            db.dispose()


# -- the API, as the tests call it ----------------------------------------------------------------

def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, (resp.status, resp.data[:2000])
    return resp.json() if resp.data else None


def list_runs(platform: Platform, token: str, workflow_id: str, status: str | None = None) -> list[dict[str, Any]]:
    query = f"?status={status}&limit=200" if status else "?limit=200"
    return ok(platform.request("GET", f"/v1/workflows/{workflow_id}/runs{query}", token=token))["data"]


def get_run(platform: Platform, token: str, run_id: str) -> dict[str, Any]:
    return ok(platform.request("GET", f"/v1/workflow-runs/{run_id}", token=token))


def wait_runs(platform: Platform, token: str, workflow_id: str, status: str, count: int = 1,
              timeout: float = 60) -> list[dict[str, Any]]:
    """At least `count` runs of the workflow in `status`; on a timeout, says where every run is."""
    def done() -> list[dict[str, Any]] | None:
        found = [r for r in list_runs(platform, token, workflow_id) if r["status"] == status]
        return found if len(found) >= count else None

    try:
        return wait_for(done, timeout=timeout, what=f"{count} {status} run(s)")
    except AssertionError as exc:
        found = [get_run(platform, token, r["id"]) for r in list_runs(platform, token, workflow_id)]
        raise AssertionError(f"{exc}; runs: {json.dumps(found, indent=1)[:4000]}") from None


def wait_run(platform: Platform, token: str, run_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    """The run (with its steps) once it is in `status`."""
    seen: list[dict[str, Any]] = []

    def done() -> dict[str, Any] | None:
        seen[:] = [get_run(platform, token, run_id)]
        return seen[0] if seen[0]["status"] == status else None

    try:
        return wait_for(done, timeout=timeout, what=f"run {run_id} {status}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; run: {json.dumps(seen, indent=1)[:4000]}") from None


def step_of(run: Mapping[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in run["steps"] if s["step_id"] == step_id)
