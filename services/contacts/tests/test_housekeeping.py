"""Job files have a retention period, and decaying scores move without an edit: the worker's
housekeeping, driven with a fake clock. Also the errors CSV header and the rescoring job under
concurrent edits."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm.exc import StaleDataError
from test_imports import error_rows, imported, run_jobs

import contacts
import contacts.service.scoring as scoring
from contacts.__main__ import housekeeper
from contacts.app import create_app
from contacts.models import Contact, Job, metadata, schedule_table
from contacts.service.jobs import files_table
from crm_core.context import tenant_context
from crm_db.base import utcnow
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness


def call(svc: ServiceHarness, method: str, path: str, body: Any = None, status: int = 200, tenant: str = "a") -> Any:
    resp = svc.client.open(path, method=method, json=body, headers=svc.headers(tenant))
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    return resp


def file_parts(svc: ServiceHarness, tenant: str = "a") -> list[tuple[str, str]]:
    files = files_table()
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        rows = session.execute(select(files.c.job_id, files.c.part).where(files.c.tenant_id == svc.tenant(tenant)))
        return sorted({(str(r.job_id), r.part) for r in rows})


def finished_ago(svc: ServiceHarness, job_id: str, days: float, tenant: str = "a") -> None:
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        session.execute(update(Job).where(Job.id == uuid.UUID(job_id)).values(finished_at=utcnow() - dt.timedelta(days=days)))


def test_job_files_are_purged_after_the_retention_period(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    old = imported(svc, "a", "email\nada@example.com\n")
    fresh = imported(svc, "a", "email\nbob@example.com\n")
    export = call(svc, "POST", "/v1/exports", {"object": "contacts"}, 202).get_json()
    run_jobs(svc)
    other = imported(svc, "b", "email\ncarol@example.com\n")
    finished_ago(svc, old["id"], 31)
    finished_ago(svc, export["id"], 40)
    finished_ago(svc, other["id"], 40, tenant="b")
    keeper = housekeeper(svc.settings, svc.db)  # the default retention: 30 days
    assert keeper.run_once(utcnow()) == 0  # a tenant's first purge is due a day after its first job
    assert keeper.run_once(utcnow() + dt.timedelta(days=1, minutes=1)) == 2  # a and b
    assert file_parts(svc) == [(fresh["id"], "upload")]
    assert file_parts(svc, "b") == []
    gone = call(svc, "GET", f"/v1/exports/{export['id']}/file", status=410).get_json()
    assert "retention" in gone["detail"]
    assert call(svc, "GET", f"/v1/imports/{old['id']}").get_json()["status"] == "completed"  # the job stays
    # Next purge a day later; the fresh job's files go once they are old enough too.
    finished_ago(svc, fresh["id"], 30.5)
    assert keeper.run_once(utcnow() + dt.timedelta(days=1, minutes=2)) == 0  # leased/not due yet
    assert keeper.run_once(utcnow() + dt.timedelta(days=2, minutes=2)) == 2
    assert file_parts(svc) == []


def test_retention_is_configurable(tmp_path: Any) -> None:
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path,
                       CRM_JOB_FILE_RETENTION_DAYS="2")
    job = imported(svc, "a", "email\nada@example.com\n")
    finished_ago(svc, job["id"], 3)
    assert housekeeper(svc.settings, svc.db).run_once(utcnow() + dt.timedelta(days=1, minutes=1)) == 1
    assert file_parts(svc) == []


def rule(svc: ServiceHarness, **body: Any) -> dict[str, Any]:
    return call(svc, "POST", "/v1/scoring-rules", {"name": "r", "filter": "email is not null", "points": 100, **body},
                201).get_json()


def score(svc: ServiceHarness, contact_id: str) -> int:
    return call(svc, "GET", f"/v1/contacts/{contact_id}").get_json()["lead_score"]


def test_decaying_scores_move_without_an_edit(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    ada = call(svc, "POST", "/v1/contacts", {"email": "ada@example.com"}, 201).get_json()
    rule(svc, decay_days=10)
    run_jobs(svc)
    assert score(svc, ada["id"]) == 100
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:  # five days pass
        session.execute(update(Contact).values(created_at=utcnow() - dt.timedelta(days=5)))
    keeper = housekeeper(svc.settings, svc.db)
    assert keeper.run_once(utcnow() + dt.timedelta(days=1, minutes=1)) == 2  # file purge, and a rescoring queued
    run_jobs(svc)
    assert score(svc, ada["id"]) == 50
    # A tenant without decaying rules is not rescored (and drops out of the schedule).
    call(svc, "PATCH", f"/v1/scoring-rules/{svc.client.get('/v1/scoring-rules', headers=svc.headers('a')).get_json()['data'][0]['id']}",
         {"decay_days": None})
    run_jobs(svc)
    assert keeper.run_once(utcnow() + dt.timedelta(days=3)) == 2  # both due again: purge, and decay (dropped)
    assert run_jobs(svc) == 0
    with svc.db.engine.connect() as conn:
        assert conn.execute(select(schedule_table(svc.metadata)).where(
            schedule_table(svc.metadata).c.task == "rescore_decay")).all() == []


def test_periodic_rescoring_can_be_turned_off(tmp_path: Any) -> None:
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path,
                       CRM_SCORE_DECAY_RESCORE_HOURS="0")
    rule(svc, decay_days=10)
    run_jobs(svc)
    keeper = housekeeper(svc.settings, svc.db)
    assert keeper.decay_every is None
    keeper.run_once(utcnow() + dt.timedelta(days=2))
    assert run_jobs(svc) == 0


def test_a_rescoring_batch_that_meets_a_concurrent_edit_is_retried(contacts_service: ServiceHarness,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    svc = contacts_service
    ada = call(svc, "POST", "/v1/contacts", {"email": "ada@example.com"}, 201).get_json()
    real, calls = scoring.rescore, []

    def racing(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise StaleDataError("UPDATE statement on table 'contacts' expected to update 1 row(s); 0 were matched.")
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring, "rescore", racing)
    rule(svc)
    run_jobs(svc)
    assert score(svc, ada["id"]) == 100 and len(calls) == 2  # the batch, and the batch again
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        [job] = session.scalars(select(Job).where(Job.kind == "rescore")).all()
        assert job.status == "completed", job.error


def test_rescoring_survives_concurrent_edits_on_postgres(pg_contacts: ServiceHarness,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    svc = pg_contacts
    people = [call(svc, "POST", "/v1/contacts", {"email": f"p{i}@example.com"}, 201).get_json() for i in range(3)]
    held, edited = people[0]["id"], people[1]["id"]
    # An edit in progress holds people[0]'s row for the whole rescoring...
    holder = svc.db.engine.connect()
    tx = holder.begin()
    holder.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(svc.tenant("a"))})
    holder.execute(text("SELECT id FROM contacts WHERE id = :id FOR UPDATE"), {"id": held})
    # ... and another edit lands on people[1] while the batch is being scored.
    real, done = scoring._matches, threading.Event()

    def edit_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not done.is_set():
            done.set()
            worker = threading.Thread(target=lambda: call(svc, "PATCH", f"/v1/contacts/{edited}", {"first_name": "Edited"}))
            worker.start()
            worker.join(timeout=1)  # it waits for the batch's row lock (no lost update, no stale batch)
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring, "_matches", edit_meanwhile)
    try:
        rule(svc)
        run_jobs(svc)
    finally:
        tx.rollback()
        holder.close()
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        [job] = session.scalars(select(Job).where(Job.kind == "rescore")).all()
        assert job.status == "completed", job.error
    assert score(svc, people[2]["id"]) == 100 and score(svc, edited) == 100
    assert call(svc, "GET", f"/v1/contacts/{edited}").get_json()["first_name"] == "Edited"


def test_errors_csv_neutralises_formula_headers(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    job = imported(svc, "a", "email,=HYPERLINK(\"http://evil\"),@SUM(A1)\nnot-an-email,x,y\n",
                   mapping={"=HYPERLINK(\"http://evil\")": None, "@SUM(A1)": None})
    rows = error_rows(svc, "a", job)
    assert rows[0] == ["row", "reason", "email", "'=HYPERLINK(\"http://evil\")", "'@SUM(A1)"]
    assert rows[1][2] == "not-an-email"
