"""Portal and CSAT isolation on PostgreSQL under RLS (the app role, as production runs it): a
tenant's sign-in links, sessions, attachments, surveys and responses are invisible in another
tenant's context, even to a query that names no tenant; and the HTTP paths refuse across tenants."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from portal_helpers import ask_link, bearer, last_link, mailbox, public, sign_in, staff_patch, staff_ticket
from sqlalchemy import func, select, text

import tickets
from crm_core.context import tenant_context
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, pg_harness
from tickets.app import create_app
from tickets.models import metadata
from tickets.models.csat import CsatResponse, CsatSurvey
from tickets.models.portal import PortalAttachment, PortalLoginLink, PortalSession

TABLES = (PortalLoginLink, PortalSession, PortalAttachment, CsatSurvey, CsatResponse)


@pytest.fixture
def pg_tickets(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    yield from pg_harness("tickets", create_app, metadata(), migrations_dir(tickets.__file__), tmp_path, pg_admin_url)


def test_rls_hides_portal_and_csat_rows(pg_tickets: ServiceHarness) -> None:
    svc = pg_tickets
    box_a, box_b = mailbox(svc, "a"), mailbox(svc, "b")
    ticket = staff_ticket(svc, "a", "ann@example.com")
    staff_ticket(svc, "b", "ann@example.com")
    token = sign_in(svc, box_a, "ann@example.com")
    ask_link(svc.client, svc, box_a, "ann@example.com")
    link = last_link(svc, "ann@example.com", "session")
    opened = svc.client.post(f"/portal/{box_a}/tickets", headers=bearer(svc, token), json={
        "subject": "File", "text": "attached", "attachments": [
            {"filename": "a.txt", "content_type": "text/plain", "content_base64": base64.b64encode(b"hi").decode()}]})
    assert opened.status_code == 201, opened.get_json()
    staff_patch(svc, "a", ticket, status="resolved")
    survey = last_link(svc, "ann@example.com", "csat")

    # Across tenants over HTTP: every credential of A is unknown at B's mailbox.
    assert svc.client.get(f"/portal/{box_b}/tickets", headers=bearer(svc, token)).status_code == 401
    assert svc.client.post(f"/portal/{box_b}/session", json={"token": link}, headers=public(svc)).status_code == 404
    assert svc.client.post(f"/portal/{box_b}/csat/{survey}", json={"rating": 1}, headers=public(svc)).status_code == 404
    assert svc.client.post(f"/portal/{box_a}/csat/{survey}", json={"rating": 4}, headers=public(svc)).status_code == 201
    att = opened.get_json()["messages"][0]["attachments"][0]["id"]
    assert svc.client.get(f"/v1/portal/attachments/{att}", headers=svc.headers("b")).status_code == 404
    assert svc.client.get("/v1/csat/responses", headers=svc.headers("b")).get_json()["data"] == []

    # In the database: B's context counts none of A's rows, even with a raw statement.
    for model in TABLES:
        with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
            assert session.scalar(select(func.count()).select_from(model)) >= 1, model.__tablename__
        with tenant_context(svc.tenant("b")), svc.db.transaction() as session:
            assert session.scalar(select(func.count()).select_from(model)) == 0, model.__tablename__
            assert session.execute(text(f"select count(*) from {model.__tablename__}")).scalar() == 0
