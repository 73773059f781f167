"""The customer portal and CSAT end to end on the whole platform (PostgreSQL under RLS, Kafka,
every worker a process, real SMTP to an aiosmtpd relay), through the gateway as a browser and an
API client use it: a sign-in link by email, the link signing in (cookie and bearer), the
customer's tickets, opening one, the survey mailed on resolve and answered once; and tenant B's
mailbox, staff API and reports knowing none of it.
"""

from __future__ import annotations

import datetime as dt
import email
import re
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert

from crm_testing.platform import Platform, start_platform, wait_for, wait_for_json
from crm_testing.smtp import SmtpSink
from tickets.models.portal import PortalMailbox

pytestmark = pytest.mark.integration

LINK = re.compile(r"https?://[^\s\"<>]+")


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str,
             sink: SmtpSink) -> Iterator[Platform]:
    mail = {"CRM_SMTP_URL": sink.url, "CRM_MAIL_RETRY_BASE_SECONDS": "0", "CRM_MAIL_SMTP_TIMEOUT_SECONDS": "5"}
    p = start_platform(Path(tmp_path_factory.mktemp("portalflow")), pg_admin_url=pg_admin_url,
                       kafka_bootstrap=kafka_bootstrap, service_extra={"mail": mail})
    try:
        p.start_workers()
        yield p
    finally:
        p.close()


def _tenant(platform: Platform, company: str) -> dict[str, Any]:
    """A signed-up tenant whose portal mailbox is known to the tickets service (written straight
    to portal_mailboxes, as the kb area's consumer of the mail service's mailbox events does)."""
    t = platform.signup(company)
    addresses = platform.request("GET", "/v1/mail/addresses", token=t["access_token"])
    assert addresses.status == 200, addresses.data
    box = addresses.json()["mailbox"]
    engine = create_engine(platform.services["tickets"].settings.database_owner_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(PortalMailbox.__table__).values(name=box, tenant_id=uuid.UUID(t["tenant"]["id"]),
                                                                updated_at=dt.datetime.now(dt.UTC)))
    finally:
        engine.dispose()
    return {**t, "mailbox": box}


@pytest.fixture(scope="module")
def a(platform: Platform) -> dict[str, Any]:
    return _tenant(platform, "Portal A")


@pytest.fixture(scope="module")
def b(platform: Platform) -> dict[str, Any]:
    return _tenant(platform, "Portal B")


def _mail(sink: SmtpSink, to: str, subject: str, timeout: float = 240.0) -> EmailMessage:
    def find() -> EmailMessage | None:
        for r in list(sink.messages):
            msg = email.message_from_bytes(r.data, policy=default)
            if to.lower() in [x.lower() for x in r.rcpt_tos] and subject in str(msg["Subject"]):
                return msg  # type: ignore[return-value]
        return None

    return wait_for(find, timeout=timeout, what=f"mail to {to} ({subject})")


def _link(msg: EmailMessage, part: str) -> str:
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None, msg
    return next(u for u in LINK.findall(body.get_content()) if f"/{part}/" in u)


def _open(platform: Platform, method: str, path: str, **kwargs: Any) -> Any:
    return platform.http.request(method, platform.gateway_url + path, retries=False, redirect=False, **kwargs)


def test_login_link_by_email_signs_in(platform: Platform, sink: SmtpSink, a: dict[str, Any], b: dict[str, Any]) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}@example.com"
    staff = platform.request("POST", "/v1/tickets", {"subject": "Printer on fire", "requester_email": customer},
                             token=a["access_token"])
    assert staff.status == 201, staff.data
    box = a["mailbox"]
    asked = _open(platform, "POST", f"/portal/{box}/login", json={"email": customer})
    stranger = _open(platform, "POST", f"/portal/{box}/login", json={"email": f"x{customer}"})
    assert asked.status == stranger.status == 202 and asked.data == stranger.data, asked.data

    msg = _mail(sink, customer, "sign-in link")
    link = _link(msg, "session")
    assert link.startswith(f"{platform.gateway_url}/portal/{box}/session/"), link
    # What a person does: open the link (nothing happens yet), press the page's button.
    page = platform.http.request("GET", link, headers={"Accept": "text/html"}, retries=False)
    assert page.status == 200, page.data
    html_text = page.data.decode()
    action = re.search(r'action="([^"]+)"', html_text).group(1)
    token = re.search(r'name="token" value="([^"]+)"', html_text).group(1)
    signed = _open(platform, "POST", action, fields={"token": token}, encode_multipart=False,
                   headers={"Accept": "text/html"})
    assert signed.status == 303 and signed.headers["Location"] == f"/portal/{box}/tickets", signed.data
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and f"Path=/portal/{box}/" in cookie
    session = cookie.split(";", 1)[0]  # crm_portal=cps_...
    assert session.startswith("crm_portal=cps_")

    listed = _open(platform, "GET", f"/portal/{box}/tickets", headers={"Cookie": session})
    assert listed.status == 200, listed.data
    assert [t["subject"] for t in listed.json()["data"]] == ["Printer on fire"]
    again = _open(platform, "POST", action, fields={"token": token}, encode_multipart=False)
    assert again.status == 410  # the link worked once

    bearer = {"Authorization": f"Bearer {session.split('=', 1)[1]}"}
    opened = _open(platform, "POST", f"/portal/{box}/tickets", json={"subject": "Second", "text": "Also the fax"},
                   headers=bearer)
    assert opened.status == 201, opened.data
    number = opened.json()["number"]
    staff_view = platform.request("GET", "/v1/tickets?limit=200", token=a["access_token"]).json()["data"]
    created = next(t for t in staff_view if t["number"] == number)
    assert created["channel"] == "portal" and created["requester_email"] == customer

    # Tenant B: A's session means nothing at B's mailbox, and a portal session is no staff token.
    assert _open(platform, "GET", f"/portal/{b['mailbox']}/tickets", headers=bearer).status == 401
    assert _open(platform, "GET", f"/portal/{b['mailbox']}/tickets", headers={"Cookie": session}).status == 401
    assert _open(platform, "GET", "/v1/tickets", headers=bearer).status == 401
    b_tickets = platform.request("GET", "/v1/tickets?limit=200", token=b["access_token"]).json()["data"]
    assert not {t["id"] for t in b_tickets} & {created["id"], staff.json()["id"]}

    # CSAT: resolving mails a survey; its answer lands in A's reports only.
    resolved = platform.request("PATCH", f"/v1/tickets/{created['id']}", {"status": "resolved"}, token=a["access_token"])
    assert resolved.status == 200, resolved.data
    survey = _link(_mail(sink, customer, "How did we do?"), "csat")
    path = survey[len(platform.gateway_url):]
    b_path = path.replace(f"/portal/{box}/", f"/portal/{b['mailbox']}/")
    assert _open(platform, "POST", b_path, json={"rating": 1}).status == 404  # A's token at B
    answered = _open(platform, "POST", path, json={"rating": 5, "comment": "Great"})
    assert answered.status == 201, answered.data
    assert _open(platform, "POST", path, json={"rating": 1}).status == 409
    rows = wait_for_json(platform, "/v1/csat/responses", a["access_token"], lambda body: body["data"], timeout=60)["data"]
    assert [(r["ticket_id"], r["rating"]) for r in rows] == [(created["id"], 5)]
    assert platform.request("GET", "/v1/csat/responses", token=b["access_token"]).json()["data"] == []
    summary = platform.request("GET", "/v1/csat/summary?group_by=agent", token=a["access_token"]).json()
    assert summary["total"] == {"count": 1, "average": 5.0, "satisfied_share": 1.0}

    out = _open(platform, "DELETE", f"/portal/{box}/session", headers={"Cookie": session})
    assert out.status == 204
    assert _open(platform, "GET", f"/portal/{box}/tickets", headers=bearer).status == 401
