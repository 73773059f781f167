"""Accounts and authorisation: per-tenant emails (no enumeration), admin-only management,
deactivation, role change, logout and the refresh tokens' absolute lifetime."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from gwtest import bearer, database, signup
from sqlalchemy import select, update

from crm_db.base import utcnow
from gateway.models import RefreshToken


def _login(gw: FlaskClient, email: str, password: str = "long enough pw") -> dict:
    resp = gw.post("/v1/auth/token", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def _add(gw: FlaskClient, token: str, email: str, role: str) -> dict:
    resp = gw.post("/v1/users", json={"email": email, "role": role, "password": "long enough pw"}, headers=bearer(token))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def test_post_users_reveals_nothing_about_other_tenants(gw: FlaskClient) -> None:
    a, b = signup(gw), signup(gw)
    # B's admin adds an address that is A's owner: an ordinary new user of B, no 409.
    made = gw.post("/v1/users", json={"email": a["email"], "role": "member"}, headers=bearer(b["access_token"]))
    assert made.status_code == 201 and made.get_json()["tenant_id"] == b["tenant"]["id"]
    # Within one tenant a duplicate is still a 409, for that tenant's admin.
    dup = gw.post("/v1/users", json={"email": a["email"], "role": "viewer"}, headers=bearer(b["access_token"]))
    assert dup.status_code == 409 and dup.get_json()["existing_id"] == made.get_json()["id"]
    listed = gw.get("/v1/users", headers=bearer(b["access_token"])).get_json()["data"]
    assert {u["tenant_id"] for u in listed} == {b["tenant"]["id"]}


def test_user_and_key_management_is_admin_only(gw: FlaskClient) -> None:
    owner = signup(gw)
    for role in ("member", "viewer"):
        _add(gw, owner["access_token"], f"{role}-{owner['email']}", role)
        token = _login(gw, f"{role}-{owner['email']}")["access_token"]
        assert gw.get("/v1/users", headers=bearer(token)).status_code == 403
        assert gw.get("/v1/api-keys", headers=bearer(token)).status_code == 403
        assert gw.patch(f"/v1/users/{owner['user']['id']}", json={"role": "viewer"}, headers=bearer(token)).status_code == 403
    reader = gw.post("/v1/api-keys", json={"name": "r", "scopes": ["tickets:read"]}, headers=bearer(owner["access_token"])).get_json()
    assert gw.get("/v1/users", headers=bearer(reader["key"])).status_code == 403  # tickets:read lists no emails
    admin_key = gw.post("/v1/api-keys", json={"name": "a", "scopes": ["admin"]}, headers=bearer(owner["access_token"])).get_json()
    assert gw.get("/v1/users", headers=bearer(admin_key["key"])).status_code == 200
    assert gw.get("/v1/api-keys", headers=bearer(admin_key["key"])).status_code == 200
    # An admin key can't mint owners (no owner role behind it).
    assert gw.post("/v1/users", json={"email": "o2@example.com", "role": "owner"},
                   headers=bearer(admin_key["key"])).status_code == 403


def test_role_change_and_the_last_owner(gw: FlaskClient) -> None:
    owner = signup(gw)
    oid = owner["user"]["id"]
    admin = _add(gw, owner["access_token"], f"admin-{owner['email']}", "admin")
    admin_token = _login(gw, admin["email"])["access_token"]
    last = gw.patch(f"/v1/users/{oid}", json={"role": "admin"}, headers=bearer(owner["access_token"]))
    assert last.status_code == 409 and "role" in last.get_json()["errors"]
    assert gw.patch(f"/v1/users/{oid}", json={"active": False}, headers=bearer(owner["access_token"])).status_code == 409
    assert gw.patch(f"/v1/users/{oid}", json={"role": "member"}, headers=bearer(admin_token)).status_code == 403
    assert gw.patch(f"/v1/users/{admin['id']}", json={"role": "owner"}, headers=bearer(admin_token)).status_code == 403
    promoted = gw.patch(f"/v1/users/{admin['id']}", json={"role": "owner"}, headers=bearer(owner["access_token"]))
    assert promoted.status_code == 200 and promoted.get_json()["role"] == "owner"
    demoted = gw.patch(f"/v1/users/{oid}", json={"role": "member"}, headers=bearer(owner["access_token"]))
    assert demoted.status_code == 200 and demoted.get_json()["role"] == "member"
    # The old access token still says owner: it is refused at once; a refresh gives the new role.
    assert gw.get("/v1/users", headers=bearer(owner["access_token"])).status_code == 401
    refreshed = gw.post("/v1/auth/refresh", json={"refresh_token": owner["refresh_token"]}).get_json()
    me = gw.get("/v1/me", headers=bearer(refreshed["access_token"])).get_json()
    assert me["roles"] == ["member"]
    other = signup(gw)
    assert gw.patch(f"/v1/users/{oid}", json={"role": "viewer"}, headers=bearer(other["access_token"])).status_code == 404
    assert gw.patch(f"/v1/users/{oid}", json={}, headers=bearer(other["access_token"])).status_code == 422
    assert gw.patch("/v1/users/not-a-uuid", json={"role": "viewer"}, headers=bearer(other["access_token"])).status_code in (400, 404)


def test_deactivated_users_cannot_sign_in_refresh_or_manage(gw: FlaskClient) -> None:
    owner = signup(gw)
    admin = _add(gw, owner["access_token"], f"admin-{owner['email']}", "admin")
    session = _login(gw, admin["email"])
    off = gw.patch(f"/v1/users/{admin['id']}", json={"active": False}, headers=bearer(owner["access_token"]))
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert gw.post("/v1/auth/token", json={"email": admin["email"], "password": "long enough pw"}).status_code == 401
    assert gw.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code == 401
    # The access token already issued stops working at once, for every route (not only management).
    assert gw.get("/v1/users", headers=bearer(session["access_token"])).status_code == 401
    assert gw.get("/v1/me", headers=bearer(session["access_token"])).status_code == 401
    back = gw.patch(f"/v1/users/{admin['id']}", json={"active": True}, headers=bearer(owner["access_token"]))
    assert back.get_json()["active"] is True
    assert gw.post("/v1/auth/token", json={"email": admin["email"], "password": "long enough pw"}).status_code == 200
    # The refresh tokens revoked at deactivation stay revoked.
    assert gw.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code == 401


def test_logout_revokes_the_family(gw: FlaskClient) -> None:
    owner = signup(gw)
    rotated = gw.post("/v1/auth/refresh", json={"refresh_token": owner["refresh_token"]}).get_json()["refresh_token"]
    other_login = _login(gw, owner["email"], owner["password"])
    assert gw.post("/v1/auth/logout", json={"refresh_token": rotated}).status_code == 204
    assert gw.post("/v1/auth/refresh", json={"refresh_token": rotated}).status_code == 401
    # Another login (another family) is untouched; logging out again or with junk is fine.
    assert gw.post("/v1/auth/refresh", json={"refresh_token": other_login["refresh_token"]}).status_code == 200
    assert gw.post("/v1/auth/logout", json={"refresh_token": rotated}).status_code == 204
    assert gw.post("/v1/auth/logout", json={"refresh_token": "junk"}).status_code == 204
    assert gw.post("/v1/auth/logout", json={}).status_code == 422


def test_rotation_never_extends_past_the_max_age(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway(CRM_REFRESH_TOKEN_MAX_AGE="3600")
    gw = app.test_client()
    owner = signup(gw)
    db = database(app)
    with db.transaction() as s:
        (row,) = s.scalars(select(RefreshToken)).all()
        started, expires = row.family_started_at, row.expires_at
    assert expires - started <= dt.timedelta(seconds=3600)
    # The login started 59 minutes ago: rotation works, but the new token ends at the hour.
    with db.transaction() as s:
        s.execute(update(RefreshToken).values(family_started_at=started - dt.timedelta(minutes=59)))
    token = gw.post("/v1/auth/refresh", json={"refresh_token": owner["refresh_token"]}).get_json()["refresh_token"]
    with db.transaction() as s:
        newest = s.scalars(select(RefreshToken).where(RefreshToken.used_at.is_(None))).one()
        assert _utc(newest.expires_at) <= _utc(started) + dt.timedelta(minutes=1, seconds=5)
        s.execute(update(RefreshToken).values(family_started_at=started - dt.timedelta(minutes=61),
                                              expires_at=started - dt.timedelta(minutes=1)))
    assert gw.post("/v1/auth/refresh", json={"refresh_token": token}).status_code == 401


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def test_a_role_change_ends_tokens_issued_under_the_old_role(gw: FlaskClient) -> None:
    owner = signup(gw)
    admin = _add(gw, owner["access_token"], f"demoted-{owner['email']}", "admin")
    session = _login(gw, admin["email"])
    assert gw.get("/v1/users", headers=bearer(session["access_token"])).status_code == 200
    assert gw.patch(f"/v1/users/{admin['id']}", json={"role": "viewer"},
                    headers=bearer(owner["access_token"])).status_code == 200
    assert gw.get("/v1/me", headers=bearer(session["access_token"])).status_code == 401  # the admin token is dead
    viewer = _login(gw, admin["email"])
    assert gw.get("/v1/me", headers=bearer(viewer["access_token"])).status_code == 200
    assert gw.get("/v1/users", headers=bearer(viewer["access_token"])).status_code == 403


def test_other_gateway_processes_see_a_deactivation_within_the_ttl(make_gateway: Callable[..., Flask]) -> None:
    shared = {"CRM_USER_STATUS_TTL_SECONDS": "0.3", "CRM_JWT_SECRET": "s" * 48}
    here, there = make_gateway(**shared).test_client(), make_gateway(**shared).test_client()  # one database
    owner = signup(here)
    member = _add(here, owner["access_token"], f"m-{owner['email']}", "member")
    token = _login(here, member["email"])["access_token"]
    assert there.get("/v1/me", headers=bearer(token)).status_code == 200  # its cache now holds the user
    assert here.patch(f"/v1/users/{member['id']}", json={"active": False},
                      headers=bearer(owner["access_token"])).status_code == 200
    assert here.get("/v1/me", headers=bearer(token)).status_code == 401  # at once where it was made
    time.sleep(0.4)
    assert there.get("/v1/me", headers=bearer(token)).status_code == 401  # within the TTL elsewhere


def test_every_active_user_sees_the_directory_of_their_own_tenant_only(gw: FlaskClient) -> None:
    owner, other = signup(gw), signup(gw)
    member = _add(gw, owner["access_token"], f"member-{owner['email']}", "member")
    gone = _add(gw, owner["access_token"], f"gone-{owner['email']}", "viewer")
    assert gw.patch(f"/v1/users/{gone['id']}", json={"active": False}, headers=bearer(owner["access_token"])).status_code == 200
    token = _login(gw, member["email"])["access_token"]  # a member: /v1/users is refused, the directory is not
    assert gw.get("/v1/users", headers=bearer(token)).status_code == 403
    listed = gw.get("/v1/users/directory", headers=bearer(token)).get_json()["data"]
    assert {u["id"] for u in listed} == {owner["user"]["id"], member["id"]}  # active users only
    assert set(listed[0]) == {"id", "name", "email"}
    theirs = gw.get("/v1/users/directory", headers=bearer(other["access_token"])).get_json()["data"]
    assert [u["id"] for u in theirs] == [other["user"]["id"]]  # never another tenant's users
    reader = gw.post("/v1/api-keys", json={"name": "r", "scopes": ["tickets:read"]}, headers=bearer(owner["access_token"])).get_json()
    assert gw.get("/v1/users/directory", headers=bearer(reader["key"])).status_code == 403
    admin_key = gw.post("/v1/api-keys", json={"name": "a", "scopes": ["admin"]}, headers=bearer(owner["access_token"])).get_json()
    assert len(gw.get("/v1/users/directory", headers=bearer(admin_key["key"])).get_json()["data"]) == 2
    assert gw.get("/v1/users/directory").status_code == 401


def test_a_cookie_rotated_moments_ago_rotates_again_a_body_token_never(make_gateway: Callable[..., Flask]) -> None:
    """Two console tabs refreshing at once (or a reload that lost the new cookie) must not end the
    login; the same replay with the token in a body, or after the grace, is a leak and ends it."""
    app = make_gateway(CRM_REFRESH_COOKIE_REUSE_SECONDS="30")
    gw = app.test_client()
    owner = signup(gw)
    token = owner["refresh_token"]
    gw.set_cookie("crm_refresh", token, path="/v1/auth")
    first = gw.post("/v1/auth/refresh", json={"refresh_in_cookie": True})
    gw.set_cookie("crm_refresh", token, path="/v1/auth")  # the other tab still holds the old cookie
    second = gw.post("/v1/auth/refresh", json={"refresh_in_cookie": True})
    assert first.status_code == 200 and second.status_code == 200
    # In a body the same replay is a leak: the whole login ends
    assert gw.post("/v1/auth/refresh", json={"refresh_token": token}).status_code == 401
    gw.set_cookie("crm_refresh", first.headers["Set-Cookie"].split(";")[0].split("=", 1)[1], path="/v1/auth")
    assert gw.post("/v1/auth/refresh", json={"refresh_in_cookie": True}).status_code == 401
    gw.delete_cookie("crm_refresh", path="/v1/auth")
    other = _login(gw, owner["email"], owner["password"])
    rotated = gw.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}).get_json()["refresh_token"]
    with database(app).transaction() as s:
        s.execute(update(RefreshToken).where(RefreshToken.used_at.is_not(None))
                  .values(used_at=utcnow() - dt.timedelta(seconds=31)))
    gw.set_cookie("crm_refresh", other["refresh_token"], path="/v1/auth")
    assert gw.post("/v1/auth/refresh", json={"refresh_in_cookie": True}).status_code == 401  # past the grace
    gw.delete_cookie("crm_refresh", path="/v1/auth")
    assert gw.post("/v1/auth/refresh", json={"refresh_token": rotated}).status_code == 401  # the login ended
