"""Board and forecast benchmark: GET /v1/pipelines/{id}/board and GET /v1/forecast through the
gateway for a tenant with 100,000 deals in one pipeline, among 1,000 tenants.

`bench_pipeline_100k` is seeded once with COPY (the big tenant: 100,000 deals over six stages,
40 owners, four currencies, close dates over two years, a tenth won and a tenth lost; the other 999
tenants 100 deals each; monthly sales targets for the big tenant's owners) and kept while its
marker (sizes, seed version, migration files) matches. The pipeline service and the gateway run
under the first BENCH_SERVER with the bench's worker settings; wrk asks with 16 connections for
the board (first 20 cards per stage) and for six months of forecast grouped by owner. Before the
load each answer is checked and the board's and forecast's SQL is shown with EXPLAIN ANALYZE.
Prints p50/p99 (goal p99 <= 100 ms each) and CPU ms per request of the gateway, the service and
the database backends. Alone: `.venv/bin/python bench/board_forecast.py`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
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
from contacts_list import db_url, gateway_api_key, wrk_load  # noqa: E402
from run import (  # noqa: E402, E501
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

BIG_DEALS = int(os.environ.get("BENCH_BOARD_BIG_DEALS", "100000"))
TENANTS = int(os.environ.get("BENCH_BOARD_TENANTS", "1000"))
SMALL_DEALS = int(os.environ.get("BENCH_BOARD_SMALL_DEALS", "100"))
DB_NAME = "bench_pipeline_100k" if BIG_DEALS == 100_000 else f"bench_pipeline_{BIG_DEALS}"
SEED_VERSION = "1"
CLIENTS = int(os.environ.get("BENCH_BOARD_CONNECTIONS", "16"))
GOAL_P99_MS = 100.0
OWNERS = 40
# name, probability, kind, forecast category, share of the big tenant's deals
STAGES = (("Lead", 10, "open", "pipeline", 30), ("Qualified", 25, "open", "pipeline", 20),
          ("Proposal", 50, "open", "best_case", 15), ("Negotiation", 75, "open", "commit", 15),
          ("Won", 100, "won", "closed", 10), ("Lost", 0, "lost", "closed", 10))
CURRENCIES = (("EUR", 1.0, 50), ("USD", 0.92, 30), ("GBP", 1.17, 15), ("CHF", 1.05, 5))
DEAL_COLUMNS = ("tenant_id", "id", "name", "amount", "currency", "pipeline_id", "stage_id", "owner_id", "status",
                "expected_close_date", "probability", "probability_is_manual", "forecast_category",
                "forecast_category_is_manual", "number", "won_at", "lost_at", "closed_at", "amount_in_base",
                "has_line_items", "stage_entered_at", "rots_at", "position", "properties", "created_at", "updated_at",
                "version")


def tenant_ids() -> list[uuid.UUID]:
    return [uuid.uuid5(uuid.NAMESPACE_URL, f"crm-bench-pipeline-tenant-{i}") for i in range(TENANTS)]


def pipeline_id(tenant: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(tenant, "pipeline")


def stage_id(tenant: uuid.UUID, position: int) -> uuid.UUID:
    return uuid.uuid5(tenant, f"stage-{position}")


def owner_id(big: uuid.UUID, n: int) -> uuid.UUID:
    return uuid.uuid5(big, f"owner-{n}")


def migrations() -> Path:
    return __import__("pipeline.__main__", fromlist=["PROCESS"]).PROCESS.migrations


def marker(today: dt.date) -> str:
    # The close dates are spread around the seeding day: reseed monthly so "this month" has deals.
    digest = hashlib.sha256(f"{SEED_VERSION} {BIG_DEALS} {TENANTS} {SMALL_DEALS} {today:%Y-%m}".encode())
    for path in sorted(migrations().glob("**/*.py")):
        digest.update(path.read_bytes())
    return f"crm bench seed {digest.hexdigest()[:16]}"


def ensure_seed(admin: str) -> tuple[str, str, uuid.UUID]:
    """(owner_url, app_url, big tenant id) of a seeded database, reusing a matching one."""
    from crm_db.migrate import upgrade
    from crm_testing.db import APP_PASSWORD, OWNER_PASSWORD, create_service_database

    big, want = tenant_ids()[0], marker(dt.date.today())
    urls = (db_url(admin, DB_NAME, f"{DB_NAME}_owner", OWNER_PASSWORD).replace("postgresql://", "postgresql+psycopg://"),
            db_url(admin, DB_NAME, f"{DB_NAME}_app", APP_PASSWORD).replace("postgresql://", "postgresql+psycopg://"))
    with psycopg.connect(db_url(admin, "postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                             (DB_NAME,)).fetchone()
    if found and found[0] == want:
        print(f"board seed: reusing {DB_NAME}", flush=True)
        return (*urls, big)
    started = time.monotonic()
    owner, app = create_service_database(admin, DB_NAME)
    upgrade(migrations(), owner)
    seed(db_url(admin, DB_NAME))
    with psycopg.connect(db_url(admin, "postgres"), autocommit=True) as conn:
        conn.execute(f"COMMENT ON DATABASE {DB_NAME} IS '{want}'")  # last: a half-done seed is redone
    print(f"board seed: done in {time.monotonic() - started:.0f}s", flush=True)
    return owner, app, big


def seed(superuser_url: str) -> None:
    """COPY as superuser (COPY FROM refuses tables under FORCE RLS for every role RLS applies to);
    the deals' secondary indexes are dropped for the load and built after it."""
    tenants, now = tenant_ids(), dt.datetime.now(dt.UTC)
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'deals' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        with conn.cursor().copy("COPY pipelines (tenant_id, id, name, is_default, created_at, updated_at, version) "
                                "FROM STDIN") as copy:
            for tenant in tenants:
                copy.write(f"{tenant}\t{pipeline_id(tenant)}\tSales\tt\t{now}\t{now}\t1\n")
        with conn.cursor().copy("COPY pipeline_stages (tenant_id, id, pipeline_id, name, position, probability, kind, "
                                "forecast_category, rotten_days, created_at, updated_at, version) FROM STDIN") as copy:
            for tenant in tenants:
                for position, (name, probability, kind, category, _share) in enumerate(STAGES):
                    rotten = "14" if kind == "open" else "\\N"
                    copy.write(f"{tenant}\t{stage_id(tenant, position)}\t{pipeline_id(tenant)}\t{name}\t{position}\t"
                               f"{probability}\t{kind}\t{category}\t{rotten}\t{now}\t{now}\t1\n")
        started = time.monotonic()
        rng = random.Random(20261202)
        # The deals' triggers (board and forecast totals, snapshot schedule) are skipped for the load
        # (replica role; foreign keys too: the seed is consistent) and their tables filled after it
        # with the migration's own backfills.
        conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy(f"COPY deals ({', '.join(DEAL_COLUMNS)}) FROM STDIN") as copy:
            for i, tenant in enumerate(tenants):
                copy.write("".join(_deals(rng, tenant, BIG_DEALS if i == 0 else SMALL_DEALS, now)))
        conn.execute("SET session_replication_role = DEFAULT")
        backfills = _migration_0005()
        for statement in (backfills.PG_TOTALS_BACKFILL, backfills.PG_FORECAST_BACKFILL,
                          "INSERT INTO forecast_schedule (tenant_id, due_at) SELECT DISTINCT tenant_id, now() FROM deals"):
            conn.execute(statement)
        conn.execute("INSERT INTO deal_counters (tenant_id, last_number) SELECT tenant_id, max(number) FROM deals "
                     "GROUP BY tenant_id ON CONFLICT (tenant_id) DO NOTHING")
        print(f"board seed: {BIG_DEALS + (TENANTS - 1) * SMALL_DEALS:,} deals copied ({time.monotonic() - started:.0f}s)",
              flush=True)
        big = tenants[0]
        with conn.cursor().copy("COPY sales_targets (tenant_id, id, owner_id, period, period_start, amount, created_at, "
                                "updated_at, version) FROM STDIN") as copy:
            month = dt.date(now.year, now.month, 1)
            for m in range(-6, 13):
                start = dt.date(month.year + (month.month - 1 + m) // 12, (month.month - 1 + m) % 12 + 1, 1)
                for n in range(OWNERS):
                    copy.write(f"{big}\t{uuid.uuid4()}\t{owner_id(big, n)}\tmonth\t{start}\t50000.00\t{now}\t{now}\t1\n")
        for name, definition in indexes:
            started = time.monotonic()
            conn.execute(definition)
            print(f"board seed: index {name} built in {time.monotonic() - started:.1f}s", flush=True)
        for table in ("deals", "pipelines", "pipeline_stages", "sales_targets", "deal_board_totals", "deal_forecast_totals"):
            conn.execute(f"VACUUM (ANALYZE) {table}")  # and the visibility map: index-only scans


def _migration_0005() -> Any:
    import importlib.util

    path = next(migrations().glob("versions/0005_*.py"))
    spec = importlib.util.spec_from_file_location("pipeline_migration_0005", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _deals(rng: random.Random, tenant: uuid.UUID, count: int, now: dt.datetime) -> Iterator[str]:
    stages = list(range(len(STAGES)))
    weights = [s[4] for s in STAGES]
    currencies, currency_w = list(CURRENCIES), [c[2] for c in CURRENCIES]
    pid = pipeline_id(tenant)
    for number, position in zip(range(1, count + 1), rng.choices(stages, weights, k=count), strict=True):
        name, probability, kind, category, _ = STAGES[position]
        code, rate, _ = rng.choices(currencies, currency_w)[0]
        amount = rng.randrange(500, 200_000) + rng.randrange(100) / 100
        created = now - dt.timedelta(days=rng.random() * 365)
        close = (now + dt.timedelta(days=rng.randrange(-180, 540))).date()
        owner = owner_id(tenant, rng.randrange(OWNERS))
        won = lost = closed = "\\N"
        if kind != "open":
            closed = str(now - dt.timedelta(days=rng.random() * 365))
            won, lost = (closed, "\\N") if kind == "won" else ("\\N", closed)
        rots = str(created + dt.timedelta(days=14)) if kind == "open" else "\\N"
        rid = uuid.UUID(int=rng.getrandbits(128) & ~(0xF << 76) | (0x4 << 76))
        yield (f"{tenant}\t{rid}\tDeal {number}\t{amount:.2f}\t{code}\t{pid}\t{stage_id(tenant, position)}\t{owner}\t"
               f"{kind}\t{close}\t{probability}\tf\t{category}\tf\t{number}\t{won}\t{lost}\t{closed}\t{amount * rate:.2f}\t"
               f"f\t{created}\t{rots}\t{number}\t{{}}\t{created}\t{created}\t1\n")


def explain(app_url: str, big: uuid.UUID) -> None:
    """The board's and forecast's statements as the service runs them, with EXPLAIN ANALYZE."""
    from sqlalchemy import event

    from crm_core.context import Principal
    from crm_core.internal_token import HEADER, InternalTokenSigner, generate_keypair
    from crm_testing.apps import make_settings
    from crm_testing.db import libpq_url
    from pipeline.app import create_app

    var = ROOT / "var" / "bench" / "board"
    private, public = generate_keypair()
    app = create_app(make_settings("pipeline", var, database_url=app_url, owner_url=app_url, public_key=public))
    engine = app.extensions["crm_runtime"].db.engine
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if "FROM deal" in statement or "FROM pipeline_stages" in statement:  # deals and the totals tables
            captured.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    token = {HEADER: InternalTokenSigner.from_pem(private).mint(
        Principal(big, uuid.uuid5(big, "user"), ("owner",), ("pipeline:read",)), "pipeline")}
    try:
        for what, path in paths(big).items():
            captured.clear()
            answer = app.test_client().get(path, headers=token)
            if answer.status_code != 200:
                raise RuntimeError(f"{what}: {answer.status_code} {answer.get_data(as_text=True)[:500]}")
            check(what, answer.get_json())
            with psycopg.connect(libpq_url(app_url)) as conn:
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(big),))
                for statement, params in captured:
                    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params))
                    print(f"board_forecast_plan path={what}\n{statement}\n{plan}\n", flush=True)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
        engine.dispose()


def paths(big: uuid.UUID) -> dict[str, str]:
    today = dt.date.today()
    first = f"{today:%Y-%m}"
    last_month = dt.date(today.year + (today.month + 4) // 12, (today.month + 4) % 12 + 1, 1)
    query = urllib.parse.urlencode({"period": "month", "from": first, "to": f"{last_month:%Y-%m}", "group_by": "owner"})
    return {"board": f"/v1/pipelines/{pipeline_id(big)}/board", "forecast": f"/v1/forecast?{query}"}


def check(what: str, body: dict[str, Any]) -> None:
    """The answer must be the big tenant's, or the timings mean nothing."""
    if what == "board":
        if body["count"] != BIG_DEALS or len(body["stages"]) != len(STAGES) or not all(
                len(s["cards"]) == 20 and s["next_cursor"] for s in body["stages"]):
            raise RuntimeError(f"board: unexpected answer {str(body)[:500]}")
    elif len(body["periods"]) != 6 or not all(len(p["groups"]) == OWNERS and p["quota"] for p in body["periods"]):
        raise RuntimeError(f"forecast: unexpected answer {str(body)[:500]}")


def bench_board_forecast(wrk: str) -> list[dict[str, Any]]:
    from crm_core.internal_token import generate_keypair
    from crm_db.migrate import upgrade
    from crm_testing.db import create_service_database

    admin = pg_admin_url()
    owner_url, app_url, big = ensure_seed(admin)
    explain(app_url, big)
    var = ROOT / "var" / "bench" / "board"
    var.mkdir(parents=True, exist_ok=True)
    private, public = generate_keypair()
    (var / "internal.pem").write_text(private)
    (var / "internal.pub.pem").write_text(public)
    common = {"CRM_VAR_DIR": str(var), "CRM_INTERNAL_PUBLIC_KEY_FILE": str(var / "internal.pub.pem")}
    gateway_db = f"bench_board_gateway_{os.getpid()}"
    procs: list[subprocess.Popen[bytes]] = []
    results = []
    try:
        port = free_port()
        procs.append(serve("pipeline.app:create_app()", port, {**common, "CRM_DATABASE_URL": app_url}))
        gw_owner, gw_app = create_service_database(admin, gateway_db)
        upgrade(__import__("gateway.__main__", fromlist=["PROCESS"]).PROCESS.migrations, gw_owner)
        gw_port = free_port()
        procs.append(serve("gateway.app:create_app()", gw_port, {
            **common, "CRM_DATABASE_URL": gw_app, "CRM_INTERNAL_PRIVATE_KEY_FILE": str(var / "internal.pem"),
            "CRM_JWT_SECRET": "bench-secret-" + "x" * 40, "CRM_PIPELINE_URL": f"http://127.0.0.1:{port}",
            "CRM_RATE_LIMIT_TENANT_RATE": "1000000", "CRM_RATE_LIMIT_TENANT_BURST": "1000000",
            "CRM_RATE_LIMIT_KEY_RATE": "1000000", "CRM_RATE_LIMIT_KEY_BURST": "1000000"}))
        gateway = f"http://127.0.0.1:{gw_port}"
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        wait_ready(gateway + "/healthz")
        key = gateway_api_key(gateway, gw_owner, big, ("pipeline:read",))
        header = ("Authorization", f"Bearer {key}")
        meter = CpuMeter({"gateway": lambda: process_tree(procs[1].pid), "service": lambda: process_tree(procs[0].pid),
                          "db": pg_backends(admin, [DB_NAME, gateway_db])})
        for what, path in paths(big).items():
            answer = urllib3.request("GET", gateway + path, headers={header[0]: header[1]})
            if answer.status != 200:
                raise RuntimeError(f"{what} through the gateway: {answer.status} {answer.data[:300]!r}")
            check(what, answer.json())
            wrk_load(wrk, gateway + path, header, WARMUP_SECONDS)
            meter.start()
            result: dict[str, Any] = wrk_load(wrk, gateway + path, header, SECONDS)
            result.update(path=what, cpu_ms=meter.ms_per_request(int(result["requests"])))
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
    print(f"board_forecast path={r['path']} clients={CLIENTS} p50_ms={r['p50_ms']:.2f} p99_ms={r['p99_ms']:.2f} "
          f"rps={r['rps']:.0f} requests={r['requests']:.0f} errors={r['errors']:.0f} non2xx={r['non2xx']:.0f} "
          f"cpu_ms_per_request={cpu} goal_p99_ms<={GOAL_P99_MS:.0f} met={met}", flush=True)


def main() -> None:
    wrk = ensure_wrk()
    print(f"bench board_forecast: {BIG_DEALS:,} deals in the big tenant of {TENANTS} ({SMALL_DEALS} in each other); "
          f"wrk -c{CLIENTS} -d{SECONDS}s; {os.cpu_count()} cores", flush=True)
    bench_board_forecast(wrk)


if __name__ == "__main__":
    main()
