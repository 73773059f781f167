"""GDPR export and erasure of a contact: what the export holds, what erasure removes (and the
events it emits), idempotency, tenant isolation, and a run on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

import contacts
from contacts.__main__ import job_runner
from contacts.app import create_app
from contacts.models import Activity, ErasedContact, Job, JobError, Merge, metadata
from contacts.service.jobs import files_table
from contacts.service.privacy import chunks_mentioning, scrub_files
from crm_core.context import tenant_context
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database

PERSONAL = ("ada@example.com", "al@example.com", "Ada", "Lovelace", "Alfred", "+4930123456")


# --- helpers ---------------------------------------------------------------------------------------

def call(svc: ServiceHarness, method: str, path: str, tenant: str = "a", body: Any = None, status: int | None = 200,
         **headers: str) -> Any:
    resp = svc.client.open(path, method=method, json=body, headers={**svc.headers(tenant), **headers})
    if status is not None:
        assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    return resp


def post(svc: ServiceHarness, path: str, body: dict[str, Any], tenant: str = "a", **headers: str) -> dict[str, Any]:
    return call(svc, "POST", path, tenant, body, 201, **headers).get_json()


def run_jobs(svc: ServiceHarness) -> None:
    worker = job_runner(svc.settings, svc.db)
    while worker.run_once():
        pass


def upload(svc: ServiceHarness, text: str, tenant: str = "a", **form: str) -> dict[str, Any]:
    resp = svc.client.post("/v1/imports", data={"object": "contacts", **form, "file": (io.BytesIO(text.encode()), "p.csv")},
                           headers=svc.headers(tenant), content_type="multipart/form-data")
    assert resp.status_code == 202, resp.get_json()
    run_jobs(svc)
    return call(svc, "GET", resp.headers["Location"], tenant).get_json()


def export_csv(svc: ServiceHarness, tenant: str = "a") -> dict[str, Any]:
    resp = call(svc, "POST", "/v1/exports", tenant, {"object": "contacts"}, 202)
    run_jobs(svc)
    return call(svc, "GET", resp.headers["Location"], tenant).get_json()


def export_rows(svc: ServiceHarness, job: dict[str, Any], tenant: str = "a") -> list[dict[str, str]]:
    resp = call(svc, "GET", f"/v1/exports/{job['id']}/file", tenant)
    assert int(resp.headers["Content-Length"]) == len(resp.data)
    return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))


def outbox_events(svc: ServiceHarness, request_id: str | None = None) -> list[dict[str, Any]]:
    outbox = svc.metadata.tables["outbox"]
    with svc.db.engine.connect() as conn:
        payloads = conn.execute(select(outbox.c.payload).order_by(outbox.c.id)).scalars().all()
    found = [json.loads(p) for p in payloads]
    return [e for e in found if request_id is None or e.get("request_id") == request_id]


def count(svc: ServiceHarness, stmt: Any, tenant: str = "a") -> int:
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(stmt.subquery())))


def ada_body(acme: dict[str, Any], beta: dict[str, Any]) -> dict[str, Any]:
    return {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "+4930123456",
            "company_id": acme["id"], "company_ids": [acme["id"], beta["id"]],
            "properties": {"plan": "pro", "old_notes": "likes tea"}}


def person(svc: ServiceHarness, key: str | None = None) -> dict[str, Any]:
    """Ada, linked to two companies, with custom fields (one archived later), a timeline, and a
    duplicate (Alfred) merged into her, whose own activity moved over."""
    for key_name in ("plan", "old_notes"):
        post(svc, "/v1/properties/contacts", {"key": key_name, "label": key_name, "type": "text"})
    acme = post(svc, "/v1/companies", {"name": "Acme", "domain": "acme.com"})
    beta = post(svc, "/v1/companies", {"name": "Beta", "domain": "beta.com"})
    ada = post(svc, "/v1/contacts", ada_body(acme, beta), **({"Idempotency-Key": key} if key else {}))
    call(svc, "DELETE", "/v1/properties/contacts/old_notes", status=204)  # archived: hidden, kept
    al = post(svc, "/v1/contacts", {"first_name": "Alfred", "email": "al@example.com"})
    post(svc, f"/v1/contacts/{al['id']}/activities", {"type": "note", "body": "Alfred called about pricing"})
    post(svc, f"/v1/contacts/{ada['id']}/activities", {"type": "call", "direction": "outbound", "outcome": "connected"})
    post(svc, f"/v1/contacts/{ada['id']}/activities", {"type": "email", "direction": "inbound", "subject": "Hi",
                                                        "body": "Dear Ada"})
    call(svc, "POST", "/v1/contacts/merge", body={"primary_id": ada["id"], "secondary_id": al["id"]})
    return {"ada": ada, "al": al, "acme": acme, "beta": beta}


# --- export ----------------------------------------------------------------------------------------

def test_export_holds_everything_about_the_person(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    p = person(svc)
    ada_id, al_id = p["ada"]["id"], p["al"]["id"]
    bad = upload(svc, "email,first_name,lifecycle_stage\nADA@example.com,Ada,bogus\nz@example.com,Zed,lead\n",
                 on_duplicate="update")
    assert bad["failed"] == 1, bad
    resp = call(svc, "GET", f"/v1/contacts/{ada_id}/export")
    assert resp.headers["Content-Disposition"] == f'attachment; filename="contact-{ada_id}.json"'
    doc = resp.get_json()
    assert set(doc) == {"contact", "activities", "companies", "merges", "import_errors", "events_note", "exported_at"}
    contact = doc["contact"]
    assert (contact["id"], contact["email"], contact["merged_ids"]) == (ada_id, "ada@example.com", [al_id])
    assert contact["properties"] == {"plan": "pro"} and contact["archived_properties"] == {"old_notes": "likes tea"}
    assert sorted(a["type"] for a in doc["activities"]) == ["call", "email", "note"]
    assert {a["contact_id"] for a in doc["activities"]} == {ada_id}
    assert "Alfred called about pricing" in [a.get("body") for a in doc["activities"]]
    assert [c["name"] for c in doc["companies"]] == ["Acme", "Beta"]
    [merge] = doc["merges"]
    assert (merge["primary_id"], merge["secondary_id"], merge["undone_at"]) == (ada_id, al_id, None)
    assert merge["snapshot"]["secondary"]["email"] == "al@example.com"
    [error] = doc["import_errors"]
    assert error["row"]["email"] == "ADA@example.com" and error["row_number"] >= 1 and error["reason"]
    assert "crm.contact.erased" in doc["events_note"] and doc["exported_at"].endswith("Z")
    # An old (merged) id exports the survivor; a stranger's contact is not in it.
    assert call(svc, "GET", f"/v1/contacts/{al_id}/export").get_json()["contact"]["id"] == ada_id
    zed = [c for c in call(svc, "GET", "/v1/contacts?limit=200").get_json()["data"] if c["email"] == "z@example.com"]
    zed_doc = call(svc, "GET", f"/v1/contacts/{zed[0]['id']}/export").get_json()
    assert (zed_doc["activities"], zed_doc["companies"], zed_doc["merges"], zed_doc["import_errors"]) == ([], [], [], [])
    assert call(svc, "GET", f"/v1/contacts/{uuid.uuid4()}/export", status=404)
    assert call(svc, "GET", "/v1/contacts/not-an-id/export", status=404)
    denied = svc.client.get(f"/v1/contacts/{ada_id}/export", headers=svc.headers("a", scopes=("contacts:write",)))
    assert denied.status_code == 403


# --- erase -----------------------------------------------------------------------------------------

def test_erase_removes_the_person_everywhere_and_leaves_tombstones(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    p = person(svc, key="create-ada")
    ada_id, al_id = p["ada"]["id"], p["al"]["id"]
    bob = post(svc, "/v1/contacts", {"first_name": "Bob", "email": "bob@example.com", "company_id": p["acme"]["id"]})
    meeting = post(svc, f"/v1/contacts/{bob['id']}/activities", {
        "type": "meeting", "starts_at": "2026-01-05T10:00:00Z", "attendees": ["ada@example.com", "carol@example.com"]})
    job = upload(svc, "email,first_name,lifecycle_stage\nada@example.com,Ada,bogus\nbob@example.com,Bob,bogus\n"
                      "xada@example.com,Xena,bogus\n", on_duplicate="update")
    assert job["failed"] == 3
    export_job = export_csv(svc)
    assert {r["email"] for r in export_rows(svc, export_job)} == {"ada@example.com", "bob@example.com"}

    headers = {"Idempotency-Key": "erase-ada"}
    erase = svc.client.post(f"/v1/contacts/{ada_id}/erase", headers={**svc.headers("a", request_id="erase-req"), **headers})
    assert erase.status_code == 200, erase.get_json()
    body = erase.get_json()
    assert (body["id"], body["merged_ids"]) == (ada_id, [al_id]) and body["erased_at"].endswith("Z")

    # Every id of the person answers 410 on every route; the timeline and export too.
    for gone in (ada_id, al_id):
        call(svc, "GET", f"/v1/contacts/{gone}", status=410)
        call(svc, "PATCH", f"/v1/contacts/{gone}", body={"first_name": "X"}, status=410)
        call(svc, "DELETE", f"/v1/contacts/{gone}", status=410)
        call(svc, "GET", f"/v1/contacts/{gone}/export", status=410)
        call(svc, "GET", f"/v1/contacts/{gone}/activities", status=410)
    assert count(svc, select(ErasedContact)) == 2
    assert count(svc, select(Activity).where(Activity.contact_id.in_([uuid.UUID(ada_id), uuid.UUID(al_id)]))) == 0
    assert count(svc, select(Merge)) == 0
    # Bob stays; his meeting no longer names Ada; the failed import rows about him stay, hers go.
    call(svc, "GET", f"/v1/contacts/{bob['id']}")
    assert [a["email"] for a in call(svc, "GET", f"/v1/contacts/{bob['id']}/activities/{meeting['id']}")
            .get_json()["attendees"]] == ["carol@example.com"]
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        # Another address that merely contains hers is someone else's.
        assert sorted(e.row["email"] for e in session.scalars(select(JobError))) == ["bob@example.com", "xada@example.com"]
    errors_csv = call(svc, "GET", f"/v1/imports/{job['id']}/errors").get_data(as_text=True)
    assert ",ada@example.com," not in errors_csv and ",bob@example.com," in errors_csv
    # The finished import's upload went; the export keeps Bob only.
    assert count(svc, select(files_table()).where(files_table().c.part == "upload")) == 0
    assert [r["email"] for r in export_rows(svc, export_job)] == ["bob@example.com"]

    # The events of the erasure carry ids only.
    emitted = outbox_events(svc, "erase-req")
    [erased] = [e for e in emitted if e["type"] == "crm.contact.erased"]
    assert erased["subject"] == ada_id and set(erased["data"]) == {"id", "merged_ids", "erased_at"}
    assert erased["data"]["merged_ids"] == [al_id]
    deleted = [e for e in emitted if e["type"] == "crm.activity.deleted"]
    assert len(deleted) == 3 and all(set(e["data"]) == {"id", "contact_id", "company_id", "erased"} for e in deleted)
    updated = [e for e in emitted if e["type"] == "crm.activity.updated"]
    carol = {"email": "carol@example.com", "name": None, "status": "needs_action"}
    assert updated[0]["data"]["changes"]["attendees"] == [["(erased)", carol], [carol]]
    raw = json.dumps(emitted)
    assert not [s for s in PERSONAL if s in raw], [s for s in PERSONAL if s in raw]
    assert not {e["type"] for e in emitted} & {"crm.contact.deleted", "crm.contact.updated"}

    # Retries: the same key replays; without one the erasure answers the same; the old create is gone.
    again = svc.client.post(f"/v1/contacts/{ada_id}/erase", headers={**svc.headers("a"), **headers})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true" and again.get_json() == body
    assert call(svc, "POST", f"/v1/contacts/{ada_id}/erase").get_json()["erased_at"] == body["erased_at"]
    assert len([e for e in outbox_events(svc) if e["type"] == "crm.contact.erased"]) == 1
    replay = call(svc, "POST", "/v1/contacts", body=ada_body(p["acme"], p["beta"]), status=410,
                  **{"Idempotency-Key": "create-ada"})
    assert "Ada" not in replay.get_data(as_text=True)
    # The email is free again: a new person, a new id.
    again_ada = post(svc, "/v1/contacts", {"first_name": "Ada", "email": "ada@example.com"})
    assert again_ada["id"] not in (ada_id, al_id)


def test_erase_checks_if_match_and_unknown_ids(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    ada = post(svc, "/v1/contacts", {"first_name": "Ada", "email": "ada@example.com"})
    call(svc, "PATCH", f"/v1/contacts/{ada['id']}", body={"last_name": "L"})
    call(svc, "POST", f"/v1/contacts/{ada['id']}/erase", status=412, **{"If-Match": '"1"'})
    assert call(svc, "GET", f"/v1/contacts/{ada['id']}").get_json()["email"] == "ada@example.com"
    call(svc, "POST", f"/v1/contacts/{uuid.uuid4()}/erase", status=404)
    call(svc, "POST", "/v1/contacts/nope/erase", status=404)
    denied = svc.client.post(f"/v1/contacts/{ada['id']}/erase", headers=svc.headers("a", scopes=("contacts:read",)))
    assert denied.status_code == 403
    call(svc, "POST", f"/v1/contacts/{ada['id']}/erase", **{"If-Match": '"2"'})
    call(svc, "GET", f"/v1/contacts/{ada['id']}", status=410)


def test_another_tenant_can_neither_export_nor_erase(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    p = person(svc)
    ada_id, al_id = p["ada"]["id"], p["al"]["id"]
    before = call(svc, "GET", f"/v1/contacts/{ada_id}").get_json()
    gone = post(svc, "/v1/contacts", {"first_name": "Gone", "email": "gone@example.com"})
    call(svc, "POST", f"/v1/contacts/{gone['id']}/erase")
    for target in (ada_id, al_id, gone["id"]):
        # 404 for all of them, the erased one included: b must not learn that an id was a's.
        call(svc, "GET", f"/v1/contacts/{target}/export", tenant="b", status=404)
        call(svc, "POST", f"/v1/contacts/{target}/erase", tenant="b", status=404)
        call(svc, "POST", f"/v1/contacts/{target}/erase", tenant="b", status=404, **{"Idempotency-Key": f"b-{target}"})
    assert call(svc, "GET", f"/v1/contacts/{ada_id}").get_json() == before
    assert count(svc, select(Activity)) == 3 and count(svc, select(Merge)) == 1
    assert count(svc, select(ErasedContact), tenant="b") == 0
    # b's own contact with the same email is a different person: erasing it leaves a's alone.
    mine = post(svc, "/v1/contacts", {"first_name": "Ada", "email": "ada@example.com"}, tenant="b")
    call(svc, "POST", f"/v1/contacts/{mine['id']}/erase", tenant="b")
    assert call(svc, "GET", f"/v1/contacts/{ada_id}").get_json() == before
    assert count(svc, select(Activity)) == 3


def test_an_email_cut_by_a_chunk_boundary_is_still_found(contacts_service: ServiceHarness) -> None:
    scrubbing_files(contacts_service)


def scrubbing_files(svc: ServiceHarness) -> None:
    """Uploads are stored in 1 MiB chunks cut anywhere: an address split across two chunks, in
    another case than the contact's, still marks the upload; an unfinished import that holds the
    person is stopped and its file deleted too (it would bring the person back)."""
    table = files_table()
    tenant = svc.tenant("a")
    with tenant_context(tenant), svc.db.transaction() as session:
        jobs = {name: Job(kind="import", object="contacts", status=status)
                for name, status in (("cut", "completed"), ("whole", "failed"), ("other", "completed"),
                                     ("running", "running"))}
        session.add_all(jobs.values())
        session.flush()
        chunks = {"cut": [b"email\r\nbob@x.com\r\n\xc3\xa9ADA@EXam", b"ple.com\r\n"], "whole": [b"email\r\nada@example.com\r\n"],
                  "other": [b"email\r\nbob@x.com", b"\r\nzed@x.com\r\n"], "running": [b"email\r\nada@example.com\r\n"]}
        for name, parts in chunks.items():
            for seq, data in enumerate(parts):
                session.execute(insert(table).values(tenant_id=tenant, job_id=jobs[name].id, part="upload", seq=seq,
                                                     data=data))
        needles = [b"ada@example.com"]
        found = chunks_mentioning(session, "import", "upload", needles, straddling=True)
        assert found == {(jobs["cut"].id, 0), (jobs["whole"].id, 0)}
        assert chunks_mentioning(session, "import", "upload", needles, straddling=False) == {(jobs["whole"].id, 0)}
        # An address with a non-ASCII character is found in PostgreSQL's escaped form too.
        assert chunks_mentioning(session, "import", "upload", ["éada@exam".encode()], straddling=False) == \
            {(jobs["cut"].id, 0)}
        scrub_files(session, job_runner(svc.settings, svc.db).outbox, [uuid.uuid4()], ["ada@example.com"],
                    [b"ada@example.com"])
        left = {r.job_id for r in session.execute(select(table.c.job_id).where(table.c.tenant_id == tenant,
                                                                                table.c.part == "upload"))}
        assert left == {jobs["other"].id}
        session.refresh(jobs["running"])
        assert jobs["running"].status == "failed" and "erased" in (jobs["running"].error or "")
    with tenant_context(svc.tenant("b")), svc.db.transaction() as session:
        assert chunks_mentioning(session, "import", "upload", [b"bob@x.com"], straddling=True) == set()


# --- PostgreSQL ------------------------------------------------------------------------------------

def test_export_and_erase_on_postgres(pg_admin_url: str, tmp_path: Path) -> None:
    owner_url, app_url = create_service_database(pg_admin_url, f"privacy_{uuid.uuid4().hex[:8]}")
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path,
                       database_url=app_url, owner_url=owner_url)
    p = person(svc, key="create-ada")
    ada_id, al_id = p["ada"]["id"], p["al"]["id"]
    bob = post(svc, "/v1/contacts", {"first_name": "Bob", "email": "bob@example.com"})
    meeting = post(svc, f"/v1/contacts/{bob['id']}/activities", {
        "type": "meeting", "starts_at": "2026-01-05T10:00:00Z", "attendees": ["ada@example.com", "carol@example.com"]})
    assert upload(svc, "email,lifecycle_stage\nAda@Example.com,bogus\n", on_duplicate="update")["failed"] == 1
    export_job = export_csv(svc)
    doc = call(svc, "GET", f"/v1/contacts/{al_id}/export").get_json()
    assert doc["contact"]["archived_properties"] == {"old_notes": "likes tea"} and len(doc["activities"]) == 3
    assert len(doc["merges"]) == 1 and len(doc["import_errors"]) == 1 and len(doc["companies"]) == 2
    call(svc, "GET", f"/v1/contacts/{ada_id}/export", tenant="b", status=404)
    call(svc, "POST", f"/v1/contacts/{ada_id}/erase", tenant="b", status=404)
    # An old id does not erase the survivor: the caller must name the record it means.
    assert call(svc, "POST", f"/v1/contacts/{al_id}/erase", status=409).get_json()["merged_into"] == ada_id
    body = call(svc, "POST", f"/v1/contacts/{ada_id}/erase").get_json()
    assert (body["id"], body["merged_ids"]) == (ada_id, [al_id])
    for gone in (ada_id, al_id):
        call(svc, "GET", f"/v1/contacts/{gone}", status=410)
    call(svc, "GET", f"/v1/contacts/{ada_id}", tenant="b", status=404)
    assert count(svc, select(Merge)) == 0 and count(svc, select(JobError)) == 0 and count(svc, select(Activity)) == 1
    assert [a["email"] for a in call(svc, "GET", f"/v1/contacts/{bob['id']}/activities/{meeting['id']}")
            .get_json()["attendees"]] == ["carol@example.com"]
    assert [r["email"] for r in export_rows(svc, export_job)] == ["bob@example.com"]
    assert count(svc, select(files_table()).where(files_table().c.part == "upload")) == 0
    call(svc, "POST", "/v1/contacts", body=ada_body(p["acme"], p["beta"]), status=410, **{"Idempotency-Key": "create-ada"})
    post(svc, "/v1/contacts", {"first_name": "Ada", "email": "ada@example.com"})
    raw = json.dumps([e for e in outbox_events(svc) if e["type"] == "crm.contact.erased"])
    assert "ada@example.com" not in raw and "Lovelace" not in raw
    scrubbing_files(svc)


def test_routes_are_documented(contacts_service: ServiceHarness) -> None:
    paths = contacts_service.client.get("/openapi.json").get_json()["paths"]
    assert "get" in paths["/v1/contacts/{record_id}/export"]
    assert "post" in paths["/v1/contacts/{record_id}/erase"]
