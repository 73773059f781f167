"""Tickets list benchmark: GET /v1/tickets with its SLA state through the gateway for a tenant with
100,000 tickets, among 1,000 tenants.

`bench_tickets_100k` is seeded once with COPY (the big tenant: 100,000 tickets over the statuses,
priorities and 30 agents, a third with a running SLA due time, some breached; the other 999 tenants
100 tickets each) and kept while its marker (sizes, seed version, migration files) matches. The
tickets service and the gateway run under the first BENCH_SERVER with the bench's worker settings;
wrk asks with 16 connections for the inbox views an agent lives in: "breaching soon" (open tickets
by SLA due time), "mine" (an agent's open tickets, newest activity first) and "unassigned". Before
the load each answer is checked and its SQL shown with EXPLAIN ANALYZE. Prints p50/p99 (goal p99
<= 50 ms) and CPU ms per request of the gateway, the service and the database backends.
Alone: `.venv/bin/python bench/tickets_list.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from contacts_list import gateway_api_key, wrk_load  # noqa: E402
from run import (  # noqa: E402
    ROOT,
    SECONDS,
    WARMUP_SECONDS,
    CpuMeter,
    ensure_wrk,
    free_port,
    pg_admin_url,
    pg_backends,
    process_tree,
    serve,
    stop,
    wait_ready,
)
from seeding import ensure_seeded, seed_marker  # noqa: E402

BIG_TICKETS = int(os.environ.get("BENCH_TICKETS_BIG", "100000"))
TENANTS = int(os.environ.get("BENCH_TICKETS_TENANTS", "1000"))
SMALL_TICKETS = int(os.environ.get("BENCH_TICKETS_SMALL", "100"))
DB_NAME = "bench_tickets_100k" if BIG_TICKETS == 100_000 else f"bench_tickets_{BIG_TICKETS}"
SEED_VERSION = "1"
CLIENTS = int(os.environ.get("BENCH_TICKETS_CONNECTIONS", "16"))
GOAL_P99_MS = 50.0
AGENTS = 30
# status, share of the big tenant's tickets
STATUSES = (("new", 10), ("open", 20), ("pending", 10), ("on_hold", 5), ("resolved", 15), ("closed", 40))
STATUS_RANK = {s: i for i, s in enumerate(("new", "open", "pending", "on_hold", "resolved", "closed"))}
PRIORITIES = (("low", 20), ("normal", 50), ("high", 20), ("urgent", 10))
PRIORITY_RANK = {p: i for i, p in enumerate(("low", "normal", "high", "urgent"))}
COLUMNS = ("tenant_id", "id", "number", "subject", "description", "status", "priority", "channel", "contact_id",
           "requester_email", "requester_name", "assignee_id", "team_id", "tags", "properties", "resolved_at",
           "closed_at", "sla_policy_id", "sla_due_at", "sla_breached", "suggested_article_ids", "status_rank",
           "priority_rank", "created_at", "updated_at", "version")
PAGE = 50


def tenant_ids() -> list[uuid.UUID]:
    return [uuid.uuid5(uuid.NAMESPACE_URL, f"crm-bench-tickets-tenant-{i}") for i in range(TENANTS)]


def agent_id(tenant: uuid.UUID, n: int) -> uuid.UUID:
    return uuid.uuid5(tenant, f"agent-{n}")


def migrations() -> Path:
    return __import__("tickets.__main__", fromlist=["PROCESS"]).PROCESS.migrations


def ensure_seed(admin: str) -> tuple[str, str, uuid.UUID]:
    """(owner_url, app_url, big tenant id) of a seeded database, reusing a matching one."""
    want = seed_marker(f"{SEED_VERSION} {BIG_TICKETS} {TENANTS} {SMALL_TICKETS}", migrations())
    return (*ensure_seeded(admin, DB_NAME, migrations(), want, seed, "tickets"), tenant_ids()[0])


def seed(superuser_url: str) -> None:
    """COPY as superuser (COPY FROM refuses tables under FORCE RLS); the secondary indexes are
    dropped for the load and built after it."""
    tenants, now = tenant_ids(), dt.datetime.now(dt.UTC)
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'tickets' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        started = time.monotonic()
        rng = random.Random(20261202)
        conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy(f"COPY tickets ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for i, tenant in enumerate(tenants):
                copy.write("".join(_tickets(rng, tenant, BIG_TICKETS if i == 0 else SMALL_TICKETS, now)))
        conn.execute("SET session_replication_role = DEFAULT")
        conn.execute("INSERT INTO ticket_counters (tenant_id, next_number) SELECT tenant_id, max(number) + 1 FROM tickets "
                     "GROUP BY tenant_id ON CONFLICT (tenant_id) DO NOTHING")
        print(f"tickets seed: {BIG_TICKETS + (TENANTS - 1) * SMALL_TICKETS:,} tickets copied "
              f"({time.monotonic() - started:.0f}s)", flush=True)
        for name, definition in indexes:
            started = time.monotonic()
            conn.execute(definition)
            print(f"tickets seed: index {name} built in {time.monotonic() - started:.1f}s", flush=True)
        conn.execute("VACUUM (ANALYZE) tickets")


def _tickets(rng: random.Random, tenant: uuid.UUID, count: int, now: dt.datetime) -> Iterator[str]:
    statuses, status_w = [s for s, _ in STATUSES], [w for _, w in STATUSES]
    priorities, priority_w = [p for p, _ in PRIORITIES], [w for _, w in PRIORITIES]
    policy = uuid.uuid5(tenant, "policy")
    for number in range(1001, 1001 + count):
        status = rng.choices(statuses, status_w)[0]
        priority = rng.choices(priorities, priority_w)[0]
        created = now - dt.timedelta(days=rng.random() * 365)
        updated = created + dt.timedelta(hours=rng.random() * 48)
        done = status in ("resolved", "closed")
        resolved = str(updated) if done else "\\N"
        closed = str(updated) if status == "closed" else "\\N"
        assignee = "\\N" if rng.random() < 0.1 else str(agent_id(tenant, rng.randrange(AGENTS)))
        # A running SLA clock only on tickets not done and not paused; some already breached.
        running = status in ("new", "open")
        due = str(now + dt.timedelta(minutes=rng.randrange(-600, 2880))) if running else "\\N"
        breached = "t" if running and rng.random() < 0.1 else "f"
        tags = json.dumps(["vip"] if rng.random() < 0.05 else [])
        rid = uuid.UUID(int=rng.getrandbits(128) & ~(0xF << 76) | (0x4 << 76))
        email = f"customer{rng.randrange(50_000)}@example.com"
        yield (f"{tenant}\t{rid}\t{number}\tPrinter on floor {number % 40} is broken\tIt prints nothing.\t{status}\t"
               f"{priority}\temail\t\\N\t{email}\tCustomer\t{assignee}\t\\N\t{tags}\t{{}}\t{resolved}\t{closed}\t"
               f"{policy if running else chr(92) + 'N'}\t{due}\t{breached}\t[]\t{STATUS_RANK[status]}\t"
               f"{PRIORITY_RANK[priority]}\t{created}\t{updated}\t1\n")


def paths(big: uuid.UUID) -> dict[str, tuple[str, Callable[[dict[str, Any]], bool]]]:
    """name -> (path, what every row of the page must satisfy)."""
    def q(**params: str) -> str:
        return "/v1/tickets?" + urllib.parse.urlencode({"limit": str(PAGE), **params})

    me = str(agent_id(big, 7))
    return {
        "breaching_soon": (q(filter="status in ('new', 'open') and sla_due_at != null", sort="sla_due_at"),
                           lambda r: r["status"] in ("new", "open") and r["sla_due_at"] is not None),
        "mine": (q(filter=f"assignee_id = '{me}' and status in ('new', 'open', 'pending')", sort="-updated_at"),
                 lambda r: r["assignee_id"] == me and r["status"] in ("new", "open", "pending")),
        "unassigned": (q(filter="assignee_id = null and status in ('new', 'open')", sort="-created_at"),
                       lambda r: r["assignee_id"] is None and r["status"] in ("new", "open")),
    }


def check(what: str, body: dict[str, Any], ok: Callable[[dict[str, Any]], bool]) -> None:
    """The answer must be the big tenant's rows (a full page unless it is the last), or the timings mean nothing."""
    rows = body.get("data") or []
    if not rows or (len(rows) != PAGE and body.get("next_cursor")) or not all(ok(r) for r in rows):
        raise RuntimeError(f"{what}: unexpected answer {str(body)[:500]}")


def explain(app_url: str, big: uuid.UUID) -> None:
    """Each view's statements as the service runs them, with EXPLAIN ANALYZE."""
    from sqlalchemy import event

    from crm_core.context import Principal
    from crm_core.internal_token import HEADER, InternalTokenSigner, generate_keypair
    from crm_testing.apps import make_settings
    from crm_testing.db import libpq_url
    from tickets.app import create_app

    var = ROOT / "var" / "bench" / "tickets"
    private, public = generate_keypair()
    app = create_app(make_settings("tickets", var, database_url=app_url, owner_url=app_url, public_key=public))
    engine = app.extensions["crm_runtime"].db.engine
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if "FROM tickets" in statement:
            captured.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    token = {HEADER: InternalTokenSigner.from_pem(private).mint(
        Principal(big, uuid.uuid5(big, "user"), ("owner",), ("tickets:read",)), "tickets")}
    try:
        for what, (path, ok) in paths(big).items():
            captured.clear()
            answer = app.test_client().get(path, headers=token)
            if answer.status_code != 200:
                raise RuntimeError(f"{what}: {answer.status_code} {answer.get_data(as_text=True)[:500]}")
            check(what, answer.get_json(), ok)
            with psycopg.connect(libpq_url(app_url)) as conn:
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(big),))
                for statement, params in captured:
                    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params))
                    print(f"tickets_list_plan view={what}\n{statement}\n{plan}\n", flush=True)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
        engine.dispose()


def bench_tickets_list(wrk: str) -> list[dict[str, Any]]:
    from crm_core.internal_token import generate_keypair
    from crm_db.migrate import upgrade
    from crm_testing.db import create_service_database

    admin = pg_admin_url()
    owner_url, app_url, big = ensure_seed(admin)
    explain(app_url, big)
    var = ROOT / "var" / "bench" / "tickets"
    var.mkdir(parents=True, exist_ok=True)
    private, public = generate_keypair()
    (var / "internal.pem").write_text(private)
    (var / "internal.pub.pem").write_text(public)
    common = {"CRM_VAR_DIR": str(var), "CRM_INTERNAL_PUBLIC_KEY_FILE": str(var / "internal.pub.pem")}
    gateway_db = f"bench_tickets_gateway_{os.getpid()}"
    procs: list[subprocess.Popen[bytes]] = []
    results = []
    try:
        port = free_port()
        procs.append(serve("tickets.app:create_app()", port, {**common, "CRM_DATABASE_URL": app_url}))
        gw_owner, gw_app = create_service_database(admin, gateway_db)
        upgrade(__import__("gateway.__main__", fromlist=["PROCESS"]).PROCESS.migrations, gw_owner)
        gw_port = free_port()
        procs.append(serve("gateway.app:create_app()", gw_port, {
            **common, "CRM_DATABASE_URL": gw_app, "CRM_INTERNAL_PRIVATE_KEY_FILE": str(var / "internal.pem"),
            "CRM_JWT_SECRET": "bench-secret-" + "x" * 40, "CRM_TICKETS_URL": f"http://127.0.0.1:{port}",
            "CRM_RATE_LIMIT_TENANT_RATE": "1000000", "CRM_RATE_LIMIT_TENANT_BURST": "1000000",
            "CRM_RATE_LIMIT_KEY_RATE": "1000000", "CRM_RATE_LIMIT_KEY_BURST": "1000000"}))
        gateway = f"http://127.0.0.1:{gw_port}"
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        wait_ready(gateway + "/healthz")
        key = gateway_api_key(gateway, gw_owner, big, ("tickets:read",))
        header = ("Authorization", f"Bearer {key}")
        meter = CpuMeter({"gateway": lambda: process_tree(procs[1].pid), "service": lambda: process_tree(procs[0].pid),
                          "db": pg_backends(admin, [DB_NAME, gateway_db])})
        for what, (path, ok) in paths(big).items():
            answer = urllib3.request("GET", gateway + path, headers={header[0]: header[1]})
            if answer.status != 200:
                raise RuntimeError(f"{what} through the gateway: {answer.status} {answer.data[:300]!r}")
            check(what, answer.json(), ok)
            wrk_load(wrk, gateway + path, header, WARMUP_SECONDS)
            meter.start()
            result: dict[str, Any] = wrk_load(wrk, gateway + path, header, SECONDS)
            result.update(view=what, cpu_ms=meter.ms_per_request(int(result["requests"])))
            results.append(result)
            report(result)
    finally:
        stop(*procs)
        from run import drop_databases

        drop_databases(admin, [gateway_db])
    return results


def report(r: dict[str, Any]) -> None:
    met = "yes" if r["p99_ms"] <= GOAL_P99_MS and not r["errors"] and not r["non2xx"] else "no"
    cpu = ",".join(f"{k}:{v:.2f}" for k, v in r["cpu_ms"].items())
    print(f"tickets_list view={r['view']} clients={CLIENTS} p50_ms={r['p50_ms']:.2f} p99_ms={r['p99_ms']:.2f} "
          f"rps={r['rps']:.0f} requests={r['requests']:.0f} errors={r['errors']:.0f} non2xx={r['non2xx']:.0f} "
          f"cpu_ms_per_request={cpu} goal_p99_ms<={GOAL_P99_MS:.0f} met={met}", flush=True)


def main() -> None:
    wrk = ensure_wrk()
    print(f"bench tickets_list: {BIG_TICKETS:,} tickets in the big tenant of {TENANTS} ({SMALL_TICKETS} in each "
          f"other); wrk -c{CLIENTS} -d{SECONDS}s; {os.cpu_count()} cores", flush=True)
    bench_tickets_list(wrk)


if __name__ == "__main__":
    main()
