"""Killing automation's worker mid-stream (PostgreSQL + Kafka, real worker processes): 1,000
contacts each start a two-action workflow (create_task, then update_record), and the automation
worker (`python -m automation worker`: trigger consumer, run loop, timers) is SIGKILLed three times
while runs are in flight and restarted each time. Every run still completes, with exactly one task
per contact and every contact tagged: a step cut off between its call and its record runs again
with the same idempotency key, and a killed worker's leases run out so its runs go on.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from crm_testing.platform import Platform, ServiceHandle, start_platform, wait_for

pytestmark = pytest.mark.integration

CONTACTS = 1000
BATCH = 100  # POST /v1/contacts/batch takes at most 100 items
TAG = "kill-called"
WORKFLOW: dict[str, Any] = {
    "name": "Call and tag new contacts", "enabled": True,
    "trigger": {"type": "event", "event": "crm.contact.created"},
    "steps": [
        {"id": "call", "type": "create_task", "title": "Call {{ record.first_name }}", "due_in_days": 1},
        {"id": "tag", "type": "update_record", "fields": {"tags": [TAG]}},
    ]}
# When to kill, by runs completed so far: early (the consumer still taking events in), mid, late.
KILL_AT = (60, 400, 750)
LEASE_SECONDS = 3  # a killed worker's runs wait this long for the restarted one (default 30)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str) -> Iterator[Platform]:
    platform = start_platform(
        Path(tmp_path_factory.mktemp("workflow-kill")), pg_admin_url=pg_admin_url, kafka_bootstrap=kafka_bootstrap,
        only={"contacts", "pipeline", "automation"},
        # 1,000 runs start within a minute; the per-tenant run rate is not what this test is about.
        service_extra={"automation": {"CRM_WORKFLOW_MAX_RUNS_PER_MINUTE": "100000",
                                      "CRM_WORKFLOW_LEASE_SECONDS": str(LEASE_SECONDS)}})
    platform.start_workers(only={"contacts", "pipeline"})  # automation's worker: spawned by the test
    yield platform
    platform.close()


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, (resp.status, resp.data[:2000])
    return resp.json() if resp.data else None


def _paged(platform: Platform, path: str, token: str, max_pages: int = 50) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page = _ok(platform.request("GET", f"{path}?limit=200" + (f"&cursor={cursor}" if cursor else ""), token=token))
        rows += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return rows
    raise AssertionError(f"{path}: more than {max_pages} pages")


class Runs:
    """The tenant's runs and steps as automation's database has them (the owner role, under RLS)."""

    def __init__(self, owner_url: str, tenant: str) -> None:
        self.engine: Engine = create_engine(owner_url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.tenant = tenant

    def _rows(self, query: str) -> list[Any]:
        with self.engine.begin() as conn:
            conn.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": self.tenant})
            return list(conn.execute(text(query)).all())

    def by_status(self) -> dict[str, int]:
        return dict(self._rows("SELECT status, count(*) FROM workflow_runs GROUP BY status"))  # type: ignore[arg-type]

    def completed(self) -> int:
        return self.by_status().get("completed", 0)

    def steps(self) -> list[Any]:
        return self._rows("SELECT run_id, step_id, status, attempts FROM workflow_run_steps")

    def close(self) -> None:
        self.engine.dispose()


def _kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)


def test_killing_the_automation_worker_mid_runs_loses_and_doubles_nothing(platform: Platform) -> None:
    account = platform.signup("Kill Co")
    token, tenant = account["access_token"], account["tenant"]["id"]
    workflow = _ok(platform.request("POST", "/v1/workflows", WORKFLOW, token=token), 201)
    automation: ServiceHandle = platform.services["automation"]
    runs = Runs(automation.settings.database_owner_url, tenant)
    worker = automation.spawn("worker")
    platform.processes.append(worker)  # platform.close() stops whichever worker is current
    try:
        def create(start: int) -> list[str]:
            items = [{"first_name": f"K{i}", "last_name": "Kill", "email": f"k{i}-{uuid.uuid4().hex[:6]}@example.com"}
                     for i in range(start, start + BATCH)]
            body = _ok(platform.request("POST", "/v1/contacts/batch", {"mode": "create", "items": items}, token=token))
            assert [r["status"] for r in body["results"]] == [201] * BATCH, body
            return [r["id"] for r in body["results"]]

        with ThreadPoolExecutor(2) as pool:  # bounded: two batches of 100 at a time
            contact_ids = [cid for ids in pool.map(create, range(0, CONTACTS, BATCH)) for cid in ids]
        assert len(set(contact_ids)) == CONTACTS

        for at in KILL_AT:
            wait_for(lambda at=at: runs.completed() >= at, timeout=90, interval=0.05,
                     what=f"{at} runs completed before kill; runs {runs.by_status()}")
            _kill(worker)  # whatever it had in flight: consumed events, claimed runs, calls half made
            platform.processes.remove(worker)
            worker = automation.spawn("worker")
            platform.processes.append(worker)

        def finished() -> dict[str, int] | None:
            counts = runs.by_status()
            return counts if sum(counts.values()) >= CONTACTS and set(counts) <= {"completed", "failed"} else None

        try:
            counts = wait_for(finished, timeout=120, interval=0.25, what="every run to finish")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; runs now {runs.by_status()}") from None
        assert counts == {"completed": CONTACTS}, counts  # one run per contact, none failed

        steps = runs.steps()
        assert collections.Counter((s.step_id, s.status) for s in steps) == {
            ("call", "succeeded"): CONTACTS, ("tag", "succeeded"): CONTACTS}
        # The kills landed mid-step: some step was begun by a killed worker and done again after it.
        assert any(s.attempts > 1 for s in steps), "no kill caught a step in flight"

        tasks = _paged(platform, "/v1/tasks", token)
        per_contact = collections.Counter(t["contact_id"] for t in tasks)
        doubled = {cid: n for cid, n in per_contact.items() if n != 1}
        assert not doubled, f"contacts with more than one task: {list(doubled.items())[:10]}"
        assert set(per_contact) == set(contact_ids)
        assert all(t["title"].startswith("Call K") for t in tasks)

        contacts = _paged(platform, "/v1/contacts", token)
        untagged = [c["id"] for c in contacts if TAG not in (c.get("tags") or [])]
        assert len(contacts) == CONTACTS and not untagged, f"{len(untagged)} contacts without the tag"
        assert _ok(platform.request("GET", f"/v1/workflows/{workflow['id']}/runs?status=failed", token=token))["data"] == []
    finally:
        runs.close()
