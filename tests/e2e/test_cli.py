"""The `crm` CLI end to end: gateway + contacts and tickets (with their workers) on real ports, an
API key, a CSV over 1 MiB streamed through the gateway, progress to completion, errors and exports;
an SLA recompute job followed to its end."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_cli.main import cli
from crm_core.settings import REPO_ROOT
from crm_testing.platform import Platform, start_platform, wait_for_json

UPLOAD_LIMIT = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    started = start_platform(tmp_path_factory.mktemp("cli"), only={"gateway", "contacts", "tickets"},
                             service_extra={"tickets": {"CRM_SLA_RECOMPUTE_INLINE_MAX": "3", "CRM_SLA_RECOMPUTE_CHUNK": "2"}},
                             CRM_IMPORT_MAX_BYTES=str(UPLOAD_LIMIT))
    started.start_workers()
    yield started
    started.close()


@pytest.fixture(scope="module")
def api_key(platform: Platform) -> str:
    owner = platform.signup("CLI Co")["access_token"]
    resp = platform.request("POST", "/v1/api-keys", {"name": "cli", "scopes": ["contacts:read", "contacts:write"]}, token=owner)
    assert resp.status == 201, resp.data
    return resp.json()["key"]


def crm(platform: Platform, key: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--url", platform.gateway_url, "--api-key", key, *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.output


def write_csv(path: Path, rows: int) -> dict[str, int]:
    """A file over 1 MiB: in-file duplicates every 100th row, a bad email every 250th."""
    counts = {"created": 0, "skipped": 0, "failed": 0}
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["E-Mail", "first_name", "last_name", "lifecycle_stage", "notes"])
        for i in range(rows):
            if i % 250 == 3:
                email, kind = "not-an-email", "failed"
            elif i % 100 == 50:
                email, kind = f"person{i - 1}@example.com", "skipped"
            else:
                email, kind = f"person{i}@example.com", "created"
            counts[kind] += 1
            writer.writerow([email, f"First{i}", f"Last{i}" + "x" * 20, "lead" if i % 2 else "customer", "n" * 10])
    return counts


def test_import_then_export_through_the_gateway(platform: Platform, api_key: str, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    counts = write_csv(source, 20_000)
    assert 1024 * 1024 < source.stat().st_size < UPLOAD_LIMIT  # past the 1 MiB of other routes: streamed
    code, output = crm(platform, api_key, "import", "contacts", source, "--mapping", "E-Mail=email", "--mapping", "notes=")
    assert code == 0, output
    assert (f"completed: {counts['created']} created, 0 updated, {counts['skipped']} skipped, {counts['failed']} failed "
            f"(of 20000 rows)") in output
    import_id = output.split("Import ", 1)[1].split()[0]
    assert f"crm import errors {import_id}" in output

    errors = tmp_path / "errors.csv"
    code, output = crm(platform, api_key, "import", "errors", import_id, "-o", errors)
    assert code == 0, output
    failed = list(csv.reader(errors.open(encoding="utf-8")))
    assert failed[0] == ["row", "reason", "E-Mail", "first_name", "last_name", "lifecycle_stage", "notes"]
    assert [int(r[0]) for r in failed[1:]] == [i + 2 for i in range(20_000) if i % 250 == 3]
    assert all(r[1].startswith("email: ") for r in failed[1:])

    target = tmp_path / "leads.csv"
    code, output = crm(platform, api_key, "export", "contacts", "--filter", "lifecycle_stage = 'lead' and email starts_with 'person1'",
                       "--properties", "email,first_name", "-o", target)
    assert code == 0, output
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    expected = {f"person{i}@example.com" for i in range(20_000) if i % 2 and str(i).startswith("1")
                and i % 250 != 3 and i % 100 != 50}
    assert {r["email"] for r in rows} == expected and f"Exported {len(expected)} contacts to {target}" in output
    assert list(rows[0]) == ["id", "email", "first_name"]
    assert not (tmp_path / "leads.csv.part").exists()


def test_dry_run_no_wait_status_and_the_bin_wrapper(platform: Platform, api_key: str, tmp_path: Path) -> None:
    source = tmp_path / "companies.csv"
    source.write_text("name,domain\nAcme,acme.com\nGlobex,globex.com\n", encoding="utf-8")
    code, output = crm(platform, api_key, "import", "companies", source, "--dry-run")
    assert code == 0 and "Dry run of import" in output and "2 created" in output, output
    code, output = crm(platform, api_key, "import", "companies", source, "--no-wait")
    assert code == 0 and "queued" in output, output
    import_id = output.split("Import ", 1)[1].split()[0]
    env = {"CRM_API_URL": platform.gateway_url, "CRM_API_KEY": api_key, "PATH": "/usr/bin:/bin"}
    for _ in range(100):
        done = subprocess.run([str(REPO_ROOT / "bin" / "crm"), "import", "status", import_id], env=env, capture_output=True,
                              text=True, timeout=60)
        if "completed" in done.stdout:
            break
    assert done.returncode == 0 and "2 created" in done.stdout, (done.stdout, done.stderr)
    listed = platform.request("GET", "/v1/companies", token=api_key).json()["data"]
    assert sorted(c["domain"] for c in listed) == ["acme.com", "globex.com"]  # the dry run wrote nothing


def test_problems_are_printed_readably_with_exit_code_1(platform: Platform, api_key: str, tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_text("email\na@example.com\n", encoding="utf-8")
    code, output = crm(platform, api_key, "import", "contacts", source, "--mapping", "email=shoe_size")
    assert code == 1 and "Unprocessable Entity (HTTP 422)" in output and "mapping.email: Unknown contact field 'shoe_size'." in output
    code, output = crm(platform, "crm_not_a_key", "import", "contacts", source)
    assert code == 1 and "HTTP 401" in output and "CRM_API_KEY" in output
    code, output = crm(platform, api_key, "export", "contacts", "--filter", "shoe_size > 3")
    assert code == 1 and "HTTP 400" in output and "shoe_size" in output
    code, output = crm(platform, api_key, "import", "status", "00000000-0000-0000-0000-000000000000")
    assert code == 1 and "HTTP 404" in output
    big = tmp_path / "big.csv"
    big.write_bytes(b"email\n" + b"x" * (UPLOAD_LIMIT + 1024) + b"\n")
    code, output = crm(platform, api_key, "import", "contacts", big)
    assert code == 1 and "HTTP 413" in output, output
    code, output = crm(platform, api_key, "--url", "http://127.0.0.1:9", "export", "contacts")
    assert code == 1 and "Cannot reach the CRM API" in output


def test_other_routes_keep_the_1_mib_limit_and_downloads_stream(platform: Platform, api_key: str) -> None:
    big = b'{"first_name": "' + b"x" * (1024 * 1024) + b'"}'
    resp = platform.http.request("POST", platform.gateway_url + "/v1/contacts", body=big,
                                 headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
    assert resp.status == 413
    exported = platform.request("POST", "/v1/exports", {"object": "contacts", "properties": ["email"]}, token=api_key)
    assert exported.status == 202
    other = platform.signup("Other Co")["access_token"]
    for path in (f"/v1/exports/{exported.json()['id']}", f"/v1/exports/{exported.json()['id']}/file"):
        assert platform.request("GET", path, token=other).status == 404  # another tenant's export
    boundary = "b0undary"

    def chunked() -> Iterator[bytes]:  # no Content-Length: the gateway forwards it chunked, still streamed
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="object"\r\n\r\ncontacts\r\n'.encode()
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n\r\n'.encode()
        yield b"email\r\nchunked@example.com\r\n"
        yield f"\r\n--{boundary}--\r\n".encode()

    upload = platform.http.request("POST", platform.gateway_url + "/v1/imports", body=chunked(), chunked=True,
                                   headers={"Authorization": f"Bearer {api_key}",
                                            "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert upload.status == 202, upload.data
    imported = wait_for_json(platform, f"/v1/imports/{upload.json()['id']}", api_key, lambda j: j["status"] == "completed")
    assert imported["created"] == 1
    job = wait_for_json(platform, f"/v1/exports/{exported.json()['id']}", api_key, lambda j: j["status"] == "completed")
    file = platform.http.request("GET", platform.gateway_url + job["file_url"], headers={"Authorization": f"Bearer {api_key}"},
                                 preload_content=False)
    body = b"".join(file.stream(1000))
    file.release_conn()
    assert file.status == 200 and file.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert int(file.headers["Content-Length"]) == len(body) and body.count(b"\r\n") == job["rows_total"] + 1


def test_sla_recomputes_are_listed_and_followed_to_the_end(platform: Platform) -> None:
    owner = platform.signup("SLA Co")["access_token"]

    def post(path: str, body: dict[str, object], method: str = "POST") -> dict[str, object]:
        resp = platform.request(method, path, body, token=owner)
        assert resp.status in (200, 201), resp.data
        return resp.json()

    key = post("/v1/api-keys", {"name": "sla", "scopes": ["tickets:read"]})["key"]
    code, out = crm(platform, str(key), "sla", "recomputes")
    assert (code, out.strip()) == (0, "No SLA recomputes yet.")
    week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    calendar = post("/v1/business-hours", {"name": "Office", "time_zone": "Europe/Berlin",
                                           "frames": {d: [{"start": "08:00", "end": "18:00"}] for d in week}})
    post("/v1/sla-policies", {"name": "Standard", "business_hours_id": calendar["id"], "first_response_minutes": 60})
    for n in range(7):
        post("/v1/tickets", {"subject": f"Printer {n}"})
    post(f"/v1/business-hours/{calendar['id']}", {"frames": {d: [{"start": "09:00", "end": "17:00"}] for d in week}}, "PATCH")

    code, out = crm(platform, str(key), "sla", "recomputes", "--wait")
    assert code == 0, out
    [line] = [ln for ln in out.splitlines() if "tickets" in ln and "Recomputing" not in ln]
    assert "completed" in line and "7/7 tickets" in line and "Office" in line
    job_id = line.split()[0]
    code, out = crm(platform, str(key), "sla", "recomputes", job_id)
    assert code == 0 and "completed" in out
