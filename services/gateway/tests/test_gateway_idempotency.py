"""Idempotency-Key on the gateway's own POSTs, and the shared lease / TTL / credential scoping."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import pytest
from flask import Flask
from gwtest import bearer, database, signup
from sqlalchemy import select, update

import crm_http.idempotency as idem
from crm_http.idempotency import ANONYMOUS_TENANT, idempotency_table
from gateway.models import ApiKey, User, metadata


def test_signup_replays_and_is_scoped_to_key_and_body(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway()
    gw = app.test_client()
    body = {"company": "Once", "email": "once@example.com", "password": "correct horse battery"}
    first = gw.post("/v1/signup", json=body, headers={"Idempotency-Key": "k1"})
    again = gw.post("/v1/signup", json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    # Anonymous: another body under the same key is just another request (no 422 that would tell
    # one anonymous caller about another's key).
    other = gw.post("/v1/signup", json={**body, "company": "Other"}, headers={"Idempotency-Key": "k1"})
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    db = database(app)
    with db.transaction() as s:
        assert len(s.scalars(select(User).where(User.email == "once@example.com")).all()) == 2
        table = idempotency_table(metadata())
        rows = s.execute(select(table.c.tenant_id, table.c.key)).all()
    assert {r.tenant_id for r in rows} == {ANONYMOUS_TENANT} and all(r.key.startswith("anon/") for r in rows)
    assert all("k1" not in r.key for r in rows)  # only a digest of the client's key is stored


def test_users_and_api_keys_replay_per_credential(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway()
    gw = app.test_client()
    owner = signup(gw)
    made = gw.post("/v1/users", json={"email": "adm@example.com", "role": "admin", "password": "long enough pw"},
                   headers=bearer(owner["access_token"], **{"Idempotency-Key": "u1"}))
    assert made.status_code == 201
    again = gw.post("/v1/users", json={"email": "adm@example.com", "role": "admin", "password": "long enough pw"},
                    headers=bearer(owner["access_token"], **{"Idempotency-Key": "u1"}))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == made.get_json()["id"]
    reused = gw.post("/v1/users", json={"email": "other@example.com", "role": "member"},
                     headers=bearer(owner["access_token"], **{"Idempotency-Key": "u1"}))
    assert reused.status_code == 422
    admin = gw.post("/v1/auth/token", json={"email": "adm@example.com", "password": "long enough pw"}).get_json()
    body = {"name": "ci", "scopes": ["contacts:read"]}
    k_owner = gw.post("/v1/api-keys", json=body, headers=bearer(owner["access_token"], **{"Idempotency-Key": "same"}))
    # Same tenant, same key, another credential: its own request, not the owner's answer.
    k_admin = gw.post("/v1/api-keys", json=body, headers=bearer(admin["access_token"], **{"Idempotency-Key": "same"}))
    assert k_owner.status_code == k_admin.status_code == 201
    assert "Idempotent-Replayed" not in k_admin.headers and k_admin.get_json()["id"] != k_owner.get_json()["id"]
    replay = gw.post("/v1/api-keys", json=body, headers=bearer(owner["access_token"], **{"Idempotency-Key": "same"}))
    assert replay.get_json()["id"] == k_owner.get_json()["id"]
    with database(app).transaction() as s:
        assert len(s.scalars(select(ApiKey)).all()) == 2
        stored = s.execute(select(idempotency_table(metadata()).c.body)).scalars().all()
    # Answers with secrets are sealed under the client's key: the database never holds them readable.
    secret = k_owner.get_json()["key"]
    assert stored and all(b.startswith(idem.SEALED) for b in stored)
    assert not any(secret in b or "adm@example.com" in b or owner["refresh_token"] in b for b in stored)
    assert replay.get_json()["key"] == secret


def test_a_dead_claim_is_retaken_after_its_lease_and_answers_expire(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway(CRM_IDEMPOTENCY_LEASE_SECONDS="30", CRM_IDEMPOTENCY_TTL_SECONDS="3600")
    gw = app.test_client()
    owner = signup(gw)
    headers = bearer(owner["access_token"], **{"Idempotency-Key": "lease"})
    body = {"name": "k", "scopes": ["contacts:read"]}
    first = gw.post("/v1/api-keys", json=body, headers=headers)
    assert first.status_code == 201
    table = idempotency_table(metadata())
    db = database(app)
    # As if the process had died after claiming: the claim is in flight (status NULL).
    with db.transaction() as s:
        s.execute(update(table).values(status=None, body=None))
    assert gw.post("/v1/api-keys", json=body, headers=headers).status_code == 409  # inside the lease
    with db.transaction() as s:
        s.execute(update(table).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=31)))
    retaken = gw.post("/v1/api-keys", json=body, headers=headers)
    assert retaken.status_code == 201 and "Idempotent-Replayed" not in retaken.headers
    assert gw.post("/v1/api-keys", json=body, headers=headers).headers["Idempotent-Replayed"] == "true"
    # An answer older than the TTL is gone: the key is free again.
    with db.transaction() as s:
        s.execute(update(table).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)))
    fresh = gw.post("/v1/api-keys", json=body, headers=headers)
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers


def test_old_answers_are_purged_on_claim(make_gateway: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:

    app = make_gateway(CRM_IDEMPOTENCY_TTL_SECONDS="60")
    gw = app.test_client()
    owner = signup(gw)
    for i in range(3):
        assert gw.post("/v1/api-keys", json={"name": f"k{i}", "scopes": ["contacts:read"]},
                       headers=bearer(owner["access_token"], **{"Idempotency-Key": f"p{i}"})).status_code == 201
    table = idempotency_table(metadata())
    db = database(app)
    with db.transaction() as s:
        s.execute(update(table).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)))
    monkeypatch.setattr(idem, "PURGE_ONE_IN", 1)
    gw.post("/v1/api-keys", json={"name": "new", "scopes": ["contacts:read"]},
            headers=bearer(owner["access_token"], **{"Idempotency-Key": "p-new"}))
    with db.transaction() as s:
        keys = s.execute(select(table.c.key)).scalars().all()
    assert len(keys) == 1 and keys[0].endswith(hashlib.sha256(b"p-new").hexdigest())
