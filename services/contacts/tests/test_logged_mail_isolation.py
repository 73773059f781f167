"""Logged mail between tenants, on PostgreSQL (app role, RLS on): tenant B's contact with the same
address never gets A's mail; B can neither list, read, assign nor adopt A's unmatched mail; and the
whole path on the real Kafka broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from logged_mail_helpers import Api, consume, consume_until, publish, received
from psycopg import sql
from sqlalchemy import text

import contacts
from contacts.app import create_app
from contacts.consumer import GROUP
from contacts.models import metadata
from crm_core.context import tenant_context
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database, libpq_url


def raw_counts(svc: ServiceHarness, tenant: str) -> tuple[int, int, int]:
    """What the database itself shows a tenant: plain SQL, no ORM criteria, so RLS alone decides."""
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return (int(session.execute(text("SELECT count(*) FROM logged_emails")).scalar_one()),
                int(session.execute(text("SELECT count(*) FROM logged_email_addresses")).scalar_one()),
                int(session.execute(text("SELECT count(*) FROM activities WHERE inbound_id IS NOT NULL")).scalar_one()))


def test_tenants_never_share_logged_mail(pg_contacts: ServiceHarness) -> None:
    svc = pg_contacts
    a, b = Api(svc, "a"), Api(svc, "b")
    ada_a, ada_b = a.contact("ada@example.com"), b.contact("ada@example.com")
    b_other = b.contact("bea@example.com")
    matched = received(sender="ada@example.com", subject="For A only", message_id="<a1@example.com>")
    waiting = received(sender="zed@example.com", subject="A's unmatched")
    publish(svc, "a", matched, waiting)
    consume(svc)

    assert [x["subject"] for x in a.timeline(ada_a["id"])] == ["For A only"]
    assert b.timeline(ada_b["id"]) == []
    thread = a.timeline(ada_a["id"])[0]["thread_id"]
    assert b.timeline(ada_b["id"], f"?thread_id={thread}") == []
    assert b.logged() == [] and b.logged("?status=unmatched") == [] and b.logged(f"?thread_id={thread}") == []
    for email in (matched, waiting):
        b("GET", f"/v1/logged-emails/{email['id']}", status=404)
        b("POST", f"/v1/logged-emails/{email['id']}/assign", {"contact_id": ada_b["id"]}, 404)
    # Nor can A attach its mail to B's contact: that id does not exist for A.
    a("POST", f"/v1/logged-emails/{waiting['id']}/assign", {"contact_id": b_other["id"]}, 404)
    # B creating a contact with the address A's unmatched mail waits for adopts nothing.
    zed_b = b.contact("zed@example.com")
    assert b.timeline(zed_b["id"]) == []
    assert [x["subject"] for x in a.logged("?status=unmatched")] == ["A's unmatched"]
    assert raw_counts(svc, "b") == (0, 0, 0)
    assert raw_counts(svc, "a") == (2, 2, 1)  # zed@ and me@ wait

    # The same inbound message announced under B's tenant (never by the mail service, which routes
    # by mailbox) still cannot touch A's row: B just gets its own copy under its own RLS.
    publish(svc, "b", matched)
    consume(svc)
    assert [x["subject"] for x in b.timeline(ada_b["id"])] == ["For A only"]
    assert len(a.timeline(ada_a["id"])) == 1


def handled(svc: ServiceHarness, group: str) -> int:
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        return int(session.execute(text("SELECT count(*) FROM processed_events WHERE consumer = :g"),
                                   {"g": group}).scalar_one())


@pytest.fixture
def pg_kafka_contacts(pg_admin_url: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    name = f"contacts_{uuid.uuid4().hex[:10]}"
    owner_url, app_url = create_service_database(pg_admin_url, name)
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path,
                       database_url=app_url, owner_url=owner_url, kafka_bootstrap=kafka_bootstrap)
    yield svc
    svc.db.dispose()
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.integration
def test_logged_mail_over_kafka(pg_kafka_contacts: ServiceHarness) -> None:
    svc = pg_kafka_contacts
    a = Api(svc, "a")
    ada = a.contact("ada@example.com")
    first = received(sender="ada@example.com", cc=["kai@example.com"], message_id="<k1@example.com>", subject="Kafka")
    reply = received(sender="me@ourco.example", to=["ada@example.com", "kai@example.com"], subject="Re: Kafka",
                     message_id="<k2@ourco.example>", in_reply_to="<k1@example.com>", references=["<k1@example.com>"],
                     date="2026-03-02T10:15:00+01:00")  # after the first: the timeline's order is the Date's
    [event] = publish(svc, "a", first, reply)[:1]
    publish(svc, "a", first, event_id=event.id)  # redelivered
    publish(svc, "a", received(kind="auto_reply", auto_submitted=True, sender="ada@example.com"))
    group = f"{GROUP}.test-{uuid.uuid4().hex[:8]}"  # this run's own group on the shared broker
    consume_until(svc, group, lambda: handled(svc, group) >= 3)  # first, reply, auto reply (the twin is skipped)
    timeline = a.timeline(ada["id"], "?sort=occurred_at")
    assert [x["direction"] for x in timeline] == ["inbound", "outbound"]
    assert timeline[0]["thread_id"] == timeline[1]["thread_id"]
    assert {x["status"] for x in a.logged()} == {"matched"}
    kai = a.contact("kai@example.com")  # both messages were matched (to Ada) already: nothing waits for Kai
    assert a.timeline(kai["id"]) == []
