"""Helpers for the gateway's tests (a module of its own: every service has a conftest)."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from crm_db.database import Database


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
