"""The job queue is shared fairly: one tenant's long job never holds up the other tenants' jobs."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import select

from contacts.__main__ import job_runner
from contacts.models import Job
from contacts.service.jobs import JobRun, JobRunner, create_job
from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness


def queue(svc: ServiceHarness, tenant: str, kind: str) -> uuid.UUID:
    runner = job_runner(svc.settings, svc.db)
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return create_job(session, runner.outbox, kind, "contacts", {}).id


def status(svc: ServiceHarness, tenant: str, job_id: uuid.UUID) -> str:
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return session.scalars(select(Job.status).where(Job.id == job_id)).one()


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest) -> ServiceHarness:
    return request.getfixturevalue("contacts_service" if request.param == "sqlite" else "pg_contacts")


def test_a_tenants_long_job_leaves_the_other_workers_to_other_tenants(service: ServiceHarness) -> None:
    svc = service
    release, started = threading.Event(), threading.Event()
    ran: list[tuple[str, uuid.UUID]] = []

    def slow(run: JobRun) -> None:  # stands in for a 2 GiB import
        ran.append(("slow", run.tenant_id))
        started.set()
        release.wait(20)

    def quick(run: JobRun) -> None:
        ran.append(("quick", run.tenant_id))

    def runner() -> JobRunner:
        made = job_runner(svc.settings, svc.db)
        made.register_kind("slowjob", slow)
        made.register_kind("quickjob", quick)
        return made

    big = queue(svc, "a", "slowjob")
    a_next = queue(svc, "a", "quickjob")  # older than b's: a plain oldest-first queue would take it next
    b_job = queue(svc, "b", "quickjob")
    first = threading.Thread(target=runner().run_once, daemon=True)
    first.start()
    try:
        assert started.wait(10)
        second = runner()
        assert second.run_once()  # a is at its cap (1 running): b's job goes first
        assert status(svc, "b", b_job) == "completed" and status(svc, "a", a_next) == "queued"
        assert not second.run_once()  # a's next waits for a's running job, not for a free worker
        assert status(svc, "a", big) == "running"
    finally:
        release.set()
        first.join(timeout=20)
    assert not first.is_alive() and status(svc, "a", big) == "completed"
    assert second.run_once() and status(svc, "a", a_next) == "completed"
    assert ran == [("slow", svc.tenant("a")), ("quick", svc.tenant("b")), ("quick", svc.tenant("a"))]


def test_the_tenant_with_the_fewest_running_jobs_goes_first(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    hold = threading.Event()
    started = threading.Semaphore(0)
    order: list[uuid.UUID] = []

    def slow(run: JobRun) -> None:
        order.append(run.tenant_id)
        started.release()
        hold.wait(20)

    def runner() -> JobRunner:
        made = job_runner(svc.settings, svc.db)
        made.tenant_concurrency = 2
        made.register_kind("slowjob", slow)
        return made

    for tenant in ("a", "a", "a", "b", "c"):
        queue(svc, tenant, "slowjob")
    threads = [threading.Thread(target=runner().run_once, daemon=True) for _ in range(4)]
    try:
        for thread in threads:  # one claim after another, so the order is the claim policy's
            thread.start()
            assert started.acquire(timeout=10)
    finally:
        hold.set()
        for thread in threads:
            thread.join(timeout=20)
    # a's oldest, then b and c (none running) before a's second; a's third would exceed its cap.
    assert order == [svc.tenant(t) for t in ("a", "b", "c", "a")]
