"""A CSV import's events say origin "import" (workflows may exclude them): the records it creates,
in the writer or in checker processes, and the ones it updates; the job's own events and the
records people write meanwhile keep theirs."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from test_imports import run_jobs, upload

from contacts.service import imports
from crm_core import context
from crm_testing.apps import ServiceHarness

pytestmark = pytest.mark.integration


def _events(svc: ServiceHarness, tenant: str) -> list[dict[str, Any]]:
    outbox = svc.metadata.tables["outbox"]
    tid = svc.tenant(tenant)
    with context.tenant_context(tid), svc.db.transaction() as session:
        rows = session.execute(select(outbox.c.payload).where(outbox.c.tenant_id == tid).order_by(outbox.c.id)).all()
    return [json.loads(r.payload) for r in rows]


@pytest.mark.parametrize("parallel", [False, True], ids=["in-the-writer", "checker-processes"])
def test_imported_records_have_origin_import(pg_contacts: ServiceHarness, monkeypatch: pytest.MonkeyPatch,
                                             parallel: bool) -> None:
    svc, tenant = pg_contacts, f"t-{uuid.uuid4().hex[:6]}"
    if parallel:  # checked in other processes, as big files are
        monkeypatch.setattr(imports, "PARALLEL_MIN_ROWS", 1)
    existing = svc.client.post("/v1/contacts", json={"email": "known@example.com"}, headers=svc.headers(tenant))
    assert existing.status_code == 201
    rows = "\n".join(["email,first_name", "known@example.com,Known", *(f"new{i}@example.com,New{i}" for i in range(5))])
    resp = upload(svc, tenant, rows + "\n", on_duplicate="update")
    assert resp.status_code == 202, resp.get_json()
    assert run_jobs(svc) == 1
    assert svc.client.get(resp.headers["Location"], headers=svc.headers(tenant)).get_json()["status"] == "completed"
    by_kind: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event in _events(svc, tenant):
        by_kind.setdefault((event["type"], event["origin"]), []).append(event)
    assert {kind: len(found) for kind, found in by_kind.items()} == {
        ("crm.contact.created", "user"): 1,  # before the import, through the API
        ("crm.import.created", "user"): 1,  # the upload
        ("crm.contact.created", "import"): 5,
        ("crm.contact.updated", "import"): 1,  # the known address, updated from its row
        ("crm.import.completed", "system"): 1,  # the job runner closing the job
    }
    assert all(e["causation"] is None for found in by_kind.values() for e in found)
