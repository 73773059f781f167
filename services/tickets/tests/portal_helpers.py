"""Test steps for the customer portal and CSAT: mailboxes written straight to portal_mailboxes
(the kb area's consumer fills it in production), tickets made over the staff API, the open paths
called as the gateway forwards them (public principal), and the links read from the mail
requests in the outbox."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from crm_core.context import public_principal
from crm_core.internal_token import HEADER
from crm_events.tables import event_tables
from crm_testing.apps import ServiceHarness
from tickets.models.portal import PortalMailbox

LINK = re.compile(r"https?://[^\s\"<>]+")


def mailbox(svc: ServiceHarness, tenant: str, name: str | None = None) -> str:
    name = name or f"box-{tenant}"
    with svc.db.transaction() as session:
        session.add(PortalMailbox(name=name, tenant_id=svc.tenant(tenant)))
    return name


def public(svc: ServiceHarness, **extra: str) -> dict[str, str]:
    return {HEADER: svc.signer.mint(public_principal(), svc.settings.service), "X-Request-Id": "portal-test", **extra}


def bearer(svc: ServiceHarness, token: str) -> dict[str, str]:
    return public(svc, Authorization=f"Bearer {token}")


def staff_ticket(svc: ServiceHarness, tenant: str, email: str | None, subject: str = "Help", **body: Any) -> dict:
    resp = svc.client.post("/v1/tickets", json={"subject": subject, "requester_email": email, **body},
                           headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def staff_patch(svc: ServiceHarness, tenant: str, ticket: dict, **body: Any) -> dict:
    resp = svc.client.patch(f"/v1/tickets/{ticket['id']}", json=body, headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def outbox(svc: ServiceHarness, topic_type: str | None = None) -> list[dict[str, Any]]:
    table = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(table.c.payload).order_by(table.c.id)).all()
    events = [json.loads(r.payload) for r in rows]
    return [e for e in events if topic_type is None or e["type"] == topic_type]


def mails_to(svc: ServiceHarness, email: str) -> list[dict[str, Any]]:
    return [e["data"] for e in outbox(svc, "crm.mail.send_requested")
            if email in [r["address"] for r in e["data"]["to"]]]


def last_link(svc: ServiceHarness, email: str, part: str) -> str:
    """The token at the end of the newest link (…/{part}/{token}) mailed to `email`."""
    mails = mails_to(svc, email)
    assert mails, f"no mail to {email}"
    links = [u for u in LINK.findall(mails[-1]["text"]) if f"/{part}/" in u]
    assert links, mails[-1]["text"]
    return links[0].rsplit("/", 1)[1]


def ask_link(client: FlaskClient, svc: ServiceHarness, box: str, email: str) -> None:
    resp = client.post(f"/portal/{box}/login", json={"email": email}, headers=public(svc))
    assert resp.status_code == 202, resp.get_json()


def sign_in(svc: ServiceHarness, box: str, email: str, client: FlaskClient | None = None) -> str:
    """A full sign-in: ask for the link, follow it; the session token."""
    client = client or svc.client
    ask_link(client, svc, box, email)
    token = last_link(svc, email, "session")
    resp = client.post(f"/portal/{box}/session", json={"token": token}, headers=public(svc))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["token"]


def new_client(svc: ServiceHarness) -> FlaskClient:
    return svc.app.test_client()


def uid() -> str:
    return uuid.uuid4().hex[:8]
