"""Signup email verification through the mail request path (crm.mail.send_requested in the
gateway's outbox), the verify and resend endpoints, invitation emails, and the unverified grace."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from gwtest import bearer, database, link_token, outbox_events, sent_mail, signup, verification_token
from sqlalchemy import select, text, update

import gateway
from crm_db.database import Database
from crm_db.migrate import upgrade
from crm_runtime.service import migrations_dir
from gateway.models import User

PUBLIC = "https://crm.example.test"


def _set_user(app: Flask, email: str, **values: object) -> None:
    with database(app).transaction() as session:
        session.execute(update(User).where(User.email == email).values(**values))


def test_signup_emails_a_verification_link_that_verifies(make_any_gateway: Callable[..., Flask]) -> None:
    app = make_any_gateway(CRM_PUBLIC_URL=PUBLIC + "/")
    gw = app.test_client()
    owner = signup(gw)
    assert set(owner) >= {"access_token", "refresh_token", "token_type", "expires_in", "tenant", "user"}
    assert owner["user"]["email_verified"] is False
    assert gw.get("/v1/me", headers=bearer(owner["access_token"])).get_json()["user"]["email_verified"] is False
    [mail] = sent_mail(app, owner["email"])
    data = mail["data"]
    assert mail["tenant_id"] == owner["tenant"]["id"]
    assert (data["purpose"], data["subject"]) == ("transactional", "Verify your email for Acme")
    assert data["to"] == [{"address": owner["email"]}] and data["refers_to"] == {"type": "user", "id": owner["user"]["id"]}
    token = link_token(mail)
    # The link opens the web console's screen, whose button POSTs the token (as the GET page below does)
    assert f"{PUBLIC}/verify-email?token={token}" in data["text"] and token in data["html"]
    assert "/v1/auth/verify-email" not in data["text"]
    assert outbox_events(app, "crm.tenant.created")[0]["subject"] == owner["tenant"]["id"]  # the mailbox comes from it
    with database(app).transaction() as session:  # only the hash is kept
        row = session.scalars(select(User).where(User.email == owner["email"])).one()
        assert row.email_verification_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.email_verification_expires_at is not None and row.email_verified_at is None

    # Opening the link (a person, or a mail scanner that opens every link) verifies nothing yet...
    page = gw.get(f"/v1/auth/verify-email?token={token}", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Confirm that" in page.get_data(as_text=True) and owner["email"] in page.get_data(as_text=True)
    peek = gw.get(f"/v1/auth/verify-email?token={token}")
    assert peek.get_json() == {"user_id": owner["user"]["id"], "email": owner["email"], "email_verified": False}
    assert gw.get("/v1/me", headers=bearer(owner["access_token"])).get_json()["user"]["email_verified"] is False
    assert outbox_events(app, "crm.user.updated") == []
    # ...the page's button (a form POST) does.
    page = gw.post("/v1/auth/verify-email", data={"token": token}, headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Email verified" in page.get_data(as_text=True) and owner["email"] in page.get_data(as_text=True)
    me = gw.get("/v1/me", headers=bearer(owner["access_token"])).get_json()
    assert me["user"]["email_verified"] is True
    [updated] = outbox_events(app, "crm.user.updated")
    assert updated["data"]["email_verified"] is True and updated["subject"] == owner["user"]["id"]
    # The same link again: the same answer (JSON for a non-browser), nothing changes.
    again = gw.post("/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 200
    assert again.get_json() == {"user_id": owner["user"]["id"], "email": owner["email"], "email_verified": True}
    assert len(outbox_events(app, "crm.user.updated")) == 1


def test_bad_tokens_are_400_and_expired_ones_410_naming_token(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway()
    gw = app.test_client()
    owner = signup(gw)
    for resp in (gw.post("/v1/auth/verify-email", json={"token": "nope"}), gw.get("/v1/auth/verify-email?token=nope"),
                 gw.get("/v1/auth/verify-email"), gw.get("/v1/auth/verify-email?token=" + "x" * 201)):
        assert resp.status_code == 400 and resp.content_type == "application/problem+json"
        assert list(resp.get_json()["errors"]) == ["token"]
    missing = gw.post("/v1/auth/verify-email", json={})
    assert missing.status_code == 422 and list(missing.get_json()["errors"]) == ["token"]
    _set_user(app, owner["email"], email_verification_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    expired = gw.post("/v1/auth/verify-email", json={"token": verification_token(app, owner["email"])})
    assert expired.status_code == 410 and list(expired.get_json()["errors"]) == ["token"]
    assert "resend" in expired.get_json()["detail"]


def test_resend_replaces_the_token_and_is_rate_limited(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway(CRM_RATE_LIMIT_VERIFY_RESEND_BURST="2", CRM_RATE_LIMIT_VERIFY_RESEND_RATE="0.0001")
    gw = app.test_client()
    owner = signup(gw)
    auth = bearer(owner["access_token"])
    first = verification_token(app, owner["email"])
    resent = gw.post("/v1/auth/verify-email/resend", headers=auth)
    assert resent.status_code == 202 and resent.get_json()["email"] == owner["email"]
    second = verification_token(app, owner["email"])
    assert second != first and len(sent_mail(app, owner["email"])) == 2
    assert gw.post("/v1/auth/verify-email", json={"token": first}).status_code == 400  # replaced
    assert gw.post("/v1/auth/verify-email/resend", headers=auth).status_code == 202
    limited = gw.post("/v1/auth/verify-email/resend", headers=auth)
    assert limited.status_code == 429 and limited.content_type == "application/problem+json"
    assert gw.post("/v1/auth/verify-email", json={"token": verification_token(app, owner["email"])}).status_code == 200
    assert gw.post("/v1/auth/verify-email/resend").status_code == 401
    key = gw.post("/v1/api-keys", json={"name": "k", "scopes": ["contacts:read"]}, headers=auth).get_json()["key"]
    assert gw.post("/v1/auth/verify-email/resend", headers=bearer(key)).status_code == 403


def test_resend_when_verified_is_409(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway()
    gw = app.test_client()
    owner = signup(gw)
    assert gw.post("/v1/auth/verify-email", json={"token": verification_token(app, owner["email"])}).status_code == 200
    done = gw.post("/v1/auth/verify-email/resend", headers=bearer(owner["access_token"]))
    assert done.status_code == 409 and list(done.get_json()["errors"]) == ["email"]


def test_an_unverified_account_past_its_grace_cannot_sign_in_until_verified(make_any_gateway: Callable[..., Flask]) -> None:
    app = make_any_gateway(CRM_UNVERIFIED_ACCOUNT_DAYS="7")
    gw = app.test_client()
    owner = signup(gw)
    login = {"email": owner["email"], "password": owner["password"]}
    assert gw.post("/v1/auth/token", json=login).status_code == 200  # within the grace
    _set_user(app, owner["email"], created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8))
    refused = gw.post("/v1/auth/token", json=login)
    assert refused.status_code == 403 and refused.content_type == "application/problem+json"
    body = refused.get_json()
    assert body["reason"] == "email_not_verified" and "/v1/auth/verify-email/resend" in body["detail"]
    assert len(sent_mail(app, owner["email"])) == 2  # the way back in: a fresh link, since it can't ask for one
    assert gw.post("/v1/auth/refresh", json={"refresh_token": owner["refresh_token"]}).status_code == 403
    assert gw.post("/v1/auth/token", json={**login, "password": "wrong password!"}).status_code == 401
    assert gw.post("/v1/auth/verify-email", json={"token": verification_token(app, owner["email"])}).status_code == 200
    assert gw.post("/v1/auth/token", json=login).status_code == 200
    assert gw.post("/v1/auth/refresh", json={"refresh_token": owner["refresh_token"]}).status_code == 200


def test_invitations_are_emailed_and_accepting_verifies(make_any_gateway: Callable[..., Flask]) -> None:
    app = make_any_gateway(CRM_PUBLIC_URL=PUBLIC)
    gw = app.test_client()
    owner = signup(gw)
    auth = bearer(owner["access_token"])
    invited = gw.post("/v1/users", json={"email": "new@example.com", "role": "member", "name": "Nina"}, headers=auth)
    assert invited.status_code == 201 and invited.get_json()["email_verified"] is False
    [mail] = sent_mail(app, "new@example.com")
    assert mail["data"]["to"] == [{"address": "new@example.com", "name": "Nina"}]
    assert mail["data"]["purpose"] == "transactional" and mail["data"]["subject"] == "You're invited to Acme"
    assert mail["data"]["refers_to"] == {"type": "user", "id": invited.get_json()["id"]}
    token = link_token(mail, "/accept-invitation")
    assert token == invited.get_json()["invitation_token"] and f"{PUBLIC}/accept-invitation?token=" in mail["data"]["text"]
    accepted = gw.post("/v1/auth/invitations/accept", json={"invitation_token": token, "password": "a long password"})
    assert accepted.status_code == 200
    me = gw.get("/v1/me", headers=bearer(accepted.get_json()["access_token"])).get_json()
    assert me["user"]["email_verified"] is True
    assert outbox_events(app, "crm.user.updated")[-1]["data"]["email_verified"] is True
    # A password set by an admin proves nothing about the address: that user verifies too.
    made = gw.post("/v1/users", json={"email": "pw@example.com", "role": "member", "password": "set by admin!"},
                   headers=auth)
    assert made.status_code == 201 and "invitation_token" not in made.get_json()
    assert gw.post("/v1/auth/verify-email", json={"token": verification_token(app, "pw@example.com")}).status_code == 200


def test_names_become_one_line_subjects_and_escaped_html(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway()
    gw = app.test_client()
    resp = gw.post("/v1/signup", json={"company": "Evil\r\nBcc: x@y.z <b>", "email": "n@example.com",
                                       "password": "long enough pw"})
    assert resp.status_code == 201
    [mail] = sent_mail(app, "n@example.com")
    assert mail["data"]["subject"] == "Verify your email for Evil Bcc: x@y.z <b>"
    assert "<b>" not in mail["data"]["html"] and "&lt;b&gt;" in mail["data"]["html"]


def test_addresses_mail_cannot_go_to_are_refused_naming_email(gw: object) -> None:
    for email in ('"a,b"@example.com', '"a b"@example.com'):
        resp = gw.post("/v1/signup", json={"company": "A", "email": email, "password": "long enough pw"})  # type: ignore[attr-defined]
        assert resp.status_code == 422 and list(resp.get_json()["errors"]) == ["email"], email


def test_migration_counts_existing_users_as_verified(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(migrations_dir(gateway.__file__), url, "0004")
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, name, created_at) VALUES ('00000000000000000000000000000001', 'Old', "
                          "'2024-01-02 03:04:05')"))
        conn.execute(text("INSERT INTO users (id, tenant_id, email, role, created_at) VALUES "
                          "('00000000000000000000000000000002', '00000000000000000000000000000001', 'o@example.com', "
                          "'owner', '2024-01-02 03:04:05')"))
    upgrade(migrations_dir(gateway.__file__), url)
    with db.engine.connect() as conn:
        verified = conn.execute(text("SELECT email_verified_at FROM users")).scalar_one()
    assert str(verified).startswith("2024-01-02 03:04:05")
    db.engine.dispose()
