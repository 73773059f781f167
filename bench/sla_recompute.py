"""SLA recompute benchmark: a tenant with 10,000 open tickets (BENCH_SLA_TICKETS) under one SLA
policy changes its business-hours calendar; the tickets service recomputes every open ticket's
due times from their stored anchors (tickets.service.sla.recompute: batches of 500, one read of
anchors, one UPDATE executemany each for ticket_sla and tickets, the timers replaced) in the
transaction of the PATCH.

Setup, on a fresh PostgreSQL database (app role, RLS on): a Berlin calendar (Mon-Fri 09-12 +
13-17, a few holidays), a policy with first response, next response and resolution targets, and
the tickets with their SLA rows seeded in bulk: created over the last two weeks, a third with a
pending pause, half with an agent reply and a customer message after it (next-response rounds).
A first recompute plans their timers (also timed); then the calendar's frames change (Saturdays
open) through BusinessHoursService.update, as PATCH /v1/business-hours/{id} does, and that is
timed. Printed: seconds, tickets/s, CPU ms of this process (the service's work) and of the
PostgreSQL backends, per 1,000 tickets, and the check that every due time moved as expected.
Alone: `.venv/bin/python bench/sla_recompute.py`. Bounded: fixed row counts, one tenant.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mail_send import BackendSampler  # noqa: E402
from run import ROOT, drop_databases, pg_admin_url, pg_backends  # noqa: E402

TICKETS = int(os.environ.get("BENCH_SLA_TICKETS", "10000").replace("_", ""))
TENANT = uuid.UUID(int=0x51A)
SPLIT = {d: [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}
NOW = dt.datetime(2027, 3, 10, 10, 0, tzinfo=dt.UTC)  # a Wednesday, 11:00 in Berlin


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _seed(db: Any) -> tuple[uuid.UUID, uuid.UUID]:
    from crm_core.context import tenant_context
    from crm_core.ids import uuid7
    from crm_db.bulk import bulk_insert
    from tickets.models import PRIORITIES, STATUSES, Ticket
    from tickets.models.sla import BusinessHours, SlaPolicy, TicketSla

    rng = random.Random(7)
    record = {"created_at": NOW, "updated_at": NOW, "version": 1}
    calendar_id, policy_id = uuid7(), uuid7()
    tickets, slas = [], []
    for n in range(TICKETS):
        created = NOW - dt.timedelta(minutes=rng.randint(5, 14 * 24 * 60))
        statuses = [[iso(created), "new"]]
        status = "open"
        if n % 3 == 0:  # paused for a while, then back
            pause = created + dt.timedelta(minutes=rng.randint(1, 120))
            statuses += [[iso(pause), "pending"], [iso(pause + dt.timedelta(minutes=rng.randint(10, 600))), "open"]]
        else:
            statuses.append([iso(created + dt.timedelta(minutes=1)), "open"])
        statuses = [s for s in statuses if s[0] < iso(NOW)]
        messages = []
        if n % 2 == 0:
            reply = created + dt.timedelta(minutes=rng.randint(1, 240))
            if reply < NOW:
                messages.append([iso(reply), "agent"])
                customer = reply + dt.timedelta(minutes=rng.randint(1, 240))
                if customer < NOW:
                    messages.append([iso(customer), "customer"])
        tid = uuid7()
        priority = PRIORITIES[n % len(PRIORITIES)]
        tickets.append({"tenant_id": TENANT, "id": tid, "number": 1001 + n, "subject": f"Ticket {n}", "description": None,
                        "status": status, "custom_status": None, "priority": priority, "channel": "email", "contact_id": None,
                        "requester_email": f"c{n}@example.com", "requester_name": None, "company_id": None,
                        "assignee_id": None, "team_id": None, "tags": [], "properties": {}, "linked_ticket_id": None,
                        "resolved_at": None, "closed_at": None, "sla_policy_id": policy_id, "sla_due_at": None,
                        "sla_breached": False, "suggested_article_ids": [], "last_customer_message_at": None,
                        "last_agent_reply_at": None, "status_rank": STATUSES.index(status),
                        "priority_rank": PRIORITIES.index(priority), **record})
        slas.append({"tenant_id": TENANT, "id": uuid7(), "ticket_id": tid, "policy_id": policy_id,
                     "anchors": {"created": iso(created), "statuses": statuses, "messages": messages}, "targets": [],
                     "fired": {}, "closed": False, **record})
    with tenant_context(TENANT), db.transaction() as session:
        conn = session.connection()
        bulk_insert(conn, BusinessHours.__table__, [{
            "tenant_id": TENANT, "id": calendar_id, "name": "Berlin office", "time_zone": "Europe/Berlin", "frames": SPLIT,
            "holidays": [{"date": "2027-03-01", "name": "A"}, {"date": "2027-03-05", "name": "B"}], "holiday_feed_url": None,
            "feed_holidays": [], "feed_refreshed_at": None, "feed_error": None, "is_default": True, **record},
            {"tenant_id": TENANT, "id": uuid7(), "name": "Other", "time_zone": "UTC", "frames": SPLIT, "holidays": [],
             "holiday_feed_url": None, "feed_holidays": [], "feed_refreshed_at": None, "feed_error": None, "is_default": False,
             **record}])
        bulk_insert(conn, SlaPolicy.__table__, [{
            "tenant_id": TENANT, "id": policy_id, "name": "Standard", "condition": None, "business_hours_id": calendar_id,
            "first_response_minutes": 240, "next_response_minutes": 120, "resolution_minutes": 2880, "warning_threshold": 80,
            "position": 0, **record}])
        for i in range(0, len(tickets), 2000):
            bulk_insert(conn, Ticket.__table__, tickets[i:i + 2000])
            bulk_insert(conn, TicketSla.__table__, slas[i:i + 2000])
    return calendar_id, policy_id


def _phase(name: str, work: Any, admin: str, database: str) -> float:
    sampler = BackendSampler(pg_backends(admin, [database]))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with sampler:
        done = work()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    per = 1000 / max(done, 1)
    print(f"sla_recompute {name:<15} tickets={done} seconds={wall:.2f} tickets_per_s={done / wall:.0f} "
          f"cpu_ms_service={cpu * 1000:.0f} cpu_ms_db={sampler.seconds() * 1000:.0f} "
          f"cpu_ms_per_1000_tickets service={cpu * 1000 * per:.0f} db={sampler.seconds() * 1000 * per:.0f}", flush=True)
    return wall


def main() -> None:
    sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services" / "tickets")]
    from sqlalchemy import func, select

    from crm_core.context import tenant_context
    from crm_db.database import Database
    from crm_db.migrate import upgrade
    from crm_events.outbox import Outbox
    from crm_testing.db import create_service_database
    from tickets.models import Ticket, metadata, timers
    from tickets.schemas.sla import BusinessHoursSchema
    from tickets.service import sla, sla_config
    from tickets.service.sla_jobs import Recomputes

    admin = pg_admin_url()
    database = f"bench_sla_{os.getpid()}"
    owner, app = create_service_database(admin, database)
    try:
        upgrade(ROOT / "services" / "tickets" / "migrations", owner)
        db = Database(app)
        started = time.perf_counter()
        calendar_id, _policy = _seed(db)
        print(f"sla_recompute seed: {TICKETS} open tickets in {time.perf_counter() - started:.1f}s", flush=True)
        sla.now = lambda: NOW  # type: ignore[assignment]  # a fixed "now": the same due times every run

        def first() -> int:
            with tenant_context(TENANT), db.transaction() as session:
                return sla.recompute(session)

        _phase("initial", first, admin, database)
        with tenant_context(TENANT), db.transaction() as session:
            before = dict(session.execute(select(Ticket.id, Ticket.sla_due_at)).all())
        service = sla_config.BusinessHoursService(Outbox("tickets", metadata()), BusinessHoursSchema().dump,
                                                  Recomputes(inline_max=10**9))  # the work itself, in one transaction
        counted: dict[str, int] = {}

        def change() -> int:
            # What PATCH /v1/business-hours/{id} runs: Saturdays open too.
            with tenant_context(TENANT), db.transaction() as session:
                service.update(session, calendar_id, {"frames": {**SPLIT, "sat": [{"start": "09:00", "end": "17:00"}]}})
                counted["n"] = session.scalar(select(func.count()).select_from(Ticket))
            return counted["n"]

        seconds = _phase("calendar_change", change, admin, database)
        with tenant_context(TENANT), db.transaction() as session:
            after = dict(session.execute(select(Ticket.id, Ticket.sla_due_at)).all())
            pending = session.scalar(select(func.count()).select_from(timers).where(timers.c.fired_at.is_(None)))
        moved = sum(1 for k, v in after.items() if v is not None and before.get(k) is not None and v < before[k])
        print(f"sla_recompute check: {moved} of {len(after)} due times moved earlier (Saturdays open), "
              f"{pending} pending timers", flush=True)
        print(f"sla_recompute_seconds={seconds:.2f}", flush=True)
        db.dispose()
    finally:
        drop_databases(admin, [database])


if __name__ == "__main__":
    main()
