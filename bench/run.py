"""`make bench`: bare Flask, then POST /v1/contacts and GET /v1/contacts/{id} through the gateway on
PostgreSQL with the outbox, for each web server in BENCH_SERVER; then the contacts import and list
benchmarks (bench/contacts_import.py, bench/contacts_list.py).

Every HTTP phase prints requests/s, p50, p99 and the CPU milliseconds per completed request of each
process group: the web server's whole tree (master/supervisor and workers) of the gateway and of the
contacts service, and the PostgreSQL backends serving the bench databases (utime + stime from
/proc/<pid>/stat before and after the phase; a process that exits during the phase is missed, one
that starts is counted from zero). CPU per request, unlike requests/s, hardly depends on what else
the machine runs. The bare app and the platform run under the same server with the same settings
(crm_runtime.web, deploy/gunicorn.conf.py: BENCH_WORKERS x BENCH_THREADS), so
`write_path_vs_bare_ratio_<server>` compares like with like.

The last two lines are `write_path_vs_bare_ratio=<r>` (for CRM_WEB_SERVER's server, default
gunicorn, if benched, else the first of BENCH_SERVER; the line before names it) and
`list_p99_ms=<ms>` (the worst p99 of the list shapes through the gateway); `n/a` for a phase not run.

Environment: BENCH_ONLY=write,read,import,list,mail_send,mail_inbound,board_forecast,reminders,tickets_list,kb_search,sla_recompute,console,
workflows (default all);
BENCH_SERVER=gunicorn,granian (default both; the list phase uses the first); BENCH_SECONDS (default 15) per measured load,
after a warm-up of
BENCH_WARMUP_SECONDS (default 3); BENCH_CONNECTIONS (32), BENCH_WORKERS (2), BENCH_THREADS (4).
Bounded: every load has a duration and targets 127.0.0.1 only.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3

ROOT = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
WARMUP_SECONDS = int(os.environ.get("BENCH_WARMUP_SECONDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WORKERS = os.environ.get("BENCH_WORKERS", "2")
THREADS = os.environ.get("BENCH_THREADS", "4")
POST_LUA = ROOT / "bench" / "post_contact.lua"
GET_LUA = ROOT / "bench" / "get_list.lua"  # any GET with one header; reports requests too
SERVERS = ("gunicorn", "granian")
BENCHES = ("write", "read", "import", "list", "mail_send", "mail_inbound", "board_forecast", "reminders", "tickets_list",
           "sla_recompute", "kb_search", "console", "workflows")
GOAL_WRITE_RATIO = 0.20
_BENCH_LINE = re.compile(r"BENCH rps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) errors=(\d+) non2xx=(\d+)"
                         r"(?: peak_rps=(\d+))? requests=(\d+)")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_servers() -> list[str]:
    servers = [s.strip().lower() for s in os.environ.get("BENCH_SERVER", ",".join(SERVERS)).split(",") if s.strip()]
    if not servers or set(servers) - set(SERVERS):
        raise SystemExit(f"BENCH_SERVER: a comma-separated subset of {', '.join(SERVERS)}; got {servers}")
    return servers


def default_server() -> str:
    """The platform's server: CRM_WEB_SERVER (what `make up` and the images would run), else gunicorn."""
    return os.environ.get("CRM_WEB_SERVER", "").strip().lower() or "gunicorn"


def serve(app: str, port: int, env: dict[str, str], server: str | None = None) -> subprocess.Popen[bytes]:
    """`app` ("module:factory()") on 127.0.0.1:port under `server` (default: the first of BENCH_SERVER),
    launched as every web process is (crm_runtime.web), with the bench's worker settings."""
    server = server or bench_servers()[0]
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(ROOT / "var" / "bench" / f"prometheus-{port}"), **env,
           "CRM_WEB_SERVER": server, "GUNICORN_WORKERS": WORKERS, "GUNICORN_THREADS": THREADS,
           "CRM_LOG_LEVEL": "WARNING"}
    env.pop("GUNICORN_BIND", None)
    env.pop("CRM_INTERNAL_PORT", None)
    cmd = [sys.executable, "-m", "crm_runtime.web", "--bind", f"127.0.0.1:{port}", app]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def gunicorn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Kept for bench/contacts_list.py: now the first server of BENCH_SERVER (gunicorn by default)."""
    return serve(app, port, env)


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


def run_wrk(wrk: str, url: str, script: Path, seconds: int, env: dict[str, str] | None = None,
            connections: int = CONNECTIONS) -> dict[str, float]:
    out = subprocess.run([wrk, f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
                         env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=seconds + 60).stdout
    match = _BENCH_LINE.search(out)
    if not match:
        raise RuntimeError("wrk output not understood:\n" + out)
    rps, p50, p99, errors, non2xx, _peak, requests = match.groups()
    return {"rps": float(rps), "p50_ms": float(p50), "p99_ms": float(p99), "errors": int(errors),
            "non2xx": int(non2xx), "requests": int(requests)}


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def _servers() -> Any:
    """infra/servers.py as a module (it is a script, not a package)."""
    if "crm_servers" in sys.modules:
        return sys.modules["crm_servers"]
    spec = importlib.util.spec_from_file_location("crm_servers", ROOT / "infra" / "servers.py")
    assert spec and spec.loader
    servers = importlib.util.module_from_spec(spec)
    sys.modules["crm_servers"] = servers
    spec.loader.exec_module(servers)
    return servers


def pg_admin_url() -> str:
    return os.environ.get("CRM_TEST_PG_ADMIN_URL") or _servers().start_postgres().value


def kafka_bootstrap() -> str:
    """The broker for benches with real workers (bench/workflows.py): as the tests find it."""
    return os.environ.get("CRM_TEST_KAFKA_BOOTSTRAP") or _servers().start_kafka().value


# --- CPU per request ---------------------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """A process and its descendants (a server's master or supervisor and its workers)."""
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        for children in Path(f"/proc/{found[-1]}/task").glob("*/children"):
            try:
                todo += [int(c) for c in children.read_text().split()]
            except OSError:  # gone meanwhile
                pass
    return found


def cpu_seconds_by_pid(pids: list[int]) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:  # utime and stime: fields 14 and 15 of /proc/<pid>/stat, counted after the ")" of the name
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_seconds_by_pid(pids).values())


def pg_backends(admin: str, databases: list[str]) -> Callable[[], list[int]]:
    """The PostgreSQL backends connected to these databases (the services' pooled connections);
    not the whole server, which the machine's other users share."""
    import psycopg

    from crm_testing.db import libpq_url

    def pids() -> list[int]:
        with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
            return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) "
                                               "AND pid <> pg_backend_pid()", (databases,))]

    return pids


@dataclass
class CpuMeter:
    """CPU seconds of named process groups across one phase; `groups` maps a name to its pids now."""

    groups: dict[str, Callable[[], list[int]]]
    _before: dict[str, dict[int, float]] = field(default_factory=dict)

    def start(self) -> None:
        self._before = {name: cpu_seconds_by_pid(pids()) for name, pids in self.groups.items()}

    def ms_per_request(self, requests: int) -> dict[str, float]:
        result = {}
        for name, pids in self.groups.items():
            before = self._before.get(name, {})
            now = cpu_seconds_by_pid(sorted(set(pids()) | set(before)))
            used = sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())
            result[name] = used * 1000 / max(requests, 1)
        return result


def measured(wrk: str, meter: CpuMeter, url: str, script: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """A warm-up (pools, caches, the database's plans), then the measured load with CPU per request."""
    run_wrk(wrk, url, script, WARMUP_SECONDS, env)
    meter.start()
    result: dict[str, Any] = run_wrk(wrk, url, script, SECONDS, env)
    result["cpu_ms"] = meter.ms_per_request(result["requests"])
    return result


def report(name: str, server: str, r: dict[str, Any]) -> None:
    cpu = ",".join(f"{k}:{v:.2f}" for k, v in r["cpu_ms"].items())
    print(f"{name:<21} server={server:<8} rps={r['rps']:.0f} p50_ms={r['p50_ms']:.2f} p99_ms={r['p99_ms']:.2f} "
          f"requests={r['requests']} errors={r['errors']} non2xx={r['non2xx']} cpu_ms_per_request={cpu}", flush=True)


# --- phases ------------------------------------------------------------------------------------

def bench_bare(wrk: str, server: str) -> dict[str, Any]:
    port = free_port()
    proc = serve("bench.bare_app:create_app()", port, {"PYTHONPATH": str(ROOT)}, server)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ping")
        meter = CpuMeter({"server": lambda: process_tree(proc.pid)})
        return measured(wrk, meter, f"http://127.0.0.1:{port}/v1/contacts", POST_LUA)
    finally:
        stop(proc)


def bench_platform(wrk: str, server: str, phases: list[str]) -> dict[str, dict[str, Any]]:
    """The gateway and the contacts service on fresh PostgreSQL databases under `server`:
    POST /v1/contacts ("write") and GET /v1/contacts/{id} ("read")."""
    from crm_core.internal_token import generate_keypair
    from crm_db.migrate import upgrade
    from crm_testing.db import create_service_database

    admin = pg_admin_url()
    private, public = generate_keypair()
    var = ROOT / "var" / "bench"
    var.mkdir(parents=True, exist_ok=True)
    (var / "internal.pem").write_text(private)
    (var / "internal.pub.pem").write_text(public)
    common = {"CRM_VAR_DIR": str(var), "CRM_INTERNAL_PUBLIC_KEY_FILE": str(var / "internal.pub.pem")}
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, dict[str, Any]] = {}
    # Named per run and dropped after it: another bench on the same shared server must not drop
    # these databases under this one (create_service_database drops a namesake WITH (FORCE)).
    databases = {name: f"bench_{name}_{os.getpid()}_{server}" for name in ("contacts", "gateway")}
    try:
        urls = {}
        for name in ("contacts", "gateway"):
            owner, app = create_service_database(admin, databases[name])
            module = importlib.import_module(f"{name}.__main__")
            upgrade(module.PROCESS.migrations, owner)
            urls[name] = app
        contacts_port, gateway_port = free_port(), free_port()
        procs.append(serve("contacts.app:create_app()", contacts_port, {**common, "CRM_DATABASE_URL": urls["contacts"]},
                           server))
        procs.append(serve("gateway.app:create_app()", gateway_port, {
            **common, "CRM_DATABASE_URL": urls["gateway"], "CRM_INTERNAL_PRIVATE_KEY_FILE": str(var / "internal.pem"),
            "CRM_JWT_SECRET": "bench-secret-" + "x" * 40, "CRM_CONTACTS_URL": f"http://127.0.0.1:{contacts_port}",
            "CRM_RATE_LIMIT_TENANT_RATE": "1000000", "CRM_RATE_LIMIT_TENANT_BURST": "1000000",
            "CRM_RATE_LIMIT_KEY_RATE": "1000000", "CRM_RATE_LIMIT_KEY_BURST": "1000000"}, server))
        gateway = f"http://127.0.0.1:{gateway_port}"
        wait_ready(gateway + "/healthz")
        wait_ready(f"http://127.0.0.1:{contacts_port}/healthz")
        signup = urllib3.request("POST", gateway + "/v1/signup", json={
            "company": "Bench Co", "email": f"bench-{time.time_ns()}@example.com", "password": "bench password 1"})
        token = signup.json()["access_token"]
        meter = CpuMeter({"gateway": lambda: process_tree(procs[1].pid), "service": lambda: process_tree(procs[0].pid),
                          "db": pg_backends(admin, list(databases.values()))})
        if "write" in phases:
            results["write"] = measured(wrk, meter, gateway + "/v1/contacts", POST_LUA, {"BENCH_TOKEN": token})
        if "read" in phases:
            created = urllib3.request("POST", gateway + "/v1/contacts", headers={"Authorization": f"Bearer {token}"},
                                      json={"first_name": "Read", "last_name": "Bench", "email": "read@example.com"})
            if created.status != 201:
                raise RuntimeError(f"read bench: POST /v1/contacts answered {created.status} {created.data[:300]!r}")
            results["read"] = measured(wrk, meter, gateway + created.headers["Location"], GET_LUA,
                                       {"BENCH_HEADER": "Authorization", "BENCH_HEADER_VALUE": f"Bearer {token}"})
    finally:
        stop(*procs)
        drop_databases(admin, list(databases.values()))
    return results


def drop_databases(admin: str, names: list[str]) -> None:
    """Drop bench databases and their two roles (roles are cluster-wide and would pile up)."""
    import psycopg
    from psycopg import sql

    from crm_testing.db import libpq_url

    with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            for role in (f"{name}_owner", f"{name}_app"):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def main() -> None:
    # BENCH_ONLY=import,list picks benches (default: all): write (bare Flask vs POST through the
    # gateway), read (GET by id through the gateway), import (bench/contacts_import.py), list
    # (bench/contacts_list.py), mail_send (100,000 messages to an aiosmtpd sink, bench/mail_send.py),
    # mail_inbound (10,000 messages to the inbound SMTP server, bench/mail_inbound.py), board_forecast
    # (GET /v1/pipelines/{id}/board and GET /v1/forecast over 100,000 deals, bench/board_forecast.py).
    # reminders (10,000 task reminders due at one instant: dispatch lag and CPU, bench/reminders.py).
    # tickets_list (the inbox views with SLA state over 100,000 tickets, bench/tickets_list.py).
    # sla_recompute (10,000 open tickets' SLA due times after a calendar change, bench/sla_recompute.py).
    # workflows (10,000 events through the real workers to their first action, and 100,000 waiting
    # runs, on PostgreSQL + Kafka, bench/workflows.py).
    only = [b.strip() for b in os.environ.get("BENCH_ONLY", ",".join(BENCHES)).split(",") if b.strip()]
    if not only or set(only) - set(BENCHES):
        raise SystemExit(f"BENCH_ONLY: a comma-separated subset of {', '.join(BENCHES)}; got {only}")
    servers = bench_servers()
    wrk = ensure_wrk()
    print(f"bench: wrk -t2 -c{CONNECTIONS} -d{SECONDS}s (warm-up {WARMUP_SECONDS}s); servers {','.join(servers)} with "
          f"workers={WORKERS} threads={THREADS}; {os.cpu_count()} cores; {', '.join(b for b in BENCHES if b in only)}",
          flush=True)
    ratios: dict[str, float] = {}
    http_phases = [b for b in ("write", "read") if b in only]
    for server in servers if http_phases else []:
        bare = bench_bare(wrk, server)
        report("bare_flask", server, bare)
        platform = bench_platform(wrk, server, http_phases)
        if "write" in platform:
            report("gateway_post_contact", server, platform["write"])
            ratios[server] = platform["write"]["rps"] / bare["rps"]
            print(f"write_path_vs_bare_ratio_{server}={ratios[server]:.3f} goal>={GOAL_WRITE_RATIO:.2f}", flush=True)
        if "read" in platform:
            report("gateway_get_contact", server, platform["read"])
            print(f"read_path_vs_bare_ratio_{server}={platform['read']['rps'] / bare['rps']:.3f}", flush=True)
    if "import" in only:
        from contacts_import import bench_import  # bench/ is sys.path[0] when run as a script

        bench_import()
    list_p99: float | None = None
    if "list" in only:
        from contacts_list import bench_list

        through_gateway = [r["p99_ms"] for r in bench_list(wrk) or [] if r.get("via") == "gateway"]
        list_p99 = max(through_gateway) if through_gateway else None
    chosen = default_server() if default_server() in ratios else next(iter(ratios), None)
    if chosen:
        best = max(ratios, key=lambda s: ratios[s])
        print(f"write_path_vs_bare_ratio below: server={chosen} "
              f"({'the default, CRM_WEB_SERVER' if chosen == default_server() else 'the first benched'}); "
              f"best: {best} {ratios[best]:.3f}", flush=True)
    # bench/mail_send.py, bench/mail_inbound.py, bench/board_forecast.py, bench/reminders.py: their own processes
    for name in ("mail_send", "mail_inbound", "board_forecast", "reminders", "tickets_list", "sla_recompute", "kb_search",
                 "console", "workflows"):
        if name in only:
            subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py")], cwd=ROOT, check=True)
    print(f"write_path_vs_bare_ratio={ratios[chosen]:.3f}" if chosen else "write_path_vs_bare_ratio=n/a", flush=True)
    print(f"list_p99_ms={list_p99:.2f}" if list_p99 is not None else "list_p99_ms=n/a", flush=True)


if __name__ == "__main__":
    main()
