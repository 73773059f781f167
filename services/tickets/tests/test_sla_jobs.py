"""Big SLA recomputes as worker jobs: a calendar change touching more open tickets than
CRM_SLA_RECOMPUTE_INLINE_MAX answers at once and queues a job; the worker does it in chunks, and
GET /v1/sla-recomputes shows its progress. Small changes still recompute in the request."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sla_helpers import SPLIT, Clock, berlin, get, iso, patch, policy, post, z

import tickets
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from tickets.app import create_app
from tickets.models import metadata
from tickets.service import sla, sla_config


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(z("2027-03-01 08:00"))  # Mon 09:00 CET
    monkeypatch.setattr(sla, "now", c)
    return c


@pytest.fixture
def svc(tmp_path: Path) -> ServiceHarness:
    return make_harness("tickets", create_app, metadata(), migrations_dir(tickets.__file__), tmp_path,
                        CRM_SLA_RECOMPUTE_INLINE_MAX="3", CRM_SLA_RECOMPUTE_CHUNK="2")


def test_a_big_change_is_a_job_with_progress(svc: ServiceHarness, clock: Clock) -> None:
    cal = berlin(svc)
    policy(svc, cal, first_response_minutes=120)
    made = [post(svc, "/v1/tickets", {"subject": f"T{n}"}) for n in range(7)]
    assert {t["sla_due_at"] for t in made} == {iso("2027-03-01 10:00")}  # 09:00 CET + 2 business hours
    assert get(svc, "/v1/sla-recomputes")["data"] == []  # creating tickets recomputes nothing

    later = {d: [{"start": "10:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}] for d in SPLIT}
    patch(svc, f"/v1/business-hours/{cal['id']}", {"frames": later})
    [job] = get(svc, "/v1/sla-recomputes")["data"]
    assert (job["status"], job["tickets_total"], job["tickets_done"]) == ("queued", 7, 0)
    assert "Berlin office" in job["reason"]
    assert get(svc, f"/v1/tickets/{made[0]['id']}")["sla_due_at"] == iso("2027-03-01 10:00")  # not yet

    runtime = svc.app.extensions["crm_runtime"]
    worker = sla_config.recompute_scheduler(runtime.settings, svc.db, clock)
    assert worker.run_once() == 1  # one chunk of two tickets
    job = get(svc, f"/v1/sla-recomputes/{job['id']}")
    assert (job["status"], job["tickets_done"]) == ("running", 2) and job["started_at"]
    assert worker.drain() == 3 and worker.run_once() == 0
    job = get(svc, f"/v1/sla-recomputes/{job['id']}")
    assert (job["status"], job["tickets_total"], job["tickets_done"]) == ("completed", 7, 7) and job["finished_at"]
    # 10:00 CET + 2 business hours = 12:00 CET
    assert {get(svc, f"/v1/tickets/{t['id']}")["sla_due_at"] for t in made} == {iso("2027-03-01 11:00")}

    # A change touching at most three open tickets is done in its own request
    vip = policy(svc, None, name="VIP", condition="tags in ('vip')", position=-1, first_response_minutes=30)
    assert len(get(svc, "/v1/sla-recomputes")["data"]) == 2  # the new policy re-matched all seven: a job
    worker.drain()
    tagged = post(svc, "/v1/tickets", {"subject": "VIP", "tags": ["vip"]})
    assert tagged["sla_due_at"] == iso("2027-03-01 08:30")
    patch(svc, f"/v1/sla-policies/{vip['id']}", {"first_response_minutes": 60})
    assert get(svc, f"/v1/tickets/{tagged['id']}")["sla_due_at"] == iso("2027-03-01 09:00")
    assert len(get(svc, "/v1/sla-recomputes")["data"]) == 2  # no job for one ticket

    # Another tenant sees none of these jobs
    assert get(svc, "/v1/sla-recomputes", tenant="b")["data"] == []
    assert svc.client.get(f"/v1/sla-recomputes/{job['id']}", headers=svc.headers("b")).status_code == 404
    # Nothing to write: the worker writes them
    assert svc.client.post("/v1/sla-recomputes", json={}, headers=svc.headers("a")).status_code == 405
    assert svc.client.delete(f"/v1/sla-recomputes/{job['id']}", headers=svc.headers("a")).status_code == 405


def test_the_worker_schedulers_keep_the_sla_clock_by_default(svc: ServiceHarness, clock: Clock) -> None:
    """The worker builds its schedulers without a clock: they follow sla.now (once, a local name
    shadowed the module and the clock called itself until RecursionError)."""
    runtime = svc.app.extensions["crm_runtime"]
    clocks, feeds = sla_config.schedulers(runtime.settings, svc.db)
    recomputes = sla_config.recompute_scheduler(runtime.settings, svc.db)
    for scheduler in (clocks, feeds, recomputes):
        assert scheduler.now() == clock()
        assert scheduler.run_once() == 0


def test_a_job_whose_chunk_fails_every_retry_is_failed_with_the_error(svc: ServiceHarness, clock: Clock,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cal = berlin(svc)
    policy(svc, cal, first_response_minutes=120)
    for n in range(5):
        post(svc, "/v1/tickets", {"subject": f"T{n}"})
    patch(svc, f"/v1/business-hours/{cal['id']}", {"frames": {d: [{"start": "10:00", "end": "17:00"}] for d in SPLIT}})
    [job] = get(svc, "/v1/sla-recomputes")["data"]

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(sla, "recompute_chunk", broken)
    runtime = svc.app.extensions["crm_runtime"]
    worker = sla_config.recompute_scheduler(runtime.settings, svc.db, clock)
    worker.max_attempts, worker.retry_delay = 3, dt.timedelta(0)
    for _ in range(3):
        assert worker.run_once() == 1
        assert get(svc, f"/v1/sla-recomputes/{job['id']}")["status"] in ("queued", "failed")
    job = get(svc, f"/v1/sla-recomputes/{job['id']}")
    assert (job["status"], job["tickets_done"]) == ("failed", 0)
    assert job["error"] == "RuntimeError: disk full" and job["finished_at"]
    assert worker.run_once() == 0  # given up: nothing left to retry


def test_the_answer_of_a_change_that_queued_a_job_names_it(svc: ServiceHarness, clock: Clock) -> None:
    """Sla-Recompute-Id on the write's answer (create, update, delete) when it queued a job; none
    when the request recomputed the clocks itself."""
    cal = berlin(svc)
    small = svc.client.post("/v1/sla-policies", json={"name": "Small", "business_hours_id": cal["id"],
                                                      "first_response_minutes": 60}, headers=svc.headers("a"))
    assert small.status_code == 201 and "Sla-Recompute-Id" not in small.headers  # no open tickets yet
    for n in range(5):
        post(svc, "/v1/tickets", {"subject": f"T{n}"})
    changed = svc.client.patch(f"/v1/business-hours/{cal['id']}", headers=svc.headers("a"),
                               json={"frames": {d: [{"start": "10:00", "end": "17:00"}] for d in SPLIT}})
    assert changed.status_code == 200
    [job] = get(svc, "/v1/sla-recomputes")["data"]
    assert changed.headers["Sla-Recompute-Id"] == job["id"]
    made = svc.client.post("/v1/sla-policies", json={"name": "Second", "first_response_minutes": 30},
                           headers=svc.headers("a"))
    assert made.status_code == 201
    assert made.headers["Sla-Recompute-Id"] == get(svc, "/v1/sla-recomputes")["data"][0]["id"] != job["id"]
    gone = svc.client.delete(f"/v1/sla-policies/{made.get_json()['id']}", headers=svc.headers("a"))
    assert gone.status_code == 204 and gone.headers["Sla-Recompute-Id"] not in (job["id"], made.headers["Sla-Recompute-Id"])
    renamed = svc.client.patch(f"/v1/sla-policies/{small.get_json()['id']}", json={"name": "Renamed"},
                               headers=svc.headers("a"))
    assert renamed.status_code == 200 and "Sla-Recompute-Id" not in renamed.headers  # a name moves no clock
    # Another tenant's job ids are not theirs to read
    assert svc.client.get(f"/v1/sla-recomputes/{job['id']}", headers=svc.headers("b")).status_code == 404
