"""Authentication and authorisation through the gateway (embedded default)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from crm_testing.platform import Platform, start_platform


@pytest.fixture(scope="module")
def embedded_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """These tests send many bad credentials on purpose, all from 127.0.0.1: give that address room
    (the throttles themselves are tested in services/gateway/tests/test_gateway_abuse.py)."""
    platform = start_platform(Path(tmp_path_factory.mktemp("auth")), CRM_RATE_LIMIT_BAD_CREDENTIALS_BURST="1000",
                              CRM_RATE_LIMIT_ANONYMOUS_BURST="1000")
    platform.start_workers()
    yield platform
    platform.close()


def test_signup_then_login_and_me(embedded_platform: Platform) -> None:
    account = embedded_platform.signup("Login Co")
    assert account["token_type"] == "Bearer" and account["expires_in"] == 900
    assert account["user"]["role"] == "owner" and account["tenant"]["name"] == "Login Co"
    resp = embedded_platform.request("POST", "/v1/auth/token", {"email": account["email"].upper(), "password": account["password"]})
    assert resp.status == 200
    me = embedded_platform.request("GET", "/v1/me", token=resp.json()["access_token"]).json()
    assert me["tenant"]["id"] == account["tenant"]["id"] and me["roles"] == ["owner"]


def test_signup_with_an_address_used_elsewhere_reveals_nothing(embedded_platform: Platform) -> None:
    """Emails are unique per tenant: a second signup is a new tenant, answered like any signup;
    the password picks the account at login (tenant_id picks when both passwords match)."""
    account = embedded_platform.signup()
    dup = embedded_platform.request("POST", "/v1/signup", {"company": "X", "email": account["email"], "password": "another long pw"})
    assert dup.status == 201, dup.data
    assert set(dup.json()) == set(account) - {"email", "password"}
    assert dup.json()["tenant"]["id"] != account["tenant"]["id"]
    first = embedded_platform.request("POST", "/v1/auth/token", {"email": account["email"], "password": account["password"]})
    second = embedded_platform.request("POST", "/v1/auth/token", {"email": account["email"], "password": "another long pw"})
    me = [embedded_platform.request("GET", "/v1/me", token=r.json()["access_token"]).json()["tenant"]["id"] for r in (first, second)]
    assert me == [account["tenant"]["id"], dup.json()["tenant"]["id"]]
    same_pw = embedded_platform.request("POST", "/v1/signup", {"company": "Y", "email": account["email"], "password": account["password"]}).json()
    chosen = embedded_platform.request("POST", "/v1/auth/token", {"email": account["email"], "password": account["password"],
                                                                  "tenant_id": same_pw["tenant"]["id"]})
    assert embedded_platform.request("GET", "/v1/me", token=chosen.json()["access_token"]).json()["tenant"]["id"] == same_pw["tenant"]["id"]


def test_bad_signup_input(embedded_platform: Platform) -> None:
    bad = embedded_platform.request("POST", "/v1/signup", {"company": "", "email": "nope", "password": "short"})
    assert bad.status == 422
    assert set(bad.json()["errors"]) == {"company", "email", "password"}
    assert bad.headers["Content-Type"] == "application/problem+json"


def test_bad_password_and_unknown_user(embedded_platform: Platform) -> None:
    account = embedded_platform.signup()
    assert embedded_platform.request("POST", "/v1/auth/token", {"email": account["email"], "password": "wrong password!"}).status == 401
    assert embedded_platform.request("POST", "/v1/auth/token", {"email": "ghost@example.com", "password": "whatever12345"}).status == 401


def test_missing_garbage_and_expired_tokens(embedded_platform: Platform) -> None:
    account = embedded_platform.signup()
    assert embedded_platform.request("GET", "/v1/contacts").status == 401
    assert embedded_platform.request("GET", "/v1/contacts", token="garbage").status == 401
    secret = embedded_platform.services["gateway"].settings.get("CRM_JWT_SECRET")
    claims = jwt.decode(account["access_token"], options={"verify_signature": False})
    expired = jwt.encode({**claims, "iat": int(time.time()) - 3600, "exp": int(time.time()) - 60}, secret, algorithm="HS256")
    resp = embedded_platform.request("GET", "/v1/contacts", token=expired)
    assert resp.status == 401 and "WWW-Authenticate" in resp.headers
    forged = jwt.encode({**claims, "role": "owner"}, "not-the-secret-" * 4, algorithm="HS256")
    assert embedded_platform.request("GET", "/v1/contacts", token=forged).status == 401
    none_alg = jwt.encode(claims, None, algorithm="none")
    assert embedded_platform.request("GET", "/v1/contacts", token=none_alg).status == 401


def test_refresh_rotates_and_reuse_ends_the_session(embedded_platform: Platform) -> None:
    account = embedded_platform.signup()
    first = embedded_platform.request("POST", "/v1/auth/refresh", {"refresh_token": account["refresh_token"]})
    assert first.status == 200
    rotated = first.json()["refresh_token"]
    assert rotated != account["refresh_token"]
    assert embedded_platform.request("POST", "/v1/auth/refresh", {"refresh_token": account["refresh_token"]}).status == 401
    # the reuse revoked the whole family, including the token the legitimate client holds
    assert embedded_platform.request("POST", "/v1/auth/refresh", {"refresh_token": rotated}).status == 401


def test_the_refresh_token_can_live_in_an_http_only_cookie(embedded_platform: Platform) -> None:
    """The web console's way: scripts never see the refresh token."""
    account = embedded_platform.signup()
    login = {"email": account["email"], "password": account["password"], "refresh_in_cookie": True}
    resp = embedded_platform.request("POST", "/v1/auth/token", login)
    assert resp.status == 200 and resp.json()["refresh_token"] is None and resp.json()["access_token"]
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("crm_refresh=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/v1/auth" in cookie and "Max-Age=" in cookie
    first = cookie.split(";")[0]
    rotated = embedded_platform.request("POST", "/v1/auth/refresh", {"refresh_in_cookie": True}, headers={"Cookie": first})
    assert rotated.status == 200 and rotated.json()["refresh_token"] is None
    second = rotated.headers["Set-Cookie"].split(";")[0]
    assert second != first
    # A cookie rotated moments ago rotates again (a second tab, or a reload that lost the answer),
    # within the same login: logging out with one of them ends them all.
    third = embedded_platform.request("POST", "/v1/auth/refresh", {"refresh_in_cookie": True}, headers={"Cookie": first})
    assert third.status == 200 and third.headers["Set-Cookie"].split(";")[0] not in (first, second)
    assert embedded_platform.request("POST", "/v1/auth/logout", {}, headers={"Cookie": second}).status == 204
    for used in (first, second, third.headers["Set-Cookie"].split(";")[0]):
        assert embedded_platform.request("POST", "/v1/auth/refresh", {}, headers={"Cookie": used}).status == 401
    # no cookie and no body token: a 422 naming the field
    resp = embedded_platform.request("POST", "/v1/auth/refresh", {})
    assert resp.status == 422 and "refresh_token" in resp.json()["errors"]

    again = embedded_platform.request("POST", "/v1/auth/token", login).headers["Set-Cookie"].split(";")[0]
    out = embedded_platform.request("POST", "/v1/auth/logout", {}, headers={"Cookie": again})
    assert out.status == 204 and "crm_refresh=;" in out.headers["Set-Cookie"]
    assert embedded_platform.request("POST", "/v1/auth/refresh", {}, headers={"Cookie": again}).status == 401


def test_api_keys_scopes_and_revocation(embedded_platform: Platform) -> None:
    owner = embedded_platform.signup()["access_token"]
    created = embedded_platform.request("POST", "/v1/api-keys", {"name": "ci", "scopes": ["contacts:read"]}, token=owner)
    assert created.status == 201
    key = created.json()["key"]
    listed = embedded_platform.request("GET", "/v1/api-keys", token=owner).json()["data"]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    assert embedded_platform.request("GET", "/v1/contacts", token=key).status == 200
    missing = embedded_platform.request("POST", "/v1/contacts", {"first_name": "x"}, token=key)
    assert missing.status == 403 and missing.json()["required_scope"] == "contacts:write"
    assert embedded_platform.request("GET", "/v1/deals", token=key).status == 403
    assert embedded_platform.request("POST", "/v1/api-keys", {"name": "x", "scopes": ["contacts:read"]}, token=key).status == 403
    assert embedded_platform.request("DELETE", f"/v1/api-keys/{created.json()['id']}", token=owner).status == 204
    assert embedded_platform.request("GET", "/v1/contacts", token=key).status == 401  # the very next request
    bad_scope = embedded_platform.request("POST", "/v1/api-keys", {"name": "x", "scopes": ["root"]}, token=owner)
    assert bad_scope.status == 422 and "scopes.0" in bad_scope.json()["errors"]


def test_roles_viewer_cannot_write_members_cannot_manage(embedded_platform: Platform) -> None:
    owner = embedded_platform.signup()["access_token"]
    suffix = str(time.time_ns())
    for role in ("viewer", "member"):
        made = embedded_platform.request("POST", "/v1/users", {"email": f"{role}-{suffix}@example.com", "name": role,
                                                               "role": role, "password": "long enough pw"}, token=owner)
        assert made.status == 201, made.data
    viewer = embedded_platform.request("POST", "/v1/auth/token", {"email": f"viewer-{suffix}@example.com", "password": "long enough pw"}).json()["access_token"]
    member = embedded_platform.request("POST", "/v1/auth/token", {"email": f"member-{suffix}@example.com", "password": "long enough pw"}).json()["access_token"]
    assert embedded_platform.request("GET", "/v1/contacts", token=viewer).status == 200
    assert embedded_platform.request("POST", "/v1/contacts", {"first_name": "x"}, token=viewer).status == 403
    assert embedded_platform.request("POST", "/v1/contacts", {"first_name": "x"}, token=member).status == 201
    assert embedded_platform.request("POST", "/v1/users", {"email": f"x-{suffix}@example.com", "role": "admin"}, token=member).status == 403
    assert embedded_platform.request("POST", "/v1/api-keys", {"name": "k", "scopes": ["contacts:read"]}, token=viewer).status == 403


def test_invitation_flow(embedded_platform: Platform) -> None:
    owner = embedded_platform.signup()["access_token"]
    email = f"invitee-{time.time_ns()}@example.com"
    made = embedded_platform.request("POST", "/v1/users", {"email": email, "role": "member"}, token=owner).json()
    assert "invitation_token" in made
    assert embedded_platform.request("POST", "/v1/auth/token", {"email": email, "password": "any password 1"}).status == 401
    accepted = embedded_platform.request("POST", "/v1/auth/invitations/accept",
                                         {"invitation_token": made["invitation_token"], "password": "chosen password"})
    assert accepted.status == 200
    assert embedded_platform.request("POST", "/v1/auth/token", {"email": email, "password": "chosen password"}).status == 200
