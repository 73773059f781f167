"""The embedded default takes concurrent writers from several processes without a 500.

Web requests (batch upserts, through the gateway), the contacts worker process (its relay deleting
published outbox rows, an import job writing thousands of rows) and the reporting consumer all
write SQLite files at once. Before writers took the lock up front this answered 500
(`database is locked`) within a few requests.
"""

from __future__ import annotations

import io
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import urllib3

from crm_testing.platform import start_platform, wait_for


def test_web_relay_and_worker_write_one_sqlite_file_at_once(tmp_path: Path) -> None:
    platform = start_platform(tmp_path, only={"contacts", "reporting"})
    try:
        platform.start_workers(only={"reporting"})
        worker = platform.services["contacts"].spawn("worker")  # relay + job runner, another process
        platform.processes.append(worker)
        owner = platform.signup()
        token = owner["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        rows = "\n".join(f"Imported{i},imp{i}@example.com" for i in range(3000))
        csv = f"first_name,email\n{rows}\n".encode()
        upload = urllib3.PoolManager().request(
            "POST", platform.gateway_url + "/v1/imports", headers=auth,
            fields={"object": "contacts", "file": ("people.csv", io.BytesIO(csv).read(), "text/csv")})
        assert upload.status == 202, upload.data
        job = upload.json()["id"]

        def writer(n: int) -> list[int]:
            statuses = []
            http = urllib3.PoolManager()
            for i in range(15):
                items = [{"email": f"w{n}-{i % 5}@example.com", "first_name": f"W{n}", "last_name": str(i)},
                         {"email": f"shared-{i % 3}@example.com", "first_name": "Shared", "source": f"{n}-{i}"}]
                resp = http.request("POST", platform.gateway_url + "/v1/contacts/batch", headers=auth,
                                    body=json.dumps({"mode": "upsert", "items": items}),
                                    retries=False, timeout=60)
                statuses.append(resp.status)
                if resp.status == 200:
                    assert all(r["status"] in (200, 201) for r in resp.json()["results"]), resp.data
            return statuses

        with ThreadPoolExecutor(6) as pool:
            statuses = [s for batch in pool.map(writer, range(6)) for s in batch]
        assert statuses.count(200) == len(statuses), sorted(set(statuses))

        def finished() -> dict | None:
            body = platform.request("GET", f"/v1/imports/{job}", token=token).json()
            return body if body["status"] in ("completed", "failed") else None

        done = wait_for(finished, timeout=120, what="the import")
        assert done["status"] == "completed" and done["created"] == 3000, done

        # every write's event was relayed: the outbox drains and the summary counts every contact
        expected = 3000 + 6 * 5 + 3
        wait_for(lambda: platform.request("GET", "/v1/reports/summary", token=token).json()["contacts"] == expected,
                 timeout=60, what="the summary to count every contact")
        with sqlite3.connect(tmp_path / "contacts.db") as conn:
            assert conn.execute("select count(*) from outbox").fetchone()[0] == 0
        assert worker.poll() is None, "the worker process died"
        log = (tmp_path / "contacts-worker.log").read_text()
        assert "database is locked" not in log, log[-3000:]
    finally:
        platform.close()
