"""`make bench`: bare Flask vs POST /v1/contacts through the gateway on PostgreSQL with the outbox,
then the contacts import and list benchmarks (bench/contacts_import.py, bench/contacts_list.py).

Both runs use wrk with the same threads, connections and duration, and gunicorn with the same
worker settings. Prints requests/s and p50/p99 for each, then `write_path_vs_bare_ratio=<ratio>`.
Bounded: each load phase lasts BENCH_SECONDS (default 15) against 127.0.0.1 only.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WORKERS = os.environ.get("BENCH_WORKERS", "2")
THREADS = os.environ.get("BENCH_THREADS", "4")
LUA = ROOT / "bench" / "post_contact.lua"


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
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(ROOT / "var" / "bench" / f"prometheus-{port}"), **env,
           "GUNICORN_WORKERS": WORKERS, "GUNICORN_THREADS": THREADS, "CRM_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
           "--bind", f"127.0.0.1:{port}", app]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


def load(wrk: str, url: str, token: str | None) -> dict[str, float]:
    env = {**os.environ, **({"BENCH_TOKEN": token} if token else {})}
    out = subprocess.run([wrk, f"-t{min(2, CONNECTIONS)}", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s", str(LUA), url],
                         env=env, capture_output=True, text=True, timeout=SECONDS + 60).stdout
    match = re.search(r"BENCH rps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) errors=(\d+) non2xx=(\d+)", out)
    if not match:
        raise RuntimeError("wrk output not understood:\n" + out)
    rps, p50, p99, errors, non2xx = match.groups()
    return {"rps": float(rps), "p50_ms": float(p50), "p99_ms": float(p99), "errors": int(errors), "non2xx": int(non2xx)}


def stop(*procs: subprocess.Popen[bytes]) -> None:
    import signal

    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def pg_admin_url() -> str:
    url = os.environ.get("CRM_TEST_PG_ADMIN_URL")
    if url:
        return url
    spec = importlib.util.spec_from_file_location("crm_servers", ROOT / "infra" / "servers.py")
    assert spec and spec.loader
    servers = importlib.util.module_from_spec(spec)
    sys.modules["crm_servers"] = servers
    spec.loader.exec_module(servers)
    return servers.start_postgres().value


def bench_bare(wrk: str) -> dict[str, float]:
    port = free_port()
    proc = gunicorn("bench.bare_app:create_app()", port, {"PYTHONPATH": str(ROOT)})
    try:
        wait_ready(f"http://127.0.0.1:{port}/ping")
        load(wrk, f"http://127.0.0.1:{port}/v1/contacts", None)  # warm-up
        return load(wrk, f"http://127.0.0.1:{port}/v1/contacts", None)
    finally:
        stop(proc)


def bench_write_path(wrk: str) -> dict[str, float]:
    from crm_core.internal_token import generate_keypair
    from crm_db.migrate import upgrade
    from crm_testing.db import create_service_database

    admin = pg_admin_url()
    private, public = generate_keypair()
    var = ROOT / "var" / "bench"
    var.mkdir(parents=True, exist_ok=True)
    (var / "internal.pem").write_text(private)
    (var / "internal.pub.pem").write_text(public)
    common = {"CRM_VAR_DIR": str(var), "CRM_INTERNAL_PUBLIC_KEY_FILE": str(var / "internal.pub.pem"),
              }
    procs = []
    try:
        urls = {}
        for name in ("contacts", "gateway"):
            owner, app = create_service_database(admin, f"bench_{name}")
            module = importlib.import_module(f"{name}.__main__")
            upgrade(module.PROCESS.migrations, owner)
            urls[name] = app
        contacts_port, gateway_port = free_port(), free_port()
        procs.append(gunicorn("contacts.app:create_app()", contacts_port, {**common, "CRM_DATABASE_URL": urls["contacts"]}))
        procs.append(gunicorn("gateway.app:create_app()", gateway_port, {
            **common, "CRM_DATABASE_URL": urls["gateway"], "CRM_INTERNAL_PRIVATE_KEY_FILE": str(var / "internal.pem"),
            "CRM_JWT_SECRET": "bench-secret-" + "x" * 40, "CRM_CONTACTS_URL": f"http://127.0.0.1:{contacts_port}",
            "CRM_RATE_LIMIT_TENANT_RATE": "1000000", "CRM_RATE_LIMIT_TENANT_BURST": "1000000"}))
        gateway = f"http://127.0.0.1:{gateway_port}"
        wait_ready(gateway + "/healthz")
        wait_ready(f"http://127.0.0.1:{contacts_port}/healthz")
        signup = urllib3.request("POST", gateway + "/v1/signup", json={
            "company": "Bench Co", "email": f"bench-{time.time_ns()}@example.com", "password": "bench password 1"})
        token = signup.json()["access_token"]
        load(wrk, gateway + "/v1/contacts", token)  # warm-up: pools, caches, JIT of the database
        return load(wrk, gateway + "/v1/contacts", token)
    finally:
        stop(*procs)


BENCHES = ("write", "import", "list")


def main() -> None:
    # BENCH_ONLY=import,list picks benches (default: all): write (bare Flask vs the gateway write
    # path), import (bench/contacts_import.py), list (bench/contacts_list.py).
    only = [b.strip() for b in os.environ.get("BENCH_ONLY", ",".join(BENCHES)).split(",") if b.strip()]
    if not only or set(only) - set(BENCHES):
        raise SystemExit(f"BENCH_ONLY: a comma-separated subset of {', '.join(BENCHES)}; got {only}")
    wrk = ensure_wrk()
    print(f"bench: wrk -t2 -c{CONNECTIONS} -d{SECONDS}s; gunicorn workers={WORKERS} threads={THREADS}; "
          f"{os.cpu_count()} cores; {', '.join(b for b in BENCHES if b in only)}", flush=True)
    if "write" in only:
        bare = bench_bare(wrk)
        print(f"bare_flask          rps={bare['rps']:.0f} p50_ms={bare['p50_ms']:.2f} p99_ms={bare['p99_ms']:.2f} "
              f"errors={bare['errors']} non2xx={bare['non2xx']}", flush=True)
        write = bench_write_path(wrk)
        print(f"gateway_post_contact rps={write['rps']:.0f} p50_ms={write['p50_ms']:.2f} p99_ms={write['p99_ms']:.2f} "
              f"errors={write['errors']} non2xx={write['non2xx']}", flush=True)
        print(f"write_path_vs_bare_ratio={write['rps'] / bare['rps']:.3f}", flush=True)
    if "import" in only:
        from contacts_import import bench_import  # bench/ is sys.path[0] when run as a script

        bench_import()
    if "list" in only:
        from contacts_list import bench_list

        bench_list(wrk)


if __name__ == "__main__":
    main()
