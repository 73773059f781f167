"""An unverified account never keeps the address's real owner from signing up or being invited:
a squatter signs up with the victim's address first; the victim still signs up, verifies, signs
in to their own tenant, and accepts another tenant's invitation; the squatter gets nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from gwtest import bearer, database, link_token, sent_mail
from sqlalchemy import update

from gateway.models import User

VICTIM = "victim@example.com"


def _signup(gw: FlaskClient, company: str, password: str, email: str = VICTIM) -> dict[str, Any]:
    resp = gw.post("/v1/signup", json={"company": company, "email": email, "password": password})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def _victims_link(app: Flask, user_id: str) -> str:
    """What the victim finds in their inbox: the email about their own account."""
    [mail] = [m for m in sent_mail(app, VICTIM) if m["data"]["refers_to"] == {"type": "user", "id": user_id}
              and "/verify-email?token=" in m["data"]["text"]]
    return link_token(mail)


def _me(gw: FlaskClient, token: str) -> dict[str, Any]:
    return gw.get("/v1/me", headers=bearer(token)).get_json()


def test_a_squatter_never_blocks_or_reaches_the_address_owner(make_any_gateway: Callable[..., Flask]) -> None:
    app = make_any_gateway(CRM_RATE_LIMIT_ANONYMOUS_BURST="100")
    gw = app.test_client()
    squatter = _signup(gw, "Squat Inc", "squatter's password")
    assert squatter["user"]["email_verified"] is False
    # The squatter has no token: it went to the victim's mailbox, and asking again sends it there too.
    assert gw.post("/v1/auth/verify-email/resend", headers=bearer(squatter["access_token"])).status_code == 202
    assert {r["address"] for m in sent_mail(app) for r in m["data"]["to"]} == {VICTIM}

    victim = _signup(gw, "Victim Co", "victim's own password")  # the same address: no conflict
    assert victim["tenant"]["id"] != squatter["tenant"]["id"]
    token = _victims_link(app, victim["user"]["id"])
    # The victim's token used by the squatter verifies the victim's account, never the squatter's.
    used = gw.post("/v1/auth/verify-email", json={"token": token}, headers=bearer(squatter["access_token"]))
    assert used.status_code == 200 and used.get_json()["user_id"] == victim["user"]["id"]
    assert _me(gw, squatter["access_token"])["user"]["email_verified"] is False
    assert gw.get(f"/v1/auth/verify-email?token={token}").status_code == 200  # the victim's own click

    login = gw.post("/v1/auth/token", json={"email": VICTIM, "password": "victim's own password"})
    assert login.status_code == 200
    me = _me(gw, login.get_json()["access_token"])
    assert me["tenant"]["id"] == victim["tenant"]["id"] and me["user"]["email_verified"] is True
    # Never in the squatter's tenant, even when asking for it.
    aimed = gw.post("/v1/auth/token", json={"email": VICTIM, "password": "victim's own password",
                                            "tenant_id": squatter["tenant"]["id"]})
    assert aimed.status_code == 401
    # A third tenant invites the address; the victim accepts from the email.
    admin = _signup(gw, "Third Ltd", "third admin password", email="admin@third.example")
    invited = gw.post("/v1/users", json={"email": VICTIM, "role": "member"}, headers=bearer(admin["access_token"]))
    assert invited.status_code == 201
    [invitation] = [m for m in sent_mail(app, VICTIM) if "/v1/auth/invitations/accept" in m["data"]["text"]]
    accepted = gw.post("/v1/auth/invitations/accept", json={
        "invitation_token": link_token(invitation, "/accept-invitation"), "password": "victim's third pw"})
    assert accepted.status_code == 200
    there = _me(gw, accepted.get_json()["access_token"])
    assert there["tenant"]["id"] == admin["tenant"]["id"] and there["user"]["email_verified"] is True
    # The squatter's own account keeps working only for the grace period, unverified.
    assert _me(gw, squatter["access_token"])["tenant"]["id"] == squatter["tenant"]["id"]


def test_with_the_same_password_the_verified_owner_wins_and_the_squatter_expires(
        make_any_gateway: Callable[..., Flask]) -> None:
    app = make_any_gateway(CRM_RATE_LIMIT_ANONYMOUS_BURST="100", CRM_UNVERIFIED_ACCOUNT_DAYS="7")
    gw = app.test_client()
    password = "one shared password"
    squatter = _signup(gw, "Squat Inc", password)  # older: first in line by age alone
    victim = _signup(gw, "Victim Co", password)
    assert gw.post("/v1/auth/verify-email", json={"token": _victims_link(app, victim["user"]["id"])}).status_code == 200
    login = gw.post("/v1/auth/token", json={"email": VICTIM, "password": password})
    assert _me(gw, login.get_json()["access_token"])["tenant"]["id"] == victim["tenant"]["id"]
    # Past the grace the unverified account signs in no more, even by naming its tenant.
    with database(app).transaction() as session:
        session.execute(update(User).where(User.id == uuid.UUID(squatter["user"]["id"])).values(
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8)))
    stale = gw.post("/v1/auth/token", json={"email": VICTIM, "password": password,
                                            "tenant_id": squatter["tenant"]["id"]})
    assert stale.status_code == 403 and stale.get_json()["reason"] == "email_not_verified"
    assert gw.post("/v1/auth/token", json={"email": VICTIM, "password": password}).status_code == 200


def test_a_stale_unverified_account_never_stands_in_front_of_the_owners_login(
        make_any_gateway: Callable[..., Flask]) -> None:
    """Even before the owner verifies: the older, expired squatter account is passed over."""
    app = make_any_gateway(CRM_RATE_LIMIT_ANONYMOUS_BURST="100", CRM_UNVERIFIED_ACCOUNT_DAYS="7")
    gw = app.test_client()
    password = "one shared password"
    squatter = _signup(gw, "Squat Inc", password)
    with database(app).transaction() as session:
        session.execute(update(User).where(User.id == uuid.UUID(squatter["user"]["id"])).values(
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8)))
    victim = _signup(gw, "Victim Co", password)
    login = gw.post("/v1/auth/token", json={"email": VICTIM, "password": password})
    assert login.status_code == 200
    assert _me(gw, login.get_json()["access_token"])["tenant"]["id"] == victim["tenant"]["id"]
