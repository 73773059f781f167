"""Web console benchmark: what a user waits for, in headless Debian chromium on the embedded default.

Prints the first screen's JavaScript and CSS as shipped (gzip; goal <= 250 KB) and every route's
own chunks; then, with a tenant of 10,000 contacts and 2,000 deals (BENCH_CONSOLE_CONTACTS,
BENCH_CONSOLE_DEALS), over BENCH_CONSOLE_ROUNDS loads each: the time from navigation to an
interactive contacts table (its first row is a link one can click) and to a settled pipeline board
(every stage column drawn, the deals counted), goal <= 1 s each; and the time from dropping a card
on another stage to the board showing it settled there (the PATCH answered, the card in the new
column), goal <= 200 ms; p50 and p99 (nearest rank: with few rounds, the worst).

CPU per API request the page made, apart for each side (the platform runs in this process, the
gateway and services as threads of werkzeug servers, the workers as threads; Playwright's client
runs in this process's main thread; the Node driver and chromium are child processes):
  gateway / services: CPU time of the threads that served their requests (time.thread_time()
    around each WSGI call: werkzeug's own parsing and socket writes are left out);
  platform: this process's CPU less its main thread's: every platform thread, workers included;
  driver_client: the main thread (Playwright's Python side), per load;
  browser: the Node driver and chromium processes (/proc, utime + stime), per load; a process
    that exits during a load is missed.
console_platform_idle is the platform's CPU per second while no page asks for anything (relays
and consumers polling, or still working through the seed's events): the part of `platform` that
is not the requests'.
Alone: `.venv/bin/python bench/console.py`. Bounded in count and time; 127.0.0.1 only.
"""

from __future__ import annotations

import gzip
import os
import re
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "libs"), *(str(p) for p in sorted((ROOT / "services").iterdir()) if p.is_dir()),
                str(ROOT / "bench")]

from crm_runtime.console_build import ensure_built  # noqa: E402

DIST = ROOT / "web" / "dist"
CONTACTS = int(os.environ.get("BENCH_CONSOLE_CONTACTS", "10000"))
DEALS = int(os.environ.get("BENCH_CONSOLE_DEALS", "2000"))
ROUNDS = int(os.environ.get("BENCH_CONSOLE_ROUNDS", "7"))
GOAL_FIRST_SCREEN_KB, GOAL_LOAD_MS, GOAL_DROP_MS = 250, 1000, 200
IDLE_SECONDS = 5


def _gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9))


def sizes() -> None:
    index = (DIST / "index.html").read_text()
    first = re.findall(r'(?:src|href)="/(assets/[^"]+\.(?:js|css))"', index)
    total = sum(_gz(DIST / f) for f in first)
    print(f"console_first_screen files={len(first)} gzip_kb={total / 1024:.1f} (goal <= {GOAL_FIRST_SCREEN_KB})", flush=True)
    for chunk in sorted((DIST / "assets").iterdir()):
        if f"assets/{chunk.name}" not in first:
            print(f"  route chunk {chunk.name}: gzip_kb={_gz(chunk) / 1024:.1f}", flush=True)


def seed(platform: Any) -> dict[str, Any]:
    owner = platform.signup("Bench Console Co")
    token = owner["access_token"]

    def post(path: str, body: Any) -> None:
        for attempt in range(5):  # SQLite under four writers may answer 503 (busy); a client retries
            resp = platform.request("POST", path, body, token=token)
            if resp.status != 503:
                break
            time.sleep(1 + attempt)
        assert resp.status < 300, (path, resp.status, resp.data[:300])

    started = time.monotonic()
    batches = [[{"first_name": f"First{n}", "last_name": f"Last{n}", "email": f"person{n}@example.com",
                 "lifecycle_stage": "lead" if n % 3 else "customer"} for n in range(i, min(i + 100, CONTACTS))]
               for i in range(0, CONTACTS, 100)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda items: post("/v1/contacts/batch", {"mode": "create", "items": items}), batches))
        list(pool.map(lambda n: post("/v1/deals", {"name": f"Deal {n}", "amount": {"amount": str(500 + n), "currency": "EUR"}}),
                      range(DEALS)))
    print(f"console_seed contacts={CONTACTS} deals={DEALS} seconds={time.monotonic() - started:.1f}", flush=True)
    # The seed's events are relayed and consumed before measuring: a backlog would hold the same
    # SQLite files and CPU the pages need. The reporting summary counting them all means it is done.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        summary = platform.request("GET", "/v1/reports/summary", token=token).json()
        if summary.get("contacts", 0) >= CONTACTS and summary.get("open_deals", 0) >= DEALS:
            break
        time.sleep(2)
    print(f"console_seed_events_drained seconds={time.monotonic() - started:.1f}", flush=True)
    return owner


def _pct(values: list[float]) -> str:
    ordered = sorted(values)

    def rank(p: float) -> float:  # nearest rank
        return ordered[max(0, min(len(ordered) - 1, int(-(-len(ordered) * p // 100)) - 1))]

    return f"p50_ms={rank(50):.0f} p99_ms={rank(99):.0f} max_ms={ordered[-1]:.0f}"


class ServerCpu:
    """CPU seconds of the threads serving each service's requests: every WSGI call of a server
    timed with time.thread_time() (the handling thread's own CPU, not the time it waits)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.lock = threading.Lock()

    def wrap(self, name: str, app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
        def metered(environ: Any, start_response: Any) -> list[bytes]:
            t0 = time.thread_time()
            body = app(environ, start_response)
            try:
                chunks = list(body)
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
                with self.lock:
                    self.cpu[name] += time.thread_time() - t0
            return chunks

        return metered

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            return dict(self.cpu)


def meter(platform: Any) -> ServerCpu:
    found = ServerCpu()
    for name, handle in platform.services.items():
        if handle.server is not None:
            handle.server.app = found.wrap(name, handle.server.app)
    return found


def _children_cpu() -> float:
    """The Node driver's and chromium's CPU seconds: this process's descendants."""
    from run import cpu_seconds, process_tree  # bench/run.py, beside this file

    return cpu_seconds([pid for pid in process_tree(os.getpid()) if pid != os.getpid()])


class Cpu:
    """A phase's CPU, per side: see the module's docstring."""

    def __init__(self, servers: ServerCpu) -> None:
        self.servers = servers
        self.start()

    def start(self) -> None:
        self.process, self.main, self.children = time.process_time(), time.thread_time(), _children_cpu()
        self.by_service = self.servers.snapshot()

    def line(self, requests: int, loads: int) -> str:
        main = time.thread_time() - self.main
        platform = time.process_time() - self.process - main
        children = _children_cpu() - self.children
        now = self.servers.snapshot()
        gateway = now.get("gateway", 0.0) - self.by_service.get("gateway", 0.0)
        services = sum(v - self.by_service.get(k, 0.0) for k, v in now.items() if k != "gateway")
        per = max(1, requests)
        return (f"cpu_ms_per_request: platform={platform * 1000 / per:.1f} (gateway={gateway * 1000 / per:.1f} "
                f"services={services * 1000 / per:.1f}) cpu_ms_per_load: driver_client={main * 1000 / max(1, loads):.0f} "
                f"browser={children * 1000 / max(1, loads):.0f}")


def measure(platform: Any, owner: dict[str, Any], servers: ServerCpu) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        api_requests = [0]
        page.on("request", lambda r: api_requests.__setitem__(0, api_requests[0] + ("/v1/" in r.url)))
        page.goto(platform.gateway_url + "/signin")
        page.get_by_label("Email").fill(owner["email"])
        page.get_by_label("Password").fill(owner["password"])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Contacts").wait_for()
        # What the platform's threads burn with no page asking (workers polling, consumers still busy):
        # the part of `platform` below that no request caused.
        idle = Cpu(servers)
        page.wait_for_timeout(IDLE_SECONDS * 1000)
        print(f"console_platform_idle seconds={IDLE_SECONDS} {idle.line(IDLE_SECONDS, 1).split(' (')[0]}"
              .replace("cpu_ms_per_request: platform=", "cpu_ms_per_second="), flush=True)

        for screen, path, ready in (
            ("contacts_table", "/contacts", lambda: page.locator("tbody tr a").first.wait_for()),
            ("pipeline_board", "/pipeline",
             lambda: page.wait_for_function(
                 "(n) => [...document.querySelectorAll('[data-testid=count]')].reduce((s, e) => s + Number(e.textContent), 0) >= n",
                 arg=DEALS, timeout=30_000)),
        ):
            took, requests = [], 0
            cpu = Cpu(servers)
            for _ in range(ROUNDS):
                before_requests = api_requests[0]
                t0 = time.perf_counter()
                page.goto(platform.gateway_url + path)  # a full load: the session is restored from the cookie
                ready()
                took.append((time.perf_counter() - t0) * 1000)
                requests += api_requests[0] - before_requests
            print(f"console_{screen} rounds={ROUNDS} {_pct(took)} (goal <= {GOAL_LOAD_MS}) api_requests_per_load="
                  f"{requests / ROUNDS:.1f} {cpu.line(requests, ROUNDS)}", flush=True)

        # Drop to settled: the card's stage menu (the same optimistic move as a drag), timed to the PATCH's answer
        # with the card in its new column; the first card of the first column each round.
        page.wait_for_load_state("networkidle")
        columns = page.locator("section.column")
        names = [columns.nth(i).get_attribute("data-stage") for i in range(columns.count())]
        took, answered = [], []
        requests0 = api_requests[0]
        cpu = Cpu(servers)
        for n in range(ROUNDS):
            deal = columns.first.locator("li.deal").first.get_attribute("data-deal")
            target = names[1 + n % 3]
            select = page.get_by_label(f"Move {deal} to stage", exact=True)
            t0 = time.perf_counter()
            with page.expect_response(lambda r: "/v1/deals/" in r.url and r.request.method == "PATCH"):
                select.select_option(label=target)
            answered.append((time.perf_counter() - t0) * 1000)
            page.locator(f"section.column[data-stage='{target}'] li[data-deal='{deal}']").wait_for()
            took.append((time.perf_counter() - t0) * 1000)
            page.wait_for_load_state("networkidle")  # the refreshed summary and columns, before the next drop
        print(f"console_drop_to_settled rounds={ROUNDS} {_pct(took)} (goal <= {GOAL_DROP_MS}) "
              f"patch_answered_{_pct(answered).replace(' ', ' patch_answered_')} api_requests_per_drop="
              f"{(api_requests[0] - requests0) / ROUNDS:.1f} {cpu.line(api_requests[0] - requests0, ROUNDS)}", flush=True)
        browser.close()


def main() -> None:
    ensure_built()
    sizes()
    from crm_testing.platform import start_platform

    with tempfile.TemporaryDirectory(prefix="bench-console-") as var:
        # Every full load restores the session with an anonymous POST /v1/auth/refresh and asks for
        # /favicon.ico (a 401: there is none): more rounds than the anonymous and bad-credential bursts
        # (20 each) would be answered 429, as the browser tests' platform allows for too.
        platform = start_platform(Path(var), CRM_RATE_LIMIT_TENANT_RATE="100000", CRM_RATE_LIMIT_TENANT_BURST="100000",
                                  CRM_RATE_LIMIT_ANONYMOUS_BURST="1000", CRM_RATE_LIMIT_BAD_CREDENTIALS_BURST="1000")
        try:
            servers = meter(platform)
            platform.start_workers()
            measure(platform, seed(platform), servers)
        finally:
            platform.close()


if __name__ == "__main__":
    main()
