"""The service desk's email conversation end to end on the whole platform (PostgreSQL, Kafka, every
worker a process, the mail service's inbound SMTP server, an aiosmtpd relay): a customer's email to
the tenant's +support address opens a ticket; an agent's public reply through the gateway arrives
at the relay from the support address with the reply token in Reply-To and [#n] in the subject;
the customer's answer to that Reply-To threads back onto the same ticket as a customer message
(and reopens it from pending); tenant B sees none of it, and A's reply token sent to B's address
lands nowhere.
"""

from __future__ import annotations

import email
import email.utils
import smtplib
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_core.context import tenant_context
from crm_db.database import Database
from crm_events.tables import event_tables
from crm_testing.platform import Platform, start_platform, wait_for, wait_for_json
from crm_testing.smtp import Received, SmtpSink
from tickets.models import metadata
from tickets.service.conversations import MAIL_GROUP

# The platform of eight services, each worker a process, starts slowly on a busy machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

DOMAIN = "inbound.localhost"  # CRM_INBOUND_DOMAIN's default


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str,
             sink: SmtpSink) -> Iterator[Platform]:
    mail = {"CRM_SMTP_URL": sink.url, "CRM_MAIL_RETRY_BASE_SECONDS": "0", "CRM_MAIL_SMTP_TIMEOUT_SECONDS": "5"}
    p = start_platform(Path(tmp_path_factory.mktemp("ticketmail")), pg_admin_url=pg_admin_url,
                       kafka_bootstrap=kafka_bootstrap, service_extra={"mail": mail})
    try:
        p.start_workers()
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def inbound_smtp(platform: Platform) -> tuple[str, int]:
    return platform.start_inbound_smtp()


def _send(address: tuple[str, int], msg: EmailMessage, sender: str, to: str) -> None:
    with smtplib.SMTP(*address, timeout=10) as client:
        refused = client.sendmail(sender, [to], msg.as_bytes(policy=SMTP_POLICY))
    assert refused == {}, refused


def _message(sender: str, to: str, subject: str, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@customer.example>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def _arrived(sink: SmtpSink, to: str, subject: str, timeout: float = 60.0) -> tuple[Received, EmailMessage]:
    def find() -> tuple[Received, EmailMessage] | None:
        for r in list(sink.messages):
            msg = email.message_from_bytes(r.data, policy=default)
            if to.lower() in [a.lower() for a in r.rcpt_tos] and subject in str(msg["Subject"]):
                return r, msg  # type: ignore[return-value]
        return None

    return wait_for(find, timeout=timeout, what=f"mail to {to} at the relay")


def _get(platform: Platform, path: str, token: str, status: int = 200) -> Any:
    resp = platform.request("GET", path, token=token)
    assert resp.status == status, (path, resp.status, resp.data[:400])
    return resp.json() if status == 200 else None


def _desk_processed(platform: Platform, tenant: uuid.UUID) -> int:
    """The crm.mail.received events the tickets.mail-in consumer has processed for the tenant (the
    platform suffixes its consumer groups with its run's id)."""
    db = Database(platform.services["tickets"].settings.database_url, pool_size=1)
    processed = event_tables(metadata()).processed_events
    try:
        with tenant_context(tenant), db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(processed).where(
                processed.c.consumer.like(f"{MAIL_GROUP}%"))) or 0)
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def a(platform: Platform) -> dict[str, Any]:
    tenant = platform.signup("Desk Flow A")
    token = tenant["access_token"]
    tenant["mailbox"] = wait_for_json(platform, "/v1/mail/addresses", token, lambda body: body["mailbox"])["mailbox"]
    return tenant


@pytest.fixture(scope="module")
def b(platform: Platform) -> dict[str, Any]:
    tenant = platform.signup("Desk Flow B")
    tenant["mailbox"] = _get(platform, "/v1/mail/addresses", tenant["access_token"])["mailbox"]
    return tenant


def test_email_conversation_round_trip(platform: Platform, sink: SmtpSink, inbound_smtp: tuple[str, int],
                                       a: dict[str, Any], b: dict[str, Any]) -> None:
    token = a["access_token"]
    support = f"{a['mailbox']}+support@{DOMAIN}"
    assert _get(platform, "/v1/mail/addresses", token)["addresses"]["support"] == support
    customer = f"cust-{uuid.uuid4().hex[:8]}@example.com"

    # 1. The customer writes to the support address: a ticket (channel email, requester from From).
    # (The bound covers the workers' start: every service's worker process joins its groups first.)
    first = _message(f"Carla Customer <{customer}>", support, "Invoice is wrong", "My invoice shows 3 seats.")
    _send(inbound_smtp, first, customer, support)
    opened = wait_for_json(platform, "/v1/tickets?limit=50", token,
                           lambda body: [t for t in body["data"] if t["requester_email"] == customer], timeout=300)
    [rec] = [t for t in opened["data"] if t["requester_email"] == customer]
    assert (rec["subject"], rec["channel"], rec["status"], rec["requester_name"]) == (
        "Invoice is wrong", "email", "new", "Carla Customer")
    [msg] = _get(platform, f"/v1/tickets/{rec['id']}/messages", token)["data"]
    assert msg["kind"] == "customer" and msg["message_id"] == str(first["Message-ID"])
    assert msg["author"]["email"] == customer and "3 seats" in msg["text"]

    # 2. An agent replies through the gateway, setting the ticket pending: it arrives at the relay
    # from the support address, with the reply token in Reply-To, [#n] in the subject, threaded.
    posted = platform.request("POST", f"/v1/tickets/{rec['id']}/messages",
                              {"kind": "reply", "text": "Fixed: 2 seats from now on.", "status": "pending"},
                              token=token)
    assert posted.status == 201, posted.data
    reply = posted.json()
    received, out = _arrived(sink, customer, f"[#{rec['number']}]", timeout=180)
    assert str(out["Subject"]) == f"Re: [#{rec['number']}] Invoice is wrong"
    name, sender = email.utils.parseaddr(str(out["From"]))
    assert sender == support and name == "Desk Flow A"
    reply_to = email.utils.parseaddr(str(out["Reply-To"]))[1]
    assert reply_to.startswith(f"{a['mailbox']}+t-") and reply_to.endswith(f"@{DOMAIN}"), reply_to
    assert str(out["Message-ID"]) == reply["message_id"]
    assert str(out["In-Reply-To"]) == str(first["Message-ID"]) and str(first["Message-ID"]) in str(out["References"])
    assert "2 seats" in out.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert received.rcpt_tos == [customer]
    assert _get(platform, f"/v1/tickets/{rec['id']}", token)["status"] == "pending"

    # 3. The customer answers (to the Reply-To): threaded onto the same ticket, which reopens.
    answer = _message(customer, reply_to, f"Re: {out['Subject']}", "Thanks, looks right now.",
                      In_Reply_To=str(out["Message-ID"]), References=f"{first['Message-ID']} {out['Message-ID']}")
    _send(inbound_smtp, answer, customer, reply_to)
    thread = wait_for_json(platform, f"/v1/tickets/{rec['id']}/messages", token,
                           lambda body: len(body["data"]) == 3, timeout=180)["data"]
    assert [m["kind"] for m in thread] == ["customer", "reply", "customer"]
    assert thread[2]["message_id"] == str(answer["Message-ID"]) and "looks right" in thread[2]["text"]
    assert _get(platform, f"/v1/tickets/{rec['id']}", token)["status"] == "open"
    assert len([t for t in _get(platform, "/v1/tickets?limit=50", token)["data"]
                if t["requester_email"] == customer]) == 1

    # 4. Tenant B: none of it is visible, and A's reply token sent to B's address lands nowhere.
    tb = b["access_token"]
    assert _get(platform, f"/v1/tickets/{rec['id']}/messages", tb, status=404) is None
    assert platform.request("POST", f"/v1/tickets/{rec['id']}/messages", {"kind": "note", "text": "x"},
                            token=tb).status == 404
    token_part = reply_to.split("+t-", 1)[1].split("@", 1)[0]
    crossed = f"{b['mailbox']}+t-{token_part}@{DOMAIN}"
    probe = _message(customer, crossed, f"Re: {out['Subject']}", "cross-tenant probe",
                     In_Reply_To=str(out["Message-ID"]))
    _send(inbound_smtp, probe, customer, crossed)
    # B's mail service stores it (it was addressed to B) ...
    wait_for_json(platform, "/v1/mail/inbound?tag=t", tb,
                  lambda body: any(m["message_id"] == str(probe["Message-ID"]) for m in body["data"]), timeout=180)
    # ... and once the desk has taken it and an email of B's own (both events processed), neither
    # tenant has the probe: B has only its own request.
    marker = _message(customer, f"{b['mailbox']}+support@{DOMAIN}", "B's own request", "hello B")
    _send(inbound_smtp, marker, customer, f"{b['mailbox']}+support@{DOMAIN}")
    b_id = uuid.UUID(_get(platform, "/v1/me", tb)["tenant"]["id"])
    counts: list[int] = []

    def taken() -> bool:
        counts.append(_desk_processed(platform, b_id))
        return counts[-1] >= 2

    wait_for(taken, timeout=180, what="the desk's consumer to take B's two emails")
    assert counts[-1] == 2, counts
    b_tickets = _get(platform, "/v1/tickets?limit=50", tb)["data"]
    assert [t["subject"] for t in b_tickets] == ["B's own request"]
    [b_msg] = _get(platform, f"/v1/tickets/{b_tickets[0]['id']}/messages", tb)["data"]
    assert b_msg["text"].strip() == "hello B"
    assert "cross-tenant probe" not in str(_get(platform, f"/v1/tickets/{rec['id']}/messages", token))
