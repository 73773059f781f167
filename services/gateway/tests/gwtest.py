"""Helpers for the gateway's tests (a module of its own: every service has a conftest)."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import unquote

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crm_db.database import Database
from crm_mail.requests import SEND_REQUESTED
from gateway.models import metadata


def signup(client: FlaskClient, email: str | None = None, password: str = "correct horse battery",
           headers: dict[str, str] | None = None) -> dict[str, Any]:
    email = email or f"owner-{secrets.token_hex(5)}@example.com"
    resp = client.post("/v1/signup", json={"company": "Acme", "email": email, "password": password},
                       headers=headers or {})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return {**resp.get_json(), "email": email, "password": password}


def bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


def database(app: Flask) -> Database:
    return Database(app.extensions["crm_settings"].database_url)


def outbox_events(app: Flask, event_type: str) -> list[dict[str, Any]]:
    """The events of one type the gateway wrote (oldest first), read from its outbox with the
    owner's URL (no RLS in the way), before any relay took them."""
    owner = Database(app.extensions["crm_settings"].database_owner_url)
    table = metadata().tables["outbox"]
    try:
        with owner.engine.connect() as conn:
            rows = conn.execute(select(table.c.payload).where(table.c.event_type == event_type)
                                .order_by(table.c.id)).scalars().all()
    finally:
        owner.engine.dispose()
    return [json.loads(row) for row in rows]


def sent_mail(app: Flask, to: str | None = None) -> list[dict[str, Any]]:
    """The crm.mail.send_requested events (in a test, the inbox): each an event (tenant_id, data, ...)."""
    return [e for e in outbox_events(app, SEND_REQUESTED) if to is None or to in [r["address"] for r in e["data"]["to"]]]


def link_token(event: dict[str, Any], path: str = "/verify-email") -> str:
    """The token of the link to `path` in an email's text body, the way a reader would find it."""
    match = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_%-]+)", event["data"]["text"])
    assert match, event["data"]["text"]
    return unquote(match.group(1))


def verification_token(app: Flask, email: str) -> str:
    """The link of the latest verification email to `email`."""
    mails = [m for m in sent_mail(app, email) if "/verify-email?token=" in m["data"]["text"]]
    assert mails, f"no verification email to {email}"
    return link_token(mails[-1])
