"""Erasure reaches jobs still running and uploads that name the person by phone or name."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from sqlalchemy import select
from test_privacy import call, export_rows, post, run_jobs, upload

import contacts.service.imports as imports
from contacts.__main__ import job_runner
from contacts.models import Contact, Job
from contacts.service.jobs import files_table
from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness


def uploads_left(svc: ServiceHarness) -> set[str]:
    files = files_table()
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        return {str(r.job_id) for r in session.execute(select(files.c.job_id).where(
            files.c.tenant_id == svc.tenant("a"), files.c.part == "upload"))}


def test_uploads_matched_by_phone_or_full_name_are_deleted(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    ada = post(svc, "/v1/contacts", {"first_name": "Ada", "last_name": "Lovelace", "phone": "+442071234567"})
    by_phone = upload(svc, "phone\n+442071234567\n", on_duplicate="skip")
    by_name = upload(svc, "first_name,last_name\nAda,Lovelace\n", on_duplicate="skip")
    first_only = upload(svc, "first_name\nAda\n", on_duplicate="skip")  # another Ada: a first name is not enough
    assert uploads_left(svc) == {by_phone["id"], by_name["id"], first_only["id"]}
    call(svc, "POST", f"/v1/contacts/{ada['id']}/erase")
    assert uploads_left(svc) == {first_only["id"]}


def test_an_import_running_during_an_erase_does_not_bring_the_person_back(
        contacts_service: ServiceHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = contacts_service
    ada = post(svc, "/v1/contacts", {"first_name": "Ada", "email": "ada@example.com"})
    monkeypatch.setattr(imports, "BATCH_ROWS", 1)
    first_written, go_on = threading.Event(), threading.Event()
    real_write = imports.Importer.write

    def write(self: imports.Importer, checked: list[Any]) -> None:
        real_write(self, checked)
        if not first_written.is_set():
            first_written.set()
            go_on.wait(20)  # the erasure happens between this file's first and second batch

    monkeypatch.setattr(imports.Importer, "write", write)
    resp = svc.client.post("/v1/imports", data={"object": "contacts", "on_duplicate": "update", "file": (
        io.BytesIO(b"email,first_name\nbob@example.com,Bob\nada@example.com,Ada\n"), "p.csv")},
        headers=svc.headers("a"), content_type="multipart/form-data")
    assert resp.status_code == 202
    worker = threading.Thread(target=job_runner(svc.settings, svc.db).run_once, daemon=True)
    worker.start()
    try:
        assert first_written.wait(20)
        call(svc, "POST", f"/v1/contacts/{ada['id']}/erase")
    finally:
        go_on.set()
        worker.join(timeout=20)
    assert not worker.is_alive()
    job = call(svc, "GET", resp.headers["Location"]).get_json()
    assert job["status"] == "failed" and "erased" in job["error"]
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        emails = set(session.scalars(select(Contact.email)))
    assert emails == {"bob@example.com"}  # the batch with ada's row committed nothing
    assert uploads_left(svc) == set()


def test_an_export_waiting_or_running_during_an_erase_writes_its_file_again(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    ada = post(svc, "/v1/contacts", {"first_name": "Ada", "email": "ada@example.com"})
    post(svc, "/v1/contacts", {"first_name": "Bob", "email": "bob@example.com"})
    resp = call(svc, "POST", "/v1/exports", body={"object": "contacts"}, status=202)
    call(svc, "POST", f"/v1/contacts/{ada['id']}/erase")
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        [job] = session.scalars(select(Job).where(Job.kind == "export")).all()
        assert job.params.get("restart_requested") is True  # told to (re)write the file from the top
    run_jobs(svc)
    job = call(svc, "GET", resp.headers["Location"]).get_json()
    assert job["status"] == "completed"
    assert [r["email"] for r in export_rows(svc, job)] == ["bob@example.com"]
