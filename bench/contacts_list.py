"""List benchmark: a filtered, sorted page of 50 over 1,000,000 contacts in 1,000 tenants.

`bench_contacts_1m` is seeded once with COPY (one tenant with 100,000 contacts, the rest ~900
each, a `plan` custom field defined per tenant) and kept while its marker (sizes, seed version,
migration files) matches and its row count is right, so reruns skip the seeding. The contacts
service runs under gunicorn with the write bench's worker settings; wrk asks for the big tenant's
page with 16 connections, directly (internal token) and through the gateway (API key). First,
the service's own SQL for each page is captured in-process, its answer checked, and its plan
shown with EXPLAIN (ANALYZE, BUFFERS). Alone: `.venv/bin/python bench/contacts_list.py`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import re
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402
    ROOT,
    SECONDS,
    THREADS,
    WORKERS,
    cpu_seconds,
    ensure_wrk,
    free_port,
    gunicorn,
    pg_admin_url,
    process_tree,
    stop,
    wait_ready,
)

ROWS = int(os.environ.get("BENCH_LIST_ROWS", "1000000"))
TENANTS = int(os.environ.get("BENCH_LIST_TENANTS", "1000"))
BIG_ROWS = int(os.environ.get("BENCH_LIST_BIG_ROWS", str(ROWS // 10)))
DB_NAME = "bench_contacts_1m" if ROWS == 1_000_000 else f"bench_contacts_{ROWS}"
SEED_VERSION = "2"
CLIENTS = int(os.environ.get("BENCH_LIST_CONNECTIONS", "16"))
LUA = ROOT / "bench" / "get_list.lua"
GOAL_P99_MS = 50.0
SHAPES = {  # name -> (filter, sort, what every row of the page must satisfy); load-tested
    "stage_plan_by_created": ("lifecycle_stage = 'lead' and plan = 'pro'", "-created_at",
                              lambda r: r["lifecycle_stage"] == "lead" and r["properties"].get("plan") == "pro"),
    "stage_plan_by_score": ("lifecycle_stage = 'lead' and plan = 'pro'", "-lead_score",
                            lambda r: r["lifecycle_stage"] == "lead" and r["properties"].get("plan") == "pro"),
}
EXPLAIN_ONLY = {  # a rare custom-field value and a sort without a btree index: the GIN index's case
    "rare_plan_by_first_name": ("plan = 'legacy'", "first_name", lambda r: r["properties"].get("plan") == "legacy"),
}
INDEXES = ("contacts_properties_gin", "contacts_tenant_stage_idx", "contacts_tenant_created_idx",
           "contacts_tenant_score_idx", "contacts_emails_gin", "contacts_tags_gin", "contacts_pkey")
# Weights: 30 % leads, 25 % pro (10 % have no plan) -> ~7.5 % of a tenant matches the filter; 0.5 % legacy.
STAGES = {"lead": 30, "subscriber": 20, "marketing_qualified": 12, "sales_qualified": 10, "opportunity": 8,
          "customer": 12, "evangelist": 3, "other": 5}
PLANS = {None: 9.5, "free": 40, "pro": 25, "team": 15, "enterprise": 10, "legacy": 0.5}
FIRST = ("ada", "alan", "grace", "linus", "ken", "barbara", "edsger", "margaret", "dennis", "frances", "john", "radia")
LAST = ("lovelace", "turing", "hopper", "torvalds", "thompson", "liskov", "dijkstra", "hamilton", "ritchie", "allen")
TAGS = ('[]', '[]', '["vip"]', '["newsletter"]', '["vip", "partner"]')
COLUMNS = ("tenant_id", "id", "first_name", "last_name", "email", "phone", "company_name", "created_at", "updated_at",
           "version", "emails", "company_ids", "merged_ids", "lifecycle_stage", "lead_status", "source", "tags",
           "properties", "lead_score", "last_contacted_at", "search_text")


# --- the seeded database ---------------------------------------------------------------------

def tenant_ids() -> list[uuid.UUID]:
    """Stable across runs: the first is the big tenant."""
    return [uuid.uuid5(uuid.NAMESPACE_URL, f"crm-bench-contacts-tenant-{i}") for i in range(TENANTS)]


def migrations() -> Path:
    return __import__("contacts.__main__", fromlist=["PROCESS"]).PROCESS.migrations


def marker() -> str:
    digest = hashlib.sha256(f"{SEED_VERSION} {ROWS} {TENANTS} {BIG_ROWS}".encode())
    for path in sorted(migrations().glob("**/*.py")):
        digest.update(path.read_bytes())
    return f"crm bench seed {digest.hexdigest()[:16]}"


def db_url(url: str, database: str, user: str | None = None, password: str | None = None) -> str:
    from crm_testing.db import libpq_url

    parts = urllib.parse.urlsplit(libpq_url(url))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if user:
        netloc = f"{user}:{password}@{netloc}"
    elif "@" in parts.netloc:
        netloc = parts.netloc
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))


def ensure_seed(admin: str) -> tuple[str, str, uuid.UUID]:
    """(owner_url, app_url, big tenant id) of a seeded database, reusing a matching one."""
    from crm_db.migrate import upgrade
    from crm_testing.db import APP_PASSWORD, OWNER_PASSWORD, create_service_database

    big, want = tenant_ids()[0], marker()
    with psycopg.connect(db_url(admin, "postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                             (DB_NAME,)).fetchone()
    if found and found[0] == want:
        with psycopg.connect(db_url(admin, DB_NAME)) as conn:
            count = conn.execute("SELECT count(*) FROM contacts").fetchone()[0]
        if count == ROWS:
            print(f"list seed: reusing {DB_NAME} ({count} contacts)", flush=True)
            return (db_url(admin, DB_NAME, f"{DB_NAME}_owner", OWNER_PASSWORD).replace("postgresql://", "postgresql+psycopg://"),
                    db_url(admin, DB_NAME, f"{DB_NAME}_app", APP_PASSWORD).replace("postgresql://", "postgresql+psycopg://"),
                    big)
    started = time.monotonic()
    owner, app = create_service_database(admin, DB_NAME)
    upgrade(migrations(), owner)
    seed(db_url(admin, DB_NAME))
    with psycopg.connect(db_url(admin, "postgres"), autocommit=True) as conn:
        conn.execute(f"COMMENT ON DATABASE {DB_NAME} IS '{want}'")  # last: a half-done seed is redone
    print(f"list seed: done in {time.monotonic() - started:.0f}s", flush=True)
    return owner, app, big


def seed(superuser_url: str) -> None:
    """COPY as superuser: COPY FROM refuses tables under RLS for every role that RLS applies to,
    and FORCE ROW LEVEL SECURITY applies it to the owner too. Indexes are built after the load."""
    tenants, now = tenant_ids(), dt.datetime.now(dt.UTC)
    rest = ROWS - BIG_ROWS
    counts = [BIG_ROWS] + [rest // (TENANTS - 1) + (1 if i < rest % (TENANTS - 1) else 0) for i in range(TENANTS - 1)]
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'contacts' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        with conn.cursor().copy("COPY property_definitions (tenant_id, id, object, key, label, type, options, required, "
                                "created_at, updated_at, version) FROM STDIN") as copy:
            for tenant in tenants:
                copy.write(f"{tenant}\t{uuid.uuid5(tenant, 'plan')}\tcontact\tplan\tPlan\tenum\t"
                           f'["free", "pro", "team", "enterprise", "legacy"]\tf\t{now}\t{now}\t1\n')
        started, done = time.monotonic(), 0
        with conn.cursor().copy(f"COPY contacts ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            rng = random.Random(20261122)
            for tenant, count in zip(tenants, counts, strict=True):
                copy.write("".join(_rows(rng, tenant, count, now)))  # at most the big tenant's ~25 MB
                before, done = done, done + count
                if done // 100_000 != before // 100_000 or done == ROWS:
                    print(f"list seed: {done:,}/{ROWS:,} contacts copied ({time.monotonic() - started:.0f}s)", flush=True)
        for name, definition in indexes:
            started = time.monotonic()
            conn.execute(definition)
            print(f"list seed: index {name} built in {time.monotonic() - started:.1f}s", flush=True)
        started = time.monotonic()
        conn.execute("VACUUM (ANALYZE) contacts")
        conn.execute("VACUUM (ANALYZE) property_definitions")
        print(f"list seed: vacuum analyze {time.monotonic() - started:.1f}s", flush=True)


def _rows(rng: random.Random, tenant: uuid.UUID, count: int, now: dt.datetime) -> Iterator[str]:
    """COPY text lines; created_at over the last year, ids UUIDv7 of created_at (time-ordered)."""
    stages, stage_w = list(STAGES), list(STAGES.values())
    plans, plan_w = list(PLANS), list(PLANS.values())
    now_ms, year_ms = int(now.timestamp() * 1000), 365 * 86_400_000
    for i, stage, plan in zip(range(count), rng.choices(stages, stage_w, k=count), rng.choices(plans, plan_w, k=count),
                              strict=True):
        ms = now_ms - rng.randrange(year_ms)
        created = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
        rid = uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62) | rng.getrandbits(62))
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        email, phone = f"{first}.{last}.{i}@example{i % 97}.com", f"+1555{i:07d}"
        company = f"Company {i % 500}"
        contacted = "\\N" if rng.random() < 0.6 else str(created + dt.timedelta(days=rng.random() * 30))
        properties = f'{{"plan": "{plan}"}}' if plan else "{}"
        yield (f"{tenant}\t{rid}\t{first.title()}\t{last.title()}\t{email}\t{phone}\t{company}\t{created}\t{created}\t1\t"
               f"[]\t[]\t[]\t{stage}\tnew\tbench\t{TAGS[i % len(TAGS)]}\t{properties}\t{rng.randrange(101)}\t"
               f"{contacted}\t{first} {last} {email} {phone} {company.lower()}\n")


# --- measuring -------------------------------------------------------------------------------

def list_path(shape: str, cursor: str | None = None) -> str:
    filter_, sort, _ = {**SHAPES, **EXPLAIN_ONLY}[shape]
    params = {"limit": 50, "filter": filter_, "sort": sort, **({"cursor": cursor} if cursor else {})}
    return "/v1/contacts?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def wrk_load(wrk: str, url: str, header: tuple[str, str], seconds: int) -> dict[str, float]:
    env = {**os.environ, "BENCH_HEADER": header[0], "BENCH_HEADER_VALUE": header[1]}
    out = subprocess.run([wrk, f"-t{min(2, CLIENTS)}", f"-c{CLIENTS}", f"-d{seconds}s", "-s", str(LUA), url],
                         env=env, capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"BENCH rps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) errors=(\d+) non2xx=(\d+) peak_rps=(\d+) "
                      r"requests=(\d+)", out)
    if not match:
        raise RuntimeError("wrk output not understood:\n" + out)
    names = ("rps", "p50_ms", "p99_ms", "errors", "non2xx", "peak_rps", "requests")
    return {n: float(v) for n, v in zip(names, match.groups(), strict=True)}


def check_page(body: dict[str, Any], shape: str) -> None:
    """The page must be what the filter and sort promise, or the timings mean nothing."""
    _, sort, matches = {**SHAPES, **EXPLAIN_ONLY}[shape]
    rows = body["data"]
    if len(rows) != 50 or not body["next_cursor"]:
        raise RuntimeError(f"{shape}: expected a full page of 50 with a cursor, got {len(rows)}")
    if not all(matches(r) for r in rows):
        raise RuntimeError(f"{shape}: a row does not match the filter")
    values = [r[sort.lstrip("-")] for r in rows]
    if values != sorted(values, reverse=sort.startswith("-")):
        raise RuntimeError(f"{shape}: rows are not sorted by {sort}")


def app_factory() -> Any:
    """The service's create_app, or BENCH_LIST_APP ("module:create_app()") to measure a candidate fix."""
    module, _, call = os.environ.get("BENCH_LIST_APP", "contacts.app:create_app()").partition(":")
    return getattr(__import__(module, fromlist=["_"]), call.removesuffix("()"))


def explain(conn: psycopg.Connection[Any], statement: str, params: dict[str, Any], generic: bool) -> str:
    """EXPLAIN ANALYZE of the statement with its values (the custom plan the first executions on
    a connection get), or as a prepared statement's generic plan (what psycopg's automatic
    preparation, from the 5th execution of a statement on a connection, may settle on)."""
    from psycopg import sql

    if not generic:
        conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).fetchall()  # warm
        return "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).fetchall())
    numbers: dict[str, int] = {}
    body = re.sub(r"%\((\w+)\)s", lambda m: f"${numbers.setdefault(m.group(1), len(numbers) + 1)}", statement)
    conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    conn.execute(f"PREPARE bench_page AS {body}")
    args = sql.SQL(", ").join(sql.Literal(params[name]) for name in numbers)
    try:
        query = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_page ({})").format(args)
        return "\n".join(r[0] for r in conn.execute(query).fetchall())
    finally:
        conn.execute("DEALLOCATE bench_page")
        conn.execute("RESET plan_cache_mode")


def explain_pages(owner_url: str, app_url: str, big: uuid.UUID, var: Path) -> None:
    """Each page's SQL as the service runs it (captured from its engine), its plans as the app
    role, and its time over ten executions on one connection (psycopg prepares on the 5th)."""
    from sqlalchemy import event

    from crm_core.context import Principal
    from crm_core.internal_token import HEADER, InternalTokenSigner, generate_keypair
    from crm_testing.apps import make_settings
    from crm_testing.db import libpq_url

    private, public = generate_keypair()
    app = app_factory()(make_settings("contacts", var, database_url=app_url, owner_url=owner_url, public_key=public))
    engine = app.extensions["crm_runtime"].db.engine
    signer, captured = InternalTokenSigner.from_pem(private), []
    principal = Principal(big, uuid.uuid5(big, "user"), ("owner",), ("contacts:read",))

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if "FROM contacts" in statement and "ORDER BY" in statement:
            captured.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    pages = [(shape, 1) for shape in SHAPES] + [(next(iter(SHAPES)), 2)] + [(shape, 1) for shape in EXPLAIN_ONLY]
    cursors: dict[str, str] = {}
    try:
        for shape, page in pages:
            captured.clear()
            answer = app.test_client().get(list_path(shape, cursors.get(shape) if page == 2 else None),
                                           headers={HEADER: signer.mint(principal, "contacts")})
            if answer.status_code != 200:
                raise RuntimeError(f"{shape}: {answer.status_code} {answer.get_data(as_text=True)[:500]}")
            check_page(answer.get_json(), shape)
            cursors[shape] = answer.get_json()["next_cursor"]
            if len(captured) != 1:
                raise RuntimeError(f"{shape}: expected one list statement, captured {len(captured)}")
            statement, params = captured[0]
            print(f"list_sql shape={shape} page={page}\n{statement}\n-- params: {params}", flush=True)
            with psycopg.connect(libpq_url(app_url)) as conn:
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(big),))
                for generic in (False, True):
                    plan = explain(conn, statement, params, generic)
                    used = [name for name in INDEXES if name in plan]
                    print(f"list_plan shape={shape} page={page} plan={'generic' if generic else 'custom'} "
                          f"indexes={','.join(used) or 'none'}\n{plan}", flush=True)
                timings = []
                for _ in range(10):
                    started = time.perf_counter()
                    conn.execute(statement, params).fetchall()
                    timings.append(f"{(time.perf_counter() - started) * 1000:.1f}")
            print(f"list_sql_ms shape={shape} page={page} executions_1_to_10={','.join(timings)}\n", flush=True)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
        engine.dispose()


def gateway_api_key(gateway: str, gateway_owner_url: str, big: uuid.UUID, scopes: tuple[str, ...] = ("contacts:read",)) -> str:
    """An API key of the big tenant: sign up, move the new user into a gateway tenant with the
    seeded tenant's id (the seed outlives runs, the gateway database does not), log in again."""
    from crm_testing.db import libpq_url

    email, password = f"bench-list-{time.time_ns()}@example.com", "bench password 1"
    urllib3.request("POST", gateway + "/v1/signup", json={"company": "Bench List", "email": email, "password": password})
    with psycopg.connect(libpq_url(gateway_owner_url)) as conn:
        conn.execute("INSERT INTO tenants (id, name, created_at) VALUES (%s, 'Bench big tenant', now()) "
                     "ON CONFLICT (id) DO NOTHING", (big,))
        conn.execute("UPDATE users SET tenant_id = %s WHERE email = %s", (big, email))
    login = urllib3.request("POST", gateway + "/v1/auth/token", json={"email": email, "password": password}).json()
    answer = urllib3.request("POST", gateway + "/v1/api-keys", json={"name": "bench list", "scopes": list(scopes)},
                             headers={"Authorization": f"Bearer {login['access_token']}"})
    if answer.status != 201:
        raise RuntimeError(f"api key: {answer.status} {answer.data[:300]!r}")
    return answer.json()["key"]


def bench_list(wrk: str) -> list[dict[str, Any]]:
    from crm_core.context import Principal
    from crm_core.internal_token import HEADER, InternalTokenSigner, generate_keypair
    from crm_db.migrate import upgrade
    from crm_testing.db import create_service_database

    admin = pg_admin_url()
    owner_url, app_url, big = ensure_seed(admin)
    var = ROOT / "var" / "bench" / "list"
    var.mkdir(parents=True, exist_ok=True)
    explain_pages(owner_url, app_url, big, var)

    private, public = generate_keypair()
    (var / "internal.pem").write_text(private)
    (var / "internal.pub.pem").write_text(public)
    common = {"CRM_VAR_DIR": str(var), "CRM_INTERNAL_PUBLIC_KEY_FILE": str(var / "internal.pub.pem")}
    principal = Principal(big, uuid.uuid5(big, "user"), ("owner",), ("contacts:read",))
    token = InternalTokenSigner.from_pem(private).mint(principal, "contacts", ttl=SECONDS * 6 + 300)  # outlives the runs
    results: list[dict[str, Any]] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        port = free_port()
        app = os.environ.get("BENCH_LIST_APP", "contacts.app:create_app()")
        procs.append(gunicorn(app, port, {**common, "CRM_DATABASE_URL": app_url}))
        targets = [("direct", f"http://127.0.0.1:{port}", (HEADER, token))]
        wait_ready(targets[0][1] + "/healthz")
        if os.environ.get("BENCH_LIST_GATEWAY", "1") != "0":
            gw_owner, gw_app = create_service_database(admin, "bench_list_gateway")
            upgrade(__import__("gateway.__main__", fromlist=["PROCESS"]).PROCESS.migrations, gw_owner)
            gw_port = free_port()
            procs.append(gunicorn("gateway.app:create_app()", gw_port, {
                **common, "CRM_DATABASE_URL": gw_app, "CRM_INTERNAL_PRIVATE_KEY_FILE": str(var / "internal.pem"),
                "CRM_JWT_SECRET": "bench-secret-" + "x" * 40, "CRM_CONTACTS_URL": targets[0][1],
                "CRM_RATE_LIMIT_TENANT_RATE": "1000000", "CRM_RATE_LIMIT_TENANT_BURST": "1000000",
                "CRM_RATE_LIMIT_KEY_RATE": "1000000", "CRM_RATE_LIMIT_KEY_BURST": "1000000"}))
            gateway = f"http://127.0.0.1:{gw_port}"
            wait_ready(gateway + "/healthz")
            targets.append(("gateway", gateway, ("Authorization", f"Bearer {gateway_api_key(gateway, gw_owner, big)}")))
        for via, base, header in targets:
            for shape in SHAPES:
                wrk_load(wrk, base + list_path(shape), header, 3)  # warm-up: pools, caches
                # CPU per request, which unlike latency does not depend on what else the machine runs.
                pids = {"service": process_tree(procs[0].pid), "gateway": process_tree(procs[-1].pid) if via == "gateway" else [],
                        "db": backend_pids(admin)}
                before = {k: cpu_seconds(v) for k, v in pids.items()}
                result = wrk_load(wrk, base + list_path(shape), header, SECONDS)
                cpu = {f"{k}_cpu_ms": (cpu_seconds(v) - before[k]) * 1000 / max(result["requests"], 1) for k, v in pids.items()}
                results.append({"shape": shape, "via": via, **result, **cpu})
                report(results[-1])
    finally:
        stop(*procs)
    return results


def backend_pids(admin: str) -> list[int]:
    """The PostgreSQL backends serving the bench databases (the services' pooled connections)."""
    with psycopg.connect(db_url(admin, "postgres"), autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname IN (%s, 'bench_list_gateway')",
                                           (DB_NAME,))]


def report(r: dict[str, Any]) -> None:
    met = "yes" if r["p99_ms"] <= GOAL_P99_MS and not r["errors"] and not r["non2xx"] else "no"
    print(f"list shape={r['shape']} via={r['via']} clients={CLIENTS} list_p50_ms={r['p50_ms']:.2f} "
          f"list_p99_ms={r['p99_ms']:.2f} list_rps={r['rps']:.0f} list_peak_rps={r['peak_rps']:.0f} "
          f"requests={r['requests']:.0f} errors={r['errors']:.0f} non2xx={r['non2xx']:.0f} "
          f"cpu_ms_per_request=service:{r['service_cpu_ms']:.1f},gateway:{r['gateway_cpu_ms']:.1f},db:{r['db_cpu_ms']:.1f} "
          f"goal_p99_ms<={GOAL_P99_MS:.0f} met={met}", flush=True)


def main() -> None:
    wrk = ensure_wrk()
    print(f"bench list: {ROWS:,} contacts in {TENANTS} tenants (big: {BIG_ROWS:,}); wrk -c{CLIENTS} -d{SECONDS}s; "
          f"gunicorn workers={WORKERS} threads={THREADS}; {os.cpu_count()} cores", flush=True)
    bench_list(wrk)


if __name__ == "__main__":
    main()
