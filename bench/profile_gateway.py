"""Gateway CPU per proxied request, and where it goes.

    .venv/bin/python bench/profile_gateway.py [--upstream stub|contacts] [--requests 2000]
                                              [--redis] [--log-level INFO] [--py-spy] [--cprofile]

Signs up through the gateway, creates an API key, then sends `--requests` requests for each of
POST /v1/contacts and GET /v1/contacts?limit=50, once with the access token and once with the API
key, and prints the CPU milliseconds per request of the gateway process (and of the contacts
process with `--upstream contacts`), read from /proc (utime + stime), so other load on the
machine does not change the figure.

Two ways of running the gateway:
- default: under gunicorn (1 gthread worker x 4 threads, PROMETHEUS_MULTIPROC_DIR set, as
  deployed), driven over HTTP by client threads in this process; `--py-spy` samples the worker
  and prints the hottest functions (self and total);
- `--inprocess`: the gateway app in this process, called through WSGI directly (no HTTP server
  in front), CPU from time.process_time(); `--cprofile` prints cProfile's top entries.

The upstream is a trivial HTTP/1.1 server in its own process (`stub`, the default: it answers
201/200 with a small JSON body, so only the gateway's own cost is measured) or the real contacts
service under gunicorn. Everything binds 127.0.0.1 and is bounded in count (<= 5,000 requests a
phase). Needs PostgreSQL (CRM_TEST_PG_ADMIN_URL, from `infra/servers.py env`) for the gateway's
database; CRM_TEST_REDIS_URL with `--redis`.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import importlib
import io
import itertools
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import free_port, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_REQUESTS = 5000
CONTACT = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


# --- the stub upstream --------------------------------------------------------------------------

class _Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    one = json.dumps({"id": "0190d1b2-0000-7000-8000-000000000001", **CONTACT, "properties": {}}).encode()
    page = json.dumps({"data": [json.loads(one)] * 50, "next_cursor": None}).encode()

    def _answer(self, status: int, body: bytes) -> None:
        # One write for head and body: two small writes meet Nagle and delayed ACK (40 ms stalls).
        head = (f"HTTP/1.1 {status} {'Created' if status == 201 else 'OK'}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nX-Request-Id: {self.headers.get('X-Request-Id', '')}\r\n\r\n")
        self.wfile.write(head.encode() + body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(201, self.one)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(200, self.page if "?" in self.path else self.one)

    def log_message(self, *args: Any) -> None:
        pass


def serve_stub(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Stub).serve_forever()


# --- processes ----------------------------------------------------------------------------------

def gunicorn(app: str, port: int, env: dict[str, str], threads: int) -> subprocess.Popen[bytes]:
    multiproc = tempfile.mkdtemp(prefix=f"crm-prom-{port}-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": multiproc, **env, "GUNICORN_WORKERS": "1",
           "GUNICORN_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
           "--bind", f"127.0.0.1:{port}", app]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def worker_pid(master: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("no gunicorn worker")


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


# --- load ---------------------------------------------------------------------------------------

def drive(base: str, method: str, path: str, token: str, n: int, concurrency: int) -> collections.Counter[int]:
    """n requests from `concurrency` threads over keep-alive connections; statuses counted."""
    pool = urllib3.HTTPConnectionPool("127.0.0.1", int(base.rsplit(":", 1)[1]), maxsize=concurrency, retries=False)
    stamp = time.time_ns()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    statuses: collections.Counter[int] = collections.Counter()
    lock, left, seq = threading.Lock(), [n], itertools.count()

    def run() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            # A new email each time: the contacts service refuses a duplicate with 409.
            body = json.dumps({**CONTACT, "email": f"c{next(seq)}-{stamp}@example.com"}) if method == "POST" else None
            status = pool.urlopen(method, path, body=body, headers=headers).status
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return statuses


def credentials(base: str) -> tuple[str, str]:
    """(access token, API key) of a fresh tenant."""
    signup = urllib3.request("POST", base + "/v1/signup", json={
        "company": "Profile Co", "email": f"profile-{time.time_ns()}@example.com", "password": "profile password 1"})
    assert signup.status == 201, signup.data
    token = signup.json()["access_token"]
    key = urllib3.request("POST", base + "/v1/api-keys", headers={"Authorization": f"Bearer {token}"},
                          json={"name": "profile", "scopes": ["contacts:read", "contacts:write"]})
    assert key.status == 201, key.data
    return token, key.json()["key"]


PHASES = (("POST", "/v1/contacts"), ("GET", "/v1/contacts?limit=50"))


# --- py-spy -------------------------------------------------------------------------------------

def py_spy_start(pid: int, out: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(exe), "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
                             "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy_report(out: Path, top: int) -> None:
    """Self and total sample shares per function from py-spy's collapsed stacks (idle threads excluded)."""
    selfs: collections.Counter[str] = collections.Counter()
    totals: collections.Counter[str] = collections.Counter()
    samples = 0
    idle = ("select (selectors", "wait (threading", "accept (socket", "_worker (concurrent", "run (gunicorn",
            "sleep (gunicorn", "poll (selectors", "readinto (socket")
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or any(frames[-1].startswith(i) for i in idle):
            continue
        n = int(count)
        samples += n
        selfs[frames[-1]] += n
        for f in set(frames):
            totals[f] += n
    print(f"py-spy: {samples} busy samples")
    print("  self %  function")
    for f, n in selfs.most_common(top):
        print(f"  {100 * n / samples:5.1f}  {f}")
    print(" total %  function")
    for f, n in totals.most_common(top + 15):
        print(f"  {100 * n / samples:5.1f}  {f}")


# --- runs ---------------------------------------------------------------------------------------

def setup_databases(upstream: str) -> dict[str, str]:
    from crm_db.migrate import upgrade
    from crm_testing.db import create_service_database

    admin = os.environ.get("CRM_TEST_PG_ADMIN_URL")
    if not admin:
        raise SystemExit("set CRM_TEST_PG_ADMIN_URL (eval \"$(python infra/servers.py env)\")")
    urls = {}
    for name in ("gateway", *(["contacts"] if upstream == "contacts" else [])):
        owner, app = create_service_database(admin, f"profile_gw_{name}")
        upgrade(importlib.import_module(f"{name}.__main__").PROCESS.migrations, owner)
        urls[name] = app
    return urls


def gateway_env(args: argparse.Namespace, urls: dict[str, str], keys: dict[str, Path], upstream_url: str) -> dict[str, str]:
    env = {"CRM_VAR_DIR": str(keys["dir"]), "CRM_INTERNAL_PUBLIC_KEY_FILE": str(keys["public"]),
           "CRM_INTERNAL_PRIVATE_KEY_FILE": str(keys["private"]), "CRM_DATABASE_URL": urls["gateway"],
           "CRM_JWT_SECRET": "profile-secret-" + "x" * 40, "CRM_CONTACTS_URL": upstream_url,
           "CRM_LOG_LEVEL": args.log_level,
           "CRM_RATE_LIMIT_TENANT_RATE": "1000000", "CRM_RATE_LIMIT_TENANT_BURST": "1000000",
           "CRM_RATE_LIMIT_KEY_RATE": "1000000", "CRM_RATE_LIMIT_KEY_BURST": "1000000"}
    if args.redis:
        env["CRM_REDIS_URL"] = os.environ["CRM_TEST_REDIS_URL"]
    return env


def run_gunicorn(args: argparse.Namespace, env: dict[str, str], contacts_pid: int | None) -> None:
    port = free_port()
    gw = gunicorn("gateway.app:create_app()", port, env, args.threads)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/healthz")
        wpid = worker_pid(gw.pid)
        token, key = credentials(base)
        for cred_name, cred in (("access_token", token), ("api_key", key)):
            for method, path in PHASES:
                drive(base, method, path, cred, min(200, args.requests), args.concurrency)  # warm-up
                spy = None
                if args.py_spy:
                    out = Path(tempfile.mkdtemp()) / "spy.txt"
                    spy = py_spy_start(wpid, out)
                    time.sleep(0.5)
                before, svc_before = cpu_split(wpid), cpu_seconds(contacts_pid) if contacts_pid else 0.0
                statuses = drive(base, method, path, cred, args.requests, args.concurrency)
                after = cpu_split(wpid)
                user_ms, sys_ms = ((a - b) * 1000 / args.requests for a, b in zip(after, before, strict=True))
                gw_ms = user_ms + sys_ms
                svc = (f" contacts_cpu_ms_per_req={(cpu_seconds(contacts_pid) - svc_before) * 1000 / args.requests:.3f}"
                       if contacts_pid else "")
                print(f"{cred_name:12s} {method:4s} {path:24s} gateway_cpu_ms_per_req={gw_ms:.3f} "
                      f"(user {user_ms:.3f} sys {sys_ms:.3f}){svc} "
                      f"statuses={dict(statuses)}", flush=True)
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=30)
                    py_spy_report(out, args.top)
    finally:
        stop(gw)


def run_inprocess(args: argparse.Namespace, env: dict[str, str]) -> None:
    from werkzeug.test import EnvironBuilder

    os.environ.update(env)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the log lines go where gunicorn's go here (nowhere)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="crm-prom-inproc-")
    from gateway.app import create_app

    app = create_app()
    client = app.test_client()
    signup = client.post("/v1/signup", json={"company": "Profile Co", "email": f"p-{time.time_ns()}@example.com",
                                             "password": "profile password 1"})
    token = signup.get_json()["access_token"]
    key = client.post("/v1/api-keys", headers={"Authorization": f"Bearer {token}"},
                      json={"name": "profile", "scopes": ["contacts:read", "contacts:write"]}).get_json()["key"]
    body = json.dumps(CONTACT).encode()

    def call(environ: dict[str, Any]) -> str:
        status: list[str] = []
        environ = dict(environ)
        environ["wsgi.input"] = io.BytesIO(body if environ["REQUEST_METHOD"] == "POST" else b"")
        result = app(environ, lambda s, h, e=None: status.append(s))
        for _ in result:
            pass
        getattr(result, "close", lambda: None)()
        return status[0][:3]

    for cred_name, cred in (("access_token", token), ("api_key", key)):
        for method, path in PHASES:
            p, _, q = path.partition("?")
            environ = EnvironBuilder(path=p, query_string=q, method=method, data=body if method == "POST" else None,
                                     headers={"Authorization": f"Bearer {cred}", "Content-Type": "application/json"},
                                     environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()
            for _ in range(min(200, args.requests)):
                call(environ)
            profiler = cProfile.Profile(time.thread_time) if args.cprofile else None  # CPU, not wall
            statuses: collections.Counter[str] = collections.Counter()
            start = time.process_time()
            if profiler:
                profiler.enable()
            for _ in range(args.requests):
                statuses[call(environ)] += 1
            if profiler:
                profiler.disable()
            ms = (time.process_time() - start) * 1000 / args.requests
            print(f"{cred_name:12s} {method:4s} {path:24s} inprocess_cpu_ms_per_req={ms:.3f} statuses={dict(statuses)}"
                  + (" (under cProfile)" if profiler else ""), flush=True)
            if profiler:
                for order in ("tottime", "cumulative"):
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
                    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", choices=("stub", "contacts"), default="stub")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads of the gateway worker")
    parser.add_argument("--redis", action="store_true", help="rate limits in Redis (CRM_TEST_REDIS_URL)")
    parser.add_argument("--log-level", default="INFO", help="CRM_LOG_LEVEL of the gateway (INFO: access log on)")
    parser.add_argument("--inprocess", action="store_true", help="call the app through WSGI in this process")
    parser.add_argument("--cprofile", action="store_true", help="with --inprocess: print cProfile's top entries")
    parser.add_argument("--py-spy", action="store_true", help="under gunicorn: sample the worker with py-spy")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--serve-stub", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stub:
        serve_stub(args.serve_stub)
        return
    args.requests = max(1, min(args.requests, MAX_REQUESTS))

    from crm_core.internal_token import generate_keypair

    urls = setup_databases(args.upstream)
    workdir = Path(tempfile.mkdtemp(prefix="crm-profile-gw-"))
    private, public = generate_keypair()
    keys = {"dir": workdir, "private": workdir / "internal.pem", "public": workdir / "internal.pub.pem"}
    keys["private"].write_text(private)
    keys["public"].write_text(public)
    procs: list[subprocess.Popen[bytes]] = []
    contacts_pid = None
    try:
        up_port = free_port()
        if args.upstream == "stub":
            procs.append(subprocess.Popen([sys.executable, __file__, "--serve-stub", str(up_port)],
                                          start_new_session=True))
            wait_ready(f"http://127.0.0.1:{up_port}/healthz")
        else:
            procs.append(gunicorn("contacts.app:create_app()", up_port, {
                "CRM_VAR_DIR": str(workdir), "CRM_INTERNAL_PUBLIC_KEY_FILE": str(keys["public"]),
                "CRM_DATABASE_URL": urls["contacts"], "CRM_LOG_LEVEL": args.log_level}, args.threads))
            wait_ready(f"http://127.0.0.1:{up_port}/healthz")
            contacts_pid = worker_pid(procs[-1].pid)
        env = gateway_env(args, urls, keys, f"http://127.0.0.1:{up_port}")
        print(f"profile_gateway: upstream={args.upstream} requests={args.requests} concurrency={args.concurrency} "
              f"redis={args.redis} log_level={args.log_level} {'inprocess' if args.inprocess else 'gunicorn 1x'}"
              f"{'' if args.inprocess else args.threads}", flush=True)
        if args.inprocess:
            run_inprocess(args, env)
        else:
            run_gunicorn(args, env, contacts_pid)
    finally:
        stop(*procs)


if __name__ == "__main__":
    main()
