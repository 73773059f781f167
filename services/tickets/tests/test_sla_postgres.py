"""SLA timers on PostgreSQL (app role, RLS on): two schedulers in parallel fire each breach once
with each tenant's own policy; a ticket a writer holds is skipped (retried shortly), never waited on."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sla_helpers import Clock, berlin, check_isolation, desk_of, events, get, iso, pending_timers, policy, post, z
from sqlalchemy import select

import tickets
from crm_core.context import tenant_context
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, pg_harness
from tickets.app import create_app
from tickets.models import Ticket, metadata
from tickets.service import sla, sla_config


@pytest.fixture
def pg_tickets(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    yield from pg_harness("tickets", create_app, metadata(), migrations_dir(tickets.__file__), tmp_path, pg_admin_url)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(z("2027-03-01 08:00"))  # Mon 09:00 CET
    monkeypatch.setattr(sla, "now", c)
    return c


def test_breaches_fire_once_per_tenant_on_postgres(pg_tickets: ServiceHarness, clock: Clock) -> None:
    svc = pg_tickets
    a_policy = policy(svc, berlin(svc, "a"), "a", first_response_minutes=60)  # due 10:00 CET = 09:00Z
    b_policy = policy(svc, None, "b", first_response_minutes=30)  # around the clock: 08:30Z
    a_tickets = [post(svc, "/v1/tickets", {"subject": f"A{i}"}, "a") for i in range(15)]
    b_tickets = [post(svc, "/v1/tickets", {"subject": f"B{i}"}, "b") for i in range(15)]
    assert {t["sla_due_at"] for t in a_tickets} == {iso("2027-03-01 09:00")}
    runtime = svc.app.extensions["crm_runtime"]
    desk = desk_of(svc)
    clock.set("2027-03-01 09:00")
    pair = [sla_config.schedulers(runtime.settings, svc.db, desk, clock)[0] for _ in range(2)]
    for s in pair:
        s.batch = 4  # small batches: the two interleave
    threads = [threading.Thread(target=s.drain) for s in pair]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    breaches = events(svc, "crm.ticket.sla_breached")
    assert sorted(e["ticket_id"] for e in breaches) == sorted(t["id"] for t in a_tickets + b_tickets)
    by_ticket = {e["ticket_id"]: e["policy_id"] for e in breaches}
    assert {by_ticket[t["id"]] for t in a_tickets} == {a_policy["id"]}
    assert {by_ticket[t["id"]] for t in b_tickets} == {b_policy["id"]}
    assert get(svc, f"/v1/tickets/{b_tickets[0]['id']}", "b")["sla_breached"] is True
    # the warnings (80%) fired too, once each
    assert len(events(svc, "crm.ticket.sla_warning")) == 30


def test_a_locked_ticket_is_retried_not_waited_on(pg_tickets: ServiceHarness, clock: Clock) -> None:
    svc = pg_tickets
    policy(svc, None, "a", first_response_minutes=10, warning_threshold=99)
    ticket = post(svc, "/v1/tickets", {"subject": "Held"}, "a")
    runtime = svc.app.extensions["crm_runtime"]
    scheduler = sla_config.schedulers(runtime.settings, svc.db, desk_of(svc), clock)[0]
    clock.set("2027-03-01 08:09:55")
    scheduler.drain()  # the warning (at 9.9 minutes)
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
            session.execute(select(Ticket.id).where(Ticket.id == uuid.UUID(ticket["id"])).with_for_update())
            held.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    assert held.wait(10)
    try:
        clock.set("2027-03-01 08:10")
        assert scheduler.run_once() == 1  # claimed, skipped, rescheduled 5 s later
        assert events(svc, "crm.ticket.sla_breached") == []
    finally:
        release.set()
        thread.join(30)
    assert pending_timers(svc, ticket["id"]) == [("sla_breach", z("2027-03-01 08:10:05"))]
    clock.set("2027-03-01 08:10:05")
    scheduler.drain()
    assert [e["ticket_id"] for e in events(svc, "crm.ticket.sla_breached")] == [ticket["id"]]


def test_isolation_on_postgres(pg_tickets: ServiceHarness, clock: Clock) -> None:
    """The same probes under RLS with the app role."""
    check_isolation(pg_tickets, clock)
