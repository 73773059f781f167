"""In-process profile of the contacts write path on PostgreSQL: CPU ms and round trips per request.

    .venv/bin/python bench/profile_writes.py [--n 1000] [--op post|patch|delete|all] [--rules]
        [--properties] [--idempotency] [--profile cprofile|none] [--top 30]

The contacts Flask app on a fresh PostgreSQL database (app role, RLS on), called through Flask's
test client with a minted internal token, exactly as the gateway calls it. Per request it prints
time.process_time() (this process only: the database and the round-trip counter run elsewhere),
the statements sent (every psycopg execute plus the BEGIN/COMMIT psycopg sends itself) and the
round trips: the times the client waits for PostgreSQL (a statement outside a pipeline, or a
pipeline sync), cross-checked by a TCP relay in a child process that counts turns (client bytes
after server bytes on a connection: an upper bound, since a pipeline's sends can interleave with
early answers).

Bounded: --n requests per operation (at most 5,000), 127.0.0.1 only, the database dropped after.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import os
import pstats
import select
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAX_N = 5000


# --- the round-trip counter (runs in a child process: its CPU is not the service's) ------------

def _relay(listener: socket.socket, target: tuple[str, int], trips: Any) -> None:
    conns: dict[socket.socket, socket.socket] = {}
    last_from_server: dict[socket.socket, bool] = {}  # keyed by the client side
    client_of: dict[socket.socket, socket.socket] = {}
    listener.setblocking(False)
    while True:
        readable, _, _ = select.select([listener, *conns], [], [], 1.0)
        for sock in readable:
            if sock is listener:
                client, _ = listener.accept()
                server = socket.create_connection(target)
                for s in (client, server):
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conns[client], conns[server] = server, client
                client_of[client], client_of[server] = client, client
                last_from_server[client] = True  # the first bytes the client sends start a trip
                continue
            data = sock.recv(65536)
            peer = conns.get(sock)
            if not data or peer is None:
                for s in (sock, peer):
                    if s is not None:
                        conns.pop(s, None)
                        client_of.pop(s, None)
                        last_from_server.pop(s, None)
                        s.close()
                continue
            client = client_of[sock]
            from_server = sock is not client
            if not from_server and last_from_server.get(client):
                with trips.get_lock():
                    trips.value += 1
            last_from_server[client] = from_server
            peer.sendall(data)


# --- statements sent (in this process) ----------------------------------------------------------

class StatementCounter:
    """Counts, in this process, every statement psycopg sends (cursor executes, plus its own BEGIN,
    COMMIT and ROLLBACK) and the round trips the client waits on: a statement outside a pipeline,
    or a pipeline sync (psycopg syncs on its BEGIN, on commit() and on leaving the pipeline)."""

    def __init__(self) -> None:
        self.count = 0
        self.trips = 0
        self.trace: list[str] | None = None

    def note(self, what: str, *, trip: bool) -> None:
        self.count += 1
        self.trips += trip
        if self.trace is not None:
            self.trace.append(("[trip] " if trip else "       ") + " ".join(what.split())[:150])

    def install(self) -> None:
        import psycopg
        from psycopg import _pipeline_base

        counter = self
        for name in ("execute", "executemany"):
            original = getattr(psycopg.Cursor, name)

            def wrapped(cur: Any, *args: Any, __original: Callable[..., Any] = original, **kwargs: Any) -> Any:
                conn = cur.connection
                if not conn.autocommit and conn.pgconn.transaction_status == 0:  # psycopg sends BEGIN first
                    counter.note("BEGIN (psycopg)", trip=True)
                counter.note(str(args[0]) if args else "?", trip=conn._pipeline is None)
                return __original(cur, *args, **kwargs)

            setattr(psycopg.Cursor, name, wrapped)
        for name in ("commit", "rollback"):
            original = getattr(psycopg.Connection, name)

            def wrapped_tx(conn: Any, __original: Callable[..., Any] = original, __name: str = name) -> Any:
                if conn.pgconn.transaction_status != 0:  # IDLE: psycopg sends nothing
                    counter.note(__name.upper() + " (psycopg)", trip=conn._pipeline is None)
                return __original(conn)

            setattr(psycopg.Connection, name, wrapped_tx)
        for name in ("_sync_gen", "_exit_gen"):
            original = getattr(_pipeline_base.BasePipeline, name)

            def wrapped_sync(pipe: Any, __original: Callable[..., Any] = original, __name: str = name) -> Any:
                counter.trips += 1
                if counter.trace is not None:
                    counter.trace.append("[trip] pipeline " + ("sync" if __name == "_sync_gen" else "exit (sync)"))
                return __original(pipe)

            setattr(_pipeline_base.BasePipeline, name, wrapped_sync)


# --- the service --------------------------------------------------------------------------------

def admin_url() -> str:
    url = os.environ.get("CRM_TEST_PG_ADMIN_URL")
    if url:
        return url
    sys.path.insert(0, str(ROOT / "bench"))
    from run import pg_admin_url

    return pg_admin_url()


def body(i: int, run: str, *, properties: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"first_name": "Bench", "last_name": f"Mark {i}", "company_name": "Load Co",
                           "email": f"bench-{run}-{i}@example.com"}
    if properties:
        out["properties"] = {"plan": "pro", "seats": i % 50}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--op", choices=("post", "patch", "delete", "all"), default="all")
    parser.add_argument("--rules", action="store_true", help="a scoring rule exists (POST rescore path)")
    parser.add_argument("--properties", action="store_true", help="custom fields defined and sent")
    parser.add_argument("--idempotency", action="store_true", help="send an Idempotency-Key with each POST")
    parser.add_argument("--profile", choices=("cprofile", "none"), default="none")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--direct", action="store_true", help="no relay (round trips not counted)")
    parser.add_argument("--trace", action="store_true", help="print the statements of one request per op")
    args = parser.parse_args()
    n = max(1, min(args.n, MAX_N))
    os.environ.setdefault("CRM_LOG_LEVEL", "WARNING")  # as `make bench` runs the services

    import psycopg
    from psycopg import sql

    import contacts
    from contacts.app import create_app
    from contacts.models import metadata
    from crm_core.scopes import ALL_SCOPES
    from crm_runtime.service import migrations_dir
    from crm_testing.apps import make_harness
    from crm_testing.db import create_service_database, libpq_url

    admin = admin_url()
    name = f"bench_writes_{os.getpid()}"
    owner_url, app_url = create_service_database(admin, name)
    # The app connects through the relay (round trips); migrations and setup go direct.
    from sqlalchemy.engine import make_url

    parsed = make_url(app_url)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    relay_port = listener.getsockname()[1]
    trips = multiprocessing.Value("q", 0)
    relay = multiprocessing.Process(target=_relay, args=(listener, (parsed.host, parsed.port), trips), daemon=True)
    relay.start()
    listener.close()
    relayed_url = parsed.set(host="127.0.0.1", port=relay_port).render_as_string(hide_password=False)

    counter = StatementCounter()
    counter.install()
    tmp = Path(tempfile.mkdtemp(prefix="profile_writes_"))
    try:
        svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp,
                           database_url=app_url if args.direct else relayed_url, owner_url=owner_url)
        client = svc.client
        # A token for the whole run (the gateway's last 60 s): the service still verifies it per request.
        from crm_core.context import Principal
        from crm_core.internal_token import HEADER

        tenant = svc.tenant("a")
        principal = Principal(tenant, uuid.uuid5(tenant, "user"), ("owner",), tuple(ALL_SCOPES))
        headers = {HEADER: svc.signer.mint(principal, "contacts", ttl=3600), "Content-Type": "application/json"}
        if args.properties:
            for prop in ({"key": "plan", "label": "Plan", "type": "enum", "options": ["free", "pro", "team"]},
                         {"key": "seats", "label": "Seats", "type": "number"}):
                r = client.post("/v1/properties/contacts", json=prop, headers=headers)
                assert r.status_code == 201, r.get_data(as_text=True)
        if args.rules:
            r = client.post("/v1/scoring-rules", json={"name": "bench", "filter": "last_name starts_with 'Mark 1'",
                                                       "points": 10}, headers=headers)
            assert r.status_code == 201, r.get_data(as_text=True)
        run = uuid.uuid4().hex[:8]
        seq = iter(range(10**9))

        def post() -> Any:
            i = next(seq)
            h = {**headers, "Idempotency-Key": f"k-{run}-{i}"} if args.idempotency else headers
            r = client.post("/v1/contacts", json=body(i, run, properties=args.properties), headers=h)
            assert r.status_code == 201, r.get_data(as_text=True)
            return r

        created: list[tuple[str, str]] = []

        def post_keep() -> None:
            r = post()
            created.append((r.json["id"], r.headers["ETag"]))

        patch_i = iter(range(10**9))

        def patch() -> None:
            i = next(patch_i)
            rid, etag = created[i % len(created)]
            r = client.patch(f"/v1/contacts/{rid}", json={"lifecycle_stage": "lead", "last_name": f"Patched {i}"},
                             headers={**headers, "If-Match": etag})
            assert r.status_code == 200, r.get_data(as_text=True)
            created[i % len(created)] = (rid, r.headers["ETag"])

        def delete() -> None:
            rid, _ = created.pop()
            r = client.delete(f"/v1/contacts/{rid}", headers=headers)
            assert r.status_code == 204, r.get_data(as_text=True)

        ops: list[tuple[str, Callable[[], None]]] = []
        if args.op in ("post", "all"):
            ops.append(("POST", post_keep))
        if args.op in ("patch", "all"):
            ops.append(("PATCH", patch))
        if args.op in ("delete", "all"):
            ops.append(("DELETE", delete))
        # Warm-up: pools, caches, compiled statements; and rows for PATCH/DELETE to work on.
        for _ in range(min(200, n)):
            post_keep()
        if args.op in ("patch", "delete"):
            for _ in range(n):
                post_keep()
        for _ in range(20):
            patch()
        profiler = cProfile.Profile(time.process_time) if args.profile == "cprofile" else None
        flags = " ".join(f for f, on in (("rules", args.rules), ("properties", args.properties),
                                          ("idempotency", args.idempotency)) if on) or "plain"
        print(f"profile_writes: n={n} per op, {flags}; psycopg {psycopg.__version__} ({psycopg.pq.__impl__})")
        for label, op in ops:
            if label == "DELETE" and len(created) < n:
                for _ in range(n - len(created)):
                    post_keep()
            if args.trace:
                counter.trace = []
                op()
                print(f"{label} statements:\n  " + "\n  ".join(counter.trace))
                counter.trace = None
            stmts0, trips0, relay0 = counter.count, counter.trips, trips.value
            if profiler is not None:
                profiler.enable()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                op()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            if profiler is not None:
                profiler.disable()
            time.sleep(0.2)  # let the relay count the last reply
            print(f"{label:6} cpu_ms_per_request={1000 * cpu / n:.3f} statements_per_request="
                  f"{(counter.count - stmts0) / n:.2f} round_trips_per_request={(counter.trips - trips0) / n:.2f} "
                  f"relay_turns_per_request={(trips.value - relay0) / n:.2f} wall_ms={1000 * wall / n:.2f}", flush=True)
        if profiler is not None:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
            print(out.getvalue())
        svc.db.dispose()
    finally:
        relay.terminate()
        with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
