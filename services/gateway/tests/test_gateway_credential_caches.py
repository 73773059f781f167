"""The gateway's credential caches: API keys (per process, for seconds, checked against the key
epoch on every request) and access tokens (until their expiry). Each compared with the uncached
path; revocations and changes hold across gateway processes over one database."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from gwtest import bearer, database, signup
from sqlalchemy import update

import gateway
from crm_core.internal_token import generate_keypair
from crm_db.database import Database
from crm_db.migrate import upgrade
from crm_runtime.service import migrations_dir
from crm_testing.apps import make_settings
from crm_testing.db import create_service_database
from gateway.app import create_app
from gateway.credentials import VerifiedAccessTokens, VerifiedApiKeys
from gateway.keys import InvalidApiKey
from gateway.models import ApiKey
from gateway.tokens import AccessTokens, InvalidAccessToken

SHARED = {"CRM_JWT_SECRET": "s" * 48}


def _key(gw: FlaskClient, token: str, scopes: list[str]) -> dict:
    resp = gw.post("/v1/api-keys", json={"name": "k", "scopes": scopes}, headers=bearer(token))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def _me(gw: FlaskClient, credential: str) -> tuple[int, dict | None]:
    resp = gw.get("/v1/me", headers=bearer(credential))
    return resp.status_code, resp.get_json() if resp.status_code == 200 else None


@pytest.fixture
def two(make_gateway: Callable[..., Flask]) -> tuple[FlaskClient, FlaskClient]:
    """Two gateway apps (as two processes would be) over one database."""
    return make_gateway(**SHARED).test_client(), make_gateway(**SHARED).test_client()


def test_a_revocation_through_one_process_is_refused_by_the_other_on_the_next_request(
        two: tuple[FlaskClient, FlaskClient]) -> None:
    here, there = two
    owner = signup(here)
    key = _key(here, owner["access_token"], ["contacts:read"])
    for _ in range(3):  # both processes now hold the key in their caches
        assert _me(here, key["key"])[0] == 200 and _me(there, key["key"])[0] == 200
    assert here.delete(f"/v1/api-keys/{key['id']}", headers=bearer(owner["access_token"])).status_code == 204
    assert _me(there, key["key"])[0] == 401  # the very next request, in the process that did not revoke
    assert _me(here, key["key"])[0] == 401


def test_any_change_to_a_key_takes_effect_on_the_next_request(two: tuple[FlaskClient, FlaskClient],
                                                               make_gateway: Callable[..., Flask]) -> None:
    here, there = two
    owner = signup(here)
    key = _key(here, owner["access_token"], ["contacts:read"])
    assert _me(there, key["key"])[1]["scopes"] == ["contacts:read"]
    # No route changes scopes today; an operator's UPDATE (or a future route) must still reach the caches.
    app = make_gateway(**SHARED)
    with database(app).transaction() as session:
        session.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(key["id"]))
                        .values(scopes=["contacts:read", "contacts:write"]))
    assert _me(there, key["key"])[1]["scopes"] == ["contacts:read", "contacts:write"]


def test_each_key_answers_for_its_own_tenant_cached_or_not(two: tuple[FlaskClient, FlaskClient]) -> None:
    here, _ = two
    a, b = signup(here), signup(here)
    key_a = _key(here, a["access_token"], ["contacts:read"])["key"]
    key_b = _key(here, b["access_token"], ["tickets:write"])["key"]
    tenant_a, tenant_b = _me(here, a["access_token"])[1]["tenant"]["id"], _me(here, b["access_token"])[1]["tenant"]["id"]
    for _ in range(3):
        me_a, me_b = _me(here, key_a)[1], _me(here, key_b)[1]
        assert me_a["tenant"]["id"] == tenant_a and me_a["scopes"] == ["contacts:read"]
        assert me_b["tenant"]["id"] == tenant_b and me_b["scopes"] == ["tickets:write"]
    # Same prefix, another secret: never served from the cache of the real key.
    prefix = key_a.rsplit("_", 1)[0]
    assert _me(here, prefix + "_" + "x" * 43)[0] == 401


def _db_and_key(make_gateway: Callable[..., Flask]) -> tuple[Database, str]:
    app = make_gateway(**SHARED)
    gw = app.test_client()
    owner = signup(gw)
    return database(app), _key(gw, owner["access_token"], ["contacts:read", "admin"])["key"]


def test_cached_keys_match_the_lookup_and_expire(make_gateway: Callable[..., Flask],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db, key = _db_and_key(make_gateway)
    cached, uncached = VerifiedApiKeys(db, ttl=0.3), VerifiedApiKeys(db, ttl=0)
    lookups: list[str] = []
    real = VerifiedApiKeys._lookup
    monkeypatch.setattr(VerifiedApiKeys, "_lookup", lambda self, c: lookups.append(c) or real(self, c))
    for _ in range(4):
        assert cached.authenticate(key) == uncached.authenticate(key)
    assert len(lookups) == 1 + 4  # once for the cache, every time without it
    # Nothing in the cache holds the key in clear.
    assert all(isinstance(d, bytes) and len(d) == 32 and key.encode() not in d for d in cached._cache._entries)
    time.sleep(0.35)
    cached.authenticate(key)
    assert len(lookups) == 6  # expired: looked up again


def test_the_key_cache_is_bounded_and_refusals_are_never_cached(make_gateway: Callable[..., Flask]) -> None:
    db, key = _db_and_key(make_gateway)
    keys = VerifiedApiKeys(db, ttl=5, size=1)
    keys.authenticate(key)
    with pytest.raises(InvalidApiKey):
        keys.authenticate(key.rsplit("_", 1)[0] + "_wrong")
    assert len(keys._cache._entries) == 1
    with pytest.raises(InvalidApiKey):
        keys.authenticate("crm_nosuchprefix_secret")
    assert len(keys._cache._entries) == 1


def test_access_tokens_cached_until_their_expiry_and_equal_to_the_full_check() -> None:
    access = AccessTokens("k" * 48, ttl_seconds=1)
    cached = VerifiedAccessTokens(access)
    token = access.issue(uuid.uuid4(), uuid.uuid4(), "member")
    assert cached.verify(token) == cached.verify(token) == access.verify(token)
    other = access.issue(uuid.uuid4(), uuid.uuid4(), "viewer")
    assert cached.verify(other) == access.verify(other) != cached.verify(token)
    with pytest.raises(InvalidAccessToken):
        cached.verify(token[:-3] + ("abc" if not token.endswith("abc") else "xyz"))
    time.sleep(2.05)
    with pytest.raises(InvalidAccessToken):
        cached.verify(token)  # expired: refused although it was cached
    assert hashlib.sha256(token.encode()).digest() not in cached._cache._entries


def test_revocation_across_processes_on_postgresql(pg_admin_url: str, tmp_path: Path) -> None:
    """The epoch trigger and the app role's rights on PostgreSQL (the SQLite tests above use the other trigger)."""
    owner_url, app_url = create_service_database(pg_admin_url, f"gw_keycache_{secrets.token_hex(4)}")
    upgrade(migrations_dir(gateway.__file__), owner_url)
    clients = []
    for _ in range(2):
        private, public = generate_keypair()
        settings = make_settings("gateway", tmp_path, database_url=app_url, owner_url=owner_url, public_key=public,
                                 private_key=private, **SHARED)
        app = create_app(settings)
        app.testing = True
        clients.append(app.test_client())
    here, there = clients
    owner = signup(here)
    key = _key(here, owner["access_token"], ["contacts:read"])
    assert _me(here, key["key"])[0] == 200 and _me(there, key["key"])[0] == 200
    assert here.delete(f"/v1/api-keys/{key['id']}", headers=bearer(owner["access_token"])).status_code == 204
    assert _me(there, key["key"])[0] == 401


def test_a_cached_credential_still_meets_an_exhausted_bad_credentials_bucket(
        make_gateway: Callable[..., Flask]) -> None:
    gw = make_gateway(CRM_RATE_LIMIT_BAD_CREDENTIALS_RATE="0.001", CRM_RATE_LIMIT_BAD_CREDENTIALS_BURST="3",
                      **SHARED).test_client()
    owner = signup(gw)
    key = _key(gw, owner["access_token"], ["contacts:read"])["key"]
    for credential in (owner["access_token"], key):
        assert _me(gw, credential)[0] == 200  # cached from here on
    for _ in range(3):
        assert _me(gw, "not-a-token")[0] == 401
    for credential in (owner["access_token"], key):
        resp = gw.get("/v1/me", headers=bearer(credential))
        assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
