"""Portal sign-in: the login request answers alike for every address, mails a single-use expiring
link to known requesters only (rate-limited per address), the link opens a session (cookie and
bearer), sign-out revokes it; sessions and links are tenant-scoped and never staff tokens."""

from __future__ import annotations

import datetime as dt

from portal_helpers import (
    ask_link,
    bearer,
    last_link,
    mailbox,
    mails_to,
    new_client,
    public,
    sign_in,
    staff_ticket,
)
from sqlalchemy import select, update

from crm_core.context import tenant_context
from crm_core.ids import secret_hash
from crm_testing.apps import ServiceHarness
from tickets.models.portal import PortalLoginLink, PortalSession


def test_login_answers_alike_and_mails_only_known_requesters(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    staff_ticket(svc, "a", "ann@example.com")  # stored lower-cased (the core area normalises)
    known = svc.client.post(f"/portal/{box}/login", json={"email": " ANN@example.com "}, headers=public(svc))
    unknown = svc.client.post(f"/portal/{box}/login", json={"email": "nobody@example.com"}, headers=public(svc))
    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json()
    mails = mails_to(svc, "ann@example.com")
    assert len(mails) == 1 and not mails_to(svc, "nobody@example.com")
    mail = mails[0]
    assert mail["from"] == {"support": True} and mail["purpose"] == "transactional"
    assert f"/portal/{box}/session/" in mail["text"]
    token = last_link(svc, "ann@example.com", "session")
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        stored = session.scalars(select(PortalLoginLink)).all()
        assert [r.token_hash for r in stored] == [secret_hash(token)]  # only the hash is kept
    bad = svc.client.post(f"/portal/{box}/login", json={"email": "not an address"}, headers=public(svc))
    assert bad.status_code == 422 and "email" in bad.get_json()["errors"]
    missing = svc.client.post(f"/portal/{box}/login", json={}, headers=public(svc))
    assert missing.status_code == 422 and "email" in missing.get_json()["errors"]
    assert svc.client.post("/portal/no-such-box/login", json={"email": "ann@example.com"},
                           headers=public(svc)).status_code == 404


def test_login_is_rate_limited_per_address(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    staff_ticket(svc, "a", "flood@example.com")
    staff_ticket(svc, "a", "calm@example.com")
    for _ in range(8):
        ask_link(svc.client, svc, box, "flood@example.com")  # still 202 every time
    assert len(mails_to(svc, "flood@example.com")) == 5  # CRM_PORTAL_LOGIN_LIMIT's default
    ask_link(svc.client, svc, box, "calm@example.com")
    assert len(mails_to(svc, "calm@example.com")) == 1  # another address has its own budget


def test_link_signs_in_once_and_session_works_by_cookie_and_bearer(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    staff_ticket(svc, "a", "ann@example.com")
    client = new_client(svc)
    ask_link(client, svc, box, "ann@example.com")
    token = last_link(svc, "ann@example.com", "session")
    # Opening the link (a mail scanner does) signs nobody in and spends nothing.
    opened = client.get(f"/portal/{box}/session/{token}", headers=public(svc, Accept="application/json"))
    assert opened.status_code == 200 and opened.get_json()["valid"] is True
    page = client.get(f"/portal/{box}/session/{token}", headers=public(svc, Accept="text/html"))
    assert page.status_code == 200 and 'name="token"' in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    resp = client.post(f"/portal/{box}/session", json={"token": token}, headers=public(svc))
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["email"] == "ann@example.com" and body["token"].startswith("cps_")
    cookie = resp.headers["Set-Cookie"]
    assert "crm_portal=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert f"Path=/portal/{box}/" in cookie and "Secure" not in cookie  # http public URL in tests
    # The cookie alone (the browser) and the bearer alone (an API client) both work.
    assert client.get(f"/portal/{box}/session", headers=public(svc)).get_json()["email"] == "ann@example.com"
    assert svc.client.get(f"/portal/{box}/session", headers=bearer(svc, body["token"])).status_code == 200
    assert svc.client.get(f"/portal/{box}/session",
                          headers=public(svc, **{"X-Portal-Session": body["token"]})).status_code == 200
    assert svc.client.get(f"/portal/{box}/session", headers=public(svc)).status_code == 401  # no credential
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        assert session.scalars(select(PortalSession.token_hash)).all() == [secret_hash(body["token"])]
    again = client.post(f"/portal/{box}/session", json={"token": token}, headers=public(svc))
    assert again.status_code == 410 and "token" in again.get_json()["errors"]  # single use
    assert client.get(f"/portal/{box}/session/{token}", headers=public(svc)).status_code == 410
    forged = client.post(f"/portal/{box}/session", json={"token": token[:-3] + "xyz"}, headers=public(svc))
    assert forged.status_code == 404


def test_html_form_flow_redirects_and_sets_cookie(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    staff_ticket(svc, "a", "ann@example.com", subject="Printer")
    client = new_client(svc)
    form = client.get(f"/portal/{box}/login", headers=public(svc, Accept="text/html"))
    assert form.status_code == 200 and '<label for="email">' in form.get_data(as_text=True)
    sent = client.post(f"/portal/{box}/login", data={"email": "ann@example.com"}, headers=public(svc, Accept="text/html"))
    assert sent.status_code == 202 and "sign-in link" in sent.get_data(as_text=True)
    token = last_link(svc, "ann@example.com", "session")
    done = client.post(f"/portal/{box}/session", data={"token": token}, headers=public(svc, Accept="text/html"))
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/portal/{box}/tickets")
    listing = client.get(f"/portal/{box}/tickets", headers=public(svc, Accept="text/html"))
    assert listing.status_code == 200 and "Printer" in listing.get_data(as_text=True)
    out = client.post(f"/portal/{box}/session/logout", headers=public(svc, Accept="text/html"))
    assert out.status_code == 303
    after = new_client(svc).get(f"/portal/{box}/tickets", headers=public(svc, Accept="text/html"))
    assert after.status_code == 303 and after.headers["Location"].endswith(f"/portal/{box}/login")


def test_expired_link_and_session(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    staff_ticket(svc, "a", "ann@example.com")
    ask_link(svc.client, svc, box, "ann@example.com")
    token = last_link(svc, "ann@example.com", "session")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        session.execute(update(PortalLoginLink).values(expires_at=past))
    resp = svc.client.post(f"/portal/{box}/session", json={"token": token}, headers=public(svc))
    assert resp.status_code == 410 and "expired" in resp.get_json()["detail"]
    session_token = sign_in(svc, box, "ann@example.com")
    assert svc.client.get(f"/portal/{box}/tickets", headers=bearer(svc, session_token)).status_code == 200
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        session.execute(update(PortalSession).values(expires_at=past))
    assert svc.client.get(f"/portal/{box}/tickets", headers=bearer(svc, session_token)).status_code == 401


def test_sign_out_revokes(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    staff_ticket(svc, "a", "ann@example.com")
    token = sign_in(svc, box, "ann@example.com")
    out = svc.client.delete(f"/portal/{box}/session", headers=bearer(svc, token))
    assert out.status_code == 204 and "crm_portal=;" in out.headers["Set-Cookie"]
    assert svc.client.get(f"/portal/{box}/session", headers=bearer(svc, token)).status_code == 401
    assert svc.client.get(f"/portal/{box}/tickets", headers=bearer(svc, token)).status_code == 401


def test_sessions_and_links_are_tenant_scoped(tickets_service: ServiceHarness) -> None:
    """A session and a link of tenant A are unknown at tenant B's mailbox, even for the same email."""
    svc = tickets_service
    box_a, box_b = mailbox(svc, "a"), mailbox(svc, "b")
    staff_ticket(svc, "a", "ann@example.com", subject="A's ticket")
    staff_ticket(svc, "b", "ann@example.com", subject="B's ticket")
    token_a = sign_in(svc, box_a, "ann@example.com")
    assert svc.client.get(f"/portal/{box_b}/session", headers=bearer(svc, token_a)).status_code == 401
    assert svc.client.get(f"/portal/{box_b}/tickets", headers=bearer(svc, token_a)).status_code == 401
    assert svc.client.get(f"/portal/{box_b}/tickets/1001", headers=bearer(svc, token_a)).status_code == 401
    ask_link(svc.client, svc, box_a, "ann@example.com")
    link_a = last_link(svc, "ann@example.com", "session")
    assert svc.client.post(f"/portal/{box_b}/session", json={"token": link_a}, headers=public(svc)).status_code == 404
    assert svc.client.get(f"/portal/{box_b}/session/{link_a}", headers=public(svc)).status_code == 404
    listed = svc.client.get(f"/portal/{box_a}/tickets", headers=bearer(svc, token_a)).get_json()["data"]
    assert [t["subject"] for t in listed] == ["A's ticket"]


def test_staff_endpoints_reject_portal_credentials(tickets_service: ServiceHarness) -> None:
    """A portal session is no staff token: on /v1 the caller stays the public principal."""
    svc = tickets_service
    box = mailbox(svc, "a")
    ticket = staff_ticket(svc, "a", "ann@example.com")
    token = sign_in(svc, box, "ann@example.com")
    for path in ("/v1/tickets", f"/v1/tickets/{ticket['id']}", "/v1/csat/responses", "/v1/csat/summary"):
        resp = svc.client.get(path, headers=bearer(svc, token))
        assert resp.status_code in (403, 404), (path, resp.status_code)
    assert svc.client.post("/v1/tickets", json={"subject": "x"}, headers=bearer(svc, token)).status_code in (403, 404)
    # Without the gateway's internal token nothing is served at all, portal cookie or not.
    assert svc.client.get(f"/portal/{box}/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 401
