"""CSV imports: the upload, the worker, duplicates, bad rows and their errors CSV, dry runs,
mappings, a takeover after a crash, and tenant isolation (a 10,000-row import on PostgreSQL)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, select

import contacts
from contacts.__main__ import job_runner
from contacts.app import create_app
from contacts.models import metadata
from contacts.service import imports
from contacts.service.jobs import JobRunner
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database, libpq_url

# --- helpers (test_exports.py uses them too) -------------------------------------------------------


def upload(svc: ServiceHarness, tenant: str, text: str | bytes, *, object_: str = "contacts", filename: str = "people.csv",
           headers: dict[str, str] | None = None, **form: Any) -> Any:
    data = text.encode("utf-8") if isinstance(text, str) else text
    fields = {k: (json.dumps(v) if k == "mapping" else str(v).lower() if isinstance(v, bool) else v) for k, v in form.items()}
    return svc.client.post("/v1/imports", data={"object": object_, **fields, "file": (io.BytesIO(data), filename)},
                           headers={**svc.headers(tenant), **(headers or {})}, content_type="multipart/form-data")


def runner(svc: ServiceHarness, **overrides: Any) -> JobRunner:
    made = job_runner(svc.settings, svc.db)
    for key, value in overrides.items():
        setattr(made, key, value)
    return made


def run_jobs(svc: ServiceHarness, **overrides: Any) -> int:
    """Run queued jobs to the end, as the worker does; how many ran."""
    ran, work = 0, runner(svc, **overrides)
    while work.run_once():
        ran += 1
    return ran


def get(svc: ServiceHarness, tenant: str, path: str) -> dict[str, Any]:
    resp = svc.client.get(path, headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def imported(svc: ServiceHarness, tenant: str, text: str | bytes, **form: Any) -> dict[str, Any]:
    """Upload, run the worker, return the finished job."""
    resp = upload(svc, tenant, text, **form)
    assert resp.status_code == 202, resp.get_json()
    run_jobs(svc)
    return get(svc, tenant, resp.headers["Location"])


def error_rows(svc: ServiceHarness, tenant: str, job: dict[str, Any]) -> list[list[str]]:
    resp = svc.client.get(f"/v1/imports/{job['id']}/errors", headers=svc.headers(tenant))
    assert resp.status_code == 200 and resp.mimetype == "text/csv", resp.data
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True))))


def events(svc: ServiceHarness, event_type: str, request_id: str | None = None) -> list[dict[str, Any]]:
    outbox = svc.metadata.tables["outbox"]
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.event_type == event_type).order_by(outbox.c.id)).all()
    found = [json.loads(r.payload) for r in rows]
    return [e for e in found if request_id is None or e.get("request_id") == request_id]


def listed(svc: ServiceHarness, tenant: str, collection: str = "contacts") -> list[dict[str, Any]]:
    out, cursor = [], ""
    while True:
        page = get(svc, tenant, f"/v1/{collection}?limit=200&sort=created_at" + (f"&cursor={cursor}" if cursor else ""))
        out += page["data"]
        if not page["next_cursor"]:
            return out
        cursor = page["next_cursor"]


def define(svc: ServiceHarness, tenant: str, object_: str = "contacts", **body: Any) -> None:
    resp = svc.client.post(f"/v1/properties/{object_}", json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()


# --- on the embedded database ----------------------------------------------------------------------


def test_upload_is_queued_then_the_worker_imports_it(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    resp = upload(svc, "a", "email,first_name\nada@example.com,Ada\n")
    assert resp.status_code == 202 and resp.headers["Location"] == f"/v1/imports/{resp.get_json()['id']}"
    queued = resp.get_json()
    assert (queued["status"], queued["rows_total"], queued["filename"], queued["on_duplicate"], queued["dry_run"]) == \
        ("queued", None, "people.csv", "skip", False)
    assert run_jobs(svc) == 1 and run_jobs(svc) == 0
    job = get(svc, "a", resp.headers["Location"])
    assert {k: job[k] for k in ("status", "rows_total", "rows_processed", "created", "updated", "skipped", "failed")} == \
        {"status": "completed", "rows_total": 1, "rows_processed": 1, "created": 1, "updated": 0, "skipped": 0, "failed": 0}
    assert job["started_at"] and job["finished_at"] and job["error"] is None
    assert [e["data"]["status"] for e in events(svc, "crm.import.created")] == ["queued"]
    assert [e["data"]["created"] for e in events(svc, "crm.import.completed")] == [1]
    page = get(svc, "a", "/v1/imports")
    assert [j["id"] for j in page["data"]] == [job["id"]] and page["next_cursor"] is None


def test_event_bodies_match_the_record_as_the_api_shows_it(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    define(svc, "a", key="plan", label="Plan", type="enum", options=["free", "pro"])
    acme = svc.client.post("/v1/companies", json={"name": "Acme"}, headers=svc.headers("a")).get_json()
    job = imported(svc, "a", "email,phone,tags,address.city,address.country,plan,company_id\n"
                   f"ada@example.com,+49 30 1234567,a; b,Berlin,de,pro,{acme['id']}\n")
    assert job["created"] == 1, error_rows(svc, "a", job)
    record = listed(svc, "a")[0]
    event = events(svc, "crm.contact.created", f"job-{job['id']}")[0]
    assert event["data"] == record and event["subject"] == record["id"]
    assert record["phone"] == "+49301234567" and record["tags"] == ["a", "b"] and record["properties"] == {"plan": "pro"}
    assert record["address"] == {"city": "Berlin", "country": "DE"} and record["company_name"] == "Acme"
    assert record["company_ids"] == [acme["id"]]


def test_headers_map_themselves_and_a_mapping_overrides(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    define(svc, "a", key="seats", label="Seats", type="number")
    define(svc, "a", key="vip", label="VIP", type="bool")
    text = "\ufeffE-Mail;First Name;LAST NAME;Seats;vip;Notes;Owner\nada@example.com;Ada;Lovelace;12;yes;likes tea;x\n"
    job = imported(svc, "a", text, mapping={"E-Mail": "email", "Owner": None, "Notes": ""})
    assert job["created"] == 1 and job["failed"] == 0, error_rows(svc, "a", job)
    assert job["mapping"] == {"E-Mail": "email", "First Name": "first_name", "LAST NAME": "last_name", "Seats": "seats",
                              "vip": "vip"}
    assert job["ignored_columns"] == ["Notes", "Owner"]
    ada = listed(svc, "a")[0]
    assert (ada["email"], ada["first_name"], ada["last_name"], ada["properties"]) == \
        ("ada@example.com", "Ada", "Lovelace", {"seats": 12, "vip": True})
    # Tab-separated, custom fields addressed as properties.<key> in a mapping.
    tabbed = imported(svc, "a", "mail\tn\nbob@example.com\t3\n", mapping={"mail": "email", "n": "properties.seats"})
    assert tabbed["created"] == 1 and listed(svc, "a")[1]["properties"] == {"seats": 3}


def test_a_mapping_to_an_unknown_field_is_422_naming_the_column(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    resp = upload(svc, "a", "x\n1\n", mapping={"x": "shoe_size", "y": "email"})
    assert resp.status_code == 422 and resp.get_json()["errors"] == {"mapping.x": ["Unknown contact field 'shoe_size'."]}
    for bad in ("not json", "[1, 2]", '{"a": 3}'):
        resp = svc.client.post("/v1/imports", data={"object": "contacts", "mapping": bad, "file": (io.BytesIO(b"a\n"), "f.csv")},
                               headers=svc.headers("a"), content_type="multipart/form-data")
        assert resp.status_code == 422 and "mapping" in resp.get_json()["errors"], bad
    for form, field in (({"object": "deals"}, "object"), ({"on_duplicate": "merge"}, "on_duplicate"),
                        ({"dry_run": "perhaps"}, "dry_run"), ({"colour": "red"}, "colour")):
        resp = svc.client.post("/v1/imports", data={"object": "contacts", **form, "file": (io.BytesIO(b"email\n"), "f.csv")},
                               headers=svc.headers("a"), content_type="multipart/form-data")
        assert resp.status_code == 422 and field in resp.get_json()["errors"], form
    no_file = svc.client.post("/v1/imports", data={"object": "contacts"}, headers=svc.headers("a"),
                              content_type="multipart/form-data")
    assert no_file.status_code == 422 and "file" in no_file.get_json()["errors"]
    empty = upload(svc, "a", b"")
    assert empty.status_code == 422 and "file" in empty.get_json()["errors"]
    assert svc.client.post("/v1/imports", data={"object": "contacts", "file": (io.BytesIO(b"email\n"), "f.csv")},
                           headers=svc.headers("a", scopes=["contacts:read"]), content_type="multipart/form-data").status_code == 403
    assert run_jobs(svc) == 0  # nothing was queued


@pytest.mark.parametrize(("content", "message"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not UTF-8"),
    (b"email,name\nada@example.com,A\x00da\n", "not readable as CSV"),
    (b"\n\n", "empty"),
    (b"first,second\n1,2\n", "No column matches a contact field"),
    (b"email,email\na@b.c,d@e.f\n", "names the column 'email' twice"),
    (b"email,E-Mail\na@b.c,d@e.f\n", "both map to 'email'"),
])
def test_a_file_that_is_not_a_csv_of_contacts_fails_the_job(contacts_service: ServiceHarness, content: bytes,
                                                            message: str) -> None:
    svc = contacts_service
    job = imported(svc, "a", content, mapping={"E-Mail": "email"} if b"E-Mail" in content else {})
    assert job["status"] == "failed" and message in job["error"], job
    assert listed(svc, "a") == [] and events(svc, "crm.import.failed")[0]["subject"] == job["id"]


def test_on_duplicate_skip_update_create(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    existing = svc.client.post("/v1/contacts", json={"email": "ada@example.com", "first_name": "Ada", "source": "web"},
                               headers=svc.headers("a")).get_json()
    text = ("email,first_name,last_name,source\n"
            "ADA@example.com,,Lovelace,\n"  # the existing one; empty cells change nothing
            "new@example.com,New,,fair\n"
            "new@example.com,Again,,\n"  # an earlier row of this file
            ",No,Email,\n")  # without email: always created
    skip = imported(svc, "a", text)
    assert (skip["created"], skip["updated"], skip["skipped"], skip["failed"]) == (2, 0, 2, 0)
    update = imported(svc, "a", text, on_duplicate="update")
    assert (update["created"], update["updated"], update["skipped"], update["failed"]) == (1, 3, 0, 0)
    ada = get(svc, "a", f"/v1/contacts/{existing['id']}")
    assert (ada["first_name"], ada["last_name"], ada["source"]) == ("Ada", "Lovelace", "web")
    new = [c for c in listed(svc, "a") if c["email"] == "new@example.com"]
    assert len(new) == 1 and (new[0]["first_name"], new[0]["source"]) == ("Again", "fair")
    changed = [e for e in events(svc, "crm.contact.updated") if e["subject"] == existing["id"]]
    assert [e["data"]["changes"] for e in changed] == [{"last_name": [None, "Lovelace"]}]
    create = imported(svc, "a", text, on_duplicate="create")
    assert (create["created"], create["updated"], create["skipped"], create["failed"]) == (1, 0, 0, 3)
    reasons = {int(r[0]): r[1] for r in error_rows(svc, "a", create)[1:]}
    assert set(reasons) == {2, 3, 4}
    assert f"id {existing['id']}" in reasons[2] and "an earlier row of this file" not in reasons[2]
    assert reasons[2].startswith("email: ")
    assert len(listed(svc, "a")) == 5  # ada, new, and three without email


def test_update_of_a_duplicate_within_the_same_batch_sees_the_earlier_row(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    job = imported(svc, "a", "email,first_name,tags\nx@example.com,X,a\nother@example.com,O,\nx@example.com,,b\n",
                   on_duplicate="update")
    assert (job["created"], job["updated"]) == (2, 1)
    x = [c for c in listed(svc, "a") if c["email"] == "x@example.com"]
    assert len(x) == 1 and x[0]["first_name"] == "X" and x[0]["tags"] == ["b"] and x[0]["version"] == 2


def test_dry_run_counts_and_reports_but_writes_nothing(contacts_service: ServiceHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = contacts_service
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)  # duplicates across batches too
    svc.client.post("/v1/contacts", json={"email": "old@example.com"}, headers=svc.headers("a"))
    before = len(events(svc, "crm.contact.created"))
    text = "email,phone\nold@example.com,\na@example.com,\nbad,\nb@example.com,nope\na@example.com,\nc@example.com,\n"
    job = imported(svc, "a", text, dry_run=True)
    assert job["status"] == "completed" and job["dry_run"] is True
    assert (job["rows_total"], job["created"], job["updated"], job["skipped"], job["failed"]) == (6, 2, 0, 2, 2)
    assert [r[0] for r in error_rows(svc, "a", job)[1:]] == ["4", "5"]
    assert [c["email"] for c in listed(svc, "a")] == ["old@example.com"]
    assert len(events(svc, "crm.contact.created")) == before
    updating = imported(svc, "a", text, dry_run=True, on_duplicate="update")
    assert (updating["created"], updating["updated"], updating["skipped"]) == (2, 2, 0)
    assert get(svc, "a", f"/v1/contacts/{listed(svc, 'a')[0]['id']}")["version"] == 1


def test_companies_dedupe_by_normalised_domain(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    svc.client.post("/v1/companies", json={"name": "Acme", "domain": "acme.com"}, headers=svc.headers("a"))
    text = "name,domain,size,industry\nAcme Corp,https://www.ACME.com/,500,\nGlobex,globex.com,abc,\nInitech,initech.com,20,IT\n" \
           "Bad,not a domain,,\nInitech 2,INITECH.com,,\n"
    job = imported(svc, "a", text, object_="companies", on_duplicate="update")
    assert (job["created"], job["updated"], job["failed"]) == (1, 2, 2), error_rows(svc, "a", job)
    reasons = {r[0]: r[1] for r in error_rows(svc, "a", job)[1:]}
    assert reasons["3"].startswith("size: ") and reasons["5"].startswith("domain: ")
    names = {c["domain"]: c["name"] for c in listed(svc, "a", "companies")}
    assert names == {"acme.com": "Acme Corp", "initech.com": "Initech 2"}


def test_imported_contacts_are_scored_like_created_ones(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    rule = svc.client.post("/v1/scoring-rules", json={"name": "Leads", "filter": "lifecycle_stage = 'lead'", "points": 15},
                           headers=svc.headers("a"))
    assert rule.status_code == 201, rule.get_json()
    run_jobs(svc)  # the rescore the rule queued (nothing to score yet)
    job = imported(svc, "a", "email,lifecycle_stage\nlead@example.com,lead\ncustomer@example.com,customer\n")
    assert job["created"] == 2
    scores = {c["email"]: c["lead_score"] for c in listed(svc, "a")}
    assert scores == {"lead@example.com": 15, "customer@example.com": 0}
    scored = [e for e in events(svc, "crm.contact.updated", f"job-{job['id']}")]
    assert [e["data"]["changes"] for e in scored] == [{"lead_score": [0, 15]}]


def test_a_worker_that_died_is_taken_over_without_double_creating(contacts_service: ServiceHarness,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    svc = contacts_service
    monkeypatch.setattr(imports, "BATCH_ROWS", 3)
    rows = "".join(f"p{i}@example.com,P{i}\n" for i in range(10))
    resp = upload(svc, "a", "email,first_name\n" + rows)
    real_write, writes = imports.Importer.write, []

    def dying_write(self: imports.Importer, checked: list[Any]) -> None:
        if len(writes) == 2:
            raise KeyboardInterrupt  # the process is killed mid-import: nothing gets to record anything
        writes.append(len(checked))
        real_write(self, checked)

    monkeypatch.setattr(imports.Importer, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        runner(svc).run_once()
    half = get(svc, "a", resp.headers["Location"])
    assert (half["status"], half["rows_processed"], half["created"]) == ("running", 6, 6)
    assert run_jobs(svc) == 0  # leased: nobody takes it over while the lease runs
    monkeypatch.setattr(imports.Importer, "write", real_write)
    queue = svc.metadata.tables["job_queue"]
    with svc.db.engine.begin() as conn:  # the lease runs out
        conn.execute(queue.update().values(available_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert run_jobs(svc) == 1
    done = get(svc, "a", resp.headers["Location"])
    assert (done["status"], done["rows_processed"], done["created"]) == ("completed", 10, 10)
    assert sorted(c["email"] for c in listed(svc, "a")) == sorted(f"p{i}@example.com" for i in range(10))
    assert len(events(svc, "crm.contact.created")) == 10


def test_a_worker_that_lost_its_lease_commits_nothing_more(contacts_service: ServiceHarness,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    svc = contacts_service
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    resp = upload(svc, "a", "email\n" + "".join(f"p{i}@example.com\n" for i in range(5)))
    queue = svc.metadata.tables["job_queue"]
    real_write, writes = imports.Importer.write, []

    def slow_write(self: imports.Importer, checked: list[Any]) -> None:
        if len(writes) == 1:  # meanwhile another worker decided this one was dead and took the job
            with svc.db.engine.begin() as conn:
                conn.execute(queue.update().values(attempts=queue.c.attempts + 1))
        writes.append(len(checked))
        real_write(self, checked)

    monkeypatch.setattr(imports.Importer, "write", slow_write)
    assert runner(svc).run_once()
    half = get(svc, "a", resp.headers["Location"])
    assert (half["status"], half["rows_processed"], half["created"]) == ("running", 2, 2)
    monkeypatch.setattr(imports.Importer, "write", real_write)
    with svc.db.engine.begin() as conn:
        conn.execute(queue.update().values(available_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert run_jobs(svc) == 1
    done = get(svc, "a", resp.headers["Location"])
    assert (done["status"], done["created"]) == ("completed", 5) and len(listed(svc, "a")) == 5


def test_a_job_whose_workers_keep_dying_fails_instead_of_looping(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    resp = upload(svc, "a", "email\na@example.com\n")
    queue = svc.metadata.tables["job_queue"]
    with svc.db.engine.begin() as conn:
        conn.execute(queue.update().values(attempts=3))  # three workers took it and died
    assert run_jobs(svc) == 1
    job = get(svc, "a", resp.headers["Location"])
    assert job["status"] == "failed" and "Gave up after 3 attempts" in job["error"] and job["created"] == 0
    assert run_jobs(svc) == 0


def test_a_crashing_handler_fails_the_job_with_an_error(contacts_service: ServiceHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = contacts_service
    resp = upload(svc, "a", "email\na@example.com\n")

    def broken(self: imports.Importer, batch: list[Any]) -> list[Any]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(imports.Importer, "check", broken)
    assert run_jobs(svc) == 1
    job = get(svc, "a", resp.headers["Location"])
    assert job["status"] == "failed" and "RuntimeError" in job["error"] and "disk" not in job["error"]


def test_tenant_b_sees_nothing_of_tenant_a_imports(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    b_contact = svc.client.post("/v1/contacts", json={"email": "shared@example.com", "first_name": "B"},
                                headers=svc.headers("b")).get_json()
    job = imported(svc, "a", "email,first_name\nshared@example.com,A\nbad,X\n")
    assert (job["created"], job["failed"]) == (1, 1)
    for path in (f"/v1/imports/{job['id']}", f"/v1/imports/{job['id']}/errors"):
        resp = svc.client.get(path, headers=svc.headers("b"))
        assert resp.status_code == 404 and resp.content_type == "application/problem+json", path
    assert svc.client.get(f"/v1/exports/{job['id']}", headers=svc.headers("a")).status_code == 404  # not an export
    assert get(svc, "b", "/v1/imports")["data"] == []
    assert listed(svc, "b") == [b_contact]  # the worker wrote into a's tenant only
    assert [c["first_name"] for c in listed(svc, "a")] == ["A"]


def test_idempotency_key_on_upload_replays_without_a_second_job(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    key = {"Idempotency-Key": "upload-1"}
    first = upload(svc, "a", "email\na@example.com\n", headers=key)
    again = upload(svc, "a", "email\na@example.com\n", headers=key)
    assert first.status_code == again.status_code == 202 and again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    other = upload(svc, "a", "email\nb@example.com\n", headers=key)
    assert other.status_code == 422
    assert len(get(svc, "a", "/v1/imports")["data"]) == 1


def test_uploads_above_the_import_limit_are_413_and_other_routes_keep_1_mib(tmp_path: Path) -> None:
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path,
                       CRM_IMPORT_MAX_BYTES="3000000")
    big = "email\n" + "".join(f"person{i}@example.com\n" for i in range(80_000))  # ~2 MiB: over 1 MiB, under 3 MB
    assert upload(svc, "a", big).status_code == 202
    too_big = upload(svc, "a", big + big)
    assert too_big.status_code == 413 and "3000000" in too_big.get_json()["detail"]
    json_body = svc.client.post("/v1/contacts", data=json.dumps({"first_name": "x" * 1_100_000}),
                                headers={**svc.headers("a"), "Content-Type": "application/json"})
    assert json_body.status_code == 413


# --- on PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_contacts(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceHarness]:
    name = f"contacts_imp_{uuid.uuid4().hex[:8]}"
    owner_url, app_url = create_service_database(pg_admin_url, name)
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path_factory.mktemp("imp"),
                       database_url=app_url, owner_url=owner_url)
    yield svc
    svc.db.dispose()
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _classify(i: int) -> tuple[str, str]:
    """Row i of the big file: (kind, the reason's field) - bad rows never collide with duplicates."""
    for modulus, rest, field in ((97, 3, "email"), (89, 5, "phone"), (83, 11, "lifecycle_stage"), (79, 13, "properties.plan")):
        if i % modulus == rest:
            return "bad", field
    if i % 50 == 7:
        return "existing", ""
    if i % 50 == 9 and i >= 100:
        return "in_file", ""
    return "new", ""


@pytest.mark.integration
def test_ten_thousand_rows_with_duplicates_and_bad_rows_on_postgresql(pg_contacts: ServiceHarness,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    svc = pg_contacts
    monkeypatch.setattr(imports, "PARALLEL_MIN_ROWS", 5_000)  # checked in a second process, as big files are
    a, b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    define(svc, a, key="plan", label="Plan", type="enum", options=["free", "pro", "team"])
    define(svc, a, key="seats", label="Seats", type="number")
    b_before = svc.client.post("/v1/contacts", json={"email": "person1@example.com"}, headers=svc.headers(b)).get_json()
    pre = svc.client.post("/v1/contacts/batch", json={"mode": "create", "items": [{"email": f"pre{i}@x.com"} for i in range(100)]},
                          headers=svc.headers(a))
    assert {r["status"] for r in pre.get_json()["results"]} == {201}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["First Name", "Last Name", "Email", "Phone", "Lifecycle Stage", "plan", "Seats", "Tags", "Notes"])
    expected_bad: dict[int, str] = {}
    counts = {"new": 0, "existing": 0, "in_file": 0, "bad": 0}
    kinds = [_classify(i) for i in range(10_000)]
    for i, (kind, field) in enumerate(kinds):
        counts[kind] += 1
        email = f"person{i}@example.com"
        if kind == "existing":
            email = f"PRE{i % 100}@x.com"
        elif kind == "in_file":  # the nearest earlier row that gets created
            email = f"person{max(j for j in range(i) if kinds[j][0] == 'new')}@example.com"
        row = [f"First{i}", f"Last{i}", email, f"+49 30 {1000000 + i}", ["lead", "customer", "subscriber"][i % 3],
               ["free", "pro", "team"][i % 3], str(i % 40), "imported;batch", "ignored"]
        if kind == "bad":
            expected_bad[i + 2] = field
            row[{"email": 2, "phone": 3, "lifecycle_stage": 4, "properties.plan": 5}[field]] = \
                {"email": "not-an-email", "phone": "call me", "lifecycle_stage": "martian", "properties.plan": "enterprise"}[field]
        writer.writerow(row)
    resp = upload(svc, a, out.getvalue())
    assert resp.status_code == 202, resp.get_json()
    assert run_jobs(svc) == 1
    job = get(svc, a, resp.headers["Location"])
    assert job["status"] == "completed", job
    assert (job["rows_total"], job["rows_processed"]) == (10_000, 10_000)
    assert (job["created"], job["skipped"], job["failed"], job["updated"]) == \
        (counts["new"], counts["existing"] + counts["in_file"], counts["bad"], 0)
    assert job["ignored_columns"] == ["Notes"]
    errors = error_rows(svc, a, job)
    assert errors[0] == ["row", "reason", "First Name", "Last Name", "Email", "Phone", "Lifecycle Stage", "plan", "Seats",
                         "Tags", "Notes"]
    assert {int(r[0]): r[1].split(":")[0] for r in errors[1:]} == expected_bad
    sample = next(r for r in errors[1:] if r[1].startswith("properties.plan"))
    assert sample[7] == "enterprise" and "Must be one of: free, pro, team." in sample[1]
    created = events(svc, "crm.contact.created", f"job-{job['id']}")
    assert len(created) == counts["new"] and len({e["subject"] for e in created}) == counts["new"]
    with svc.db.engine.connect() as conn:  # as the app role: RLS hides other tenants, so count per tenant
        contacts_table = svc.metadata.tables["contacts"]
        total = conn.execute(select(func.count()).select_from(contacts_table)).scalar_one()
    assert total == 0  # no tenant set on this connection: RLS shows nothing
    assert len(listed(svc, a)) == counts["new"] + 100
    assert listed(svc, b) == [b_before]  # b's contacts untouched, b's matching email not deduped against a
    assert svc.client.get(f"/v1/imports/{job['id']}", headers=svc.headers(b)).status_code == 404
    assert svc.client.get(f"/v1/imports/{job['id']}/errors", headers=svc.headers(b)).status_code == 404
    first = next(c for c in listed(svc, a) if c["email"] == "person0@example.com")
    assert first["properties"] == {"plan": "free", "seats": 0} and first["phone"] == "+49301000000"
    assert first["tags"] == ["imported", "batch"] and first["lifecycle_stage"] == "lead"
