"""The whole platform in one test process: every service on a real HTTP port behind the real gateway.

Each service gets its own database (SQLite files, or PostgreSQL databases with owner and app roles)
and the event log is the embedded one or a real Kafka broker. Workers (relays, consumers, webhook
delivery) run as threads, or as subprocesses when a test needs to kill them.
"""

from __future__ import annotations

import importlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from werkzeug.serving import BaseWSGIServer, make_server

from crm_core.internal_token import generate_keypair
from crm_core.settings import REPO_ROOT, Settings
from crm_db.database import Database
from crm_db.migrate import upgrade
from crm_runtime.catalog import SERVICES
from crm_runtime.cli import BackgroundLoop, ServiceProcess, _consumer_loops, _relay_loop
from crm_testing.apps import _migrated_sqlite, make_settings
from crm_testing.db import migrated_copy


@dataclass
class ServiceHandle:
    name: str
    settings: Settings
    process: ServiceProcess
    server: BaseWSGIServer | None = None
    url: str = ""
    internal_server: BaseWSGIServer | None = None  # the gateway's /metrics and detailed /readyz
    internal_url: str = ""
    web: subprocess.Popen[bytes] | None = None  # `python -m <name> web` (gunicorn), when asked for

    def env(self, command: str = "worker") -> dict[str, str]:
        """Environment for running this service's CLI (`python -m <name> <command>`) as a subprocess."""
        s = self.settings
        env = {**os.environ, "CRM_DATABASE_URL": s.database_url, "CRM_DATABASE_OWNER_URL": s.database_owner_url,
               "CRM_VAR_DIR": str(s.var_dir), "CRM_METRICS_PORT": "0",
               "CRM_LOG_LEVEL": os.environ.get("CRM_TEST_WORKER_LOG_LEVEL", "WARNING"),
               "PYTHONPATH": os.pathsep.join(sys.path)}
        if s.kafka_bootstrap:
            env["CRM_KAFKA_BOOTSTRAP"] = s.kafka_bootstrap
            env["CRM_KAFKA_TOPIC_PREFIX"] = s.kafka_topic_prefix
        env.update(s.extra)
        env.pop("CRM_INTERNAL_PRIVATE_KEY", None)
        env.pop("CRM_INTERNAL_PRIVATE_KEY_FILE", None)
        if self.name == "automation" and command == "worker" and s.internal_private_key:
            # As deployed: the automation worker signs the internal tokens of workflow runs.
            env["CRM_INTERNAL_PRIVATE_KEY"] = s.internal_private_key
        return env

    def spawn(self, command: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.settings.var_dir / f"{self.name}-{command}.log", "ab")  # noqa: SIM115 - owned by the child
        try:
            return subprocess.Popen([sys.executable, "-m", self.name, command, *args], env={**self.env(command), **(env or {})},
                                    cwd=REPO_ROOT, stdout=log, stderr=log)
        finally:
            log.close()

    def web_workers(self) -> list[int]:
        """Pids of the gunicorn workers (the master's children) of a `web` subprocess."""
        if self.web is None:
            return []
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.web.pid and fields[0] not in ("Z", "X"):
                children.append(int(stat.parent.name))
        return sorted(children)


@dataclass
class Platform:
    var_dir: Path
    services: dict[str, ServiceHandle] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    http: urllib3.PoolManager = field(default_factory=lambda: urllib3.PoolManager(maxsize=8))
    closers: list[Callable[[], None]] = field(default_factory=list)  # run first by close()
    # Before every Kafka topic name of this platform: a platform reads only its own events, not
    # every earlier test's (a new consumer group starts at the beginning of a shared topic).
    topic_prefix: str = ""

    @property
    def gateway_url(self) -> str:
        return self.services["gateway"].url

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": h}
        if body is not None:
            kwargs["json"] = body
        return self.http.request(method, self.gateway_url + path, retries=False, **kwargs)

    def signup(self, company: str = "Acme") -> dict[str, Any]:
        email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
        resp = self.request("POST", "/v1/signup", {"company": company, "email": email, "password": "correct horse battery"})
        assert resp.status == 201, resp.data
        return {**resp.json(), "email": email, "password": "correct horse battery"}

    def start_workers(self, only: set[str] | None = None, skip_relay: set[str] | None = None) -> None:
        """Relays, consumers and delivery loops: `python -m <service> worker` processes on Kafka (one
        consumer per process, as deployed), threads of this process on the embedded log (faster)."""
        for handle in self.services.values():
            if only is not None and handle.name not in only:
                continue
            if handle.settings.kafka_bootstrap and not skip_relay:
                self.processes.append(handle.spawn("worker"))
                continue
            db = Database(handle.settings.database_url, pool_size=2)
            loops: list[BackgroundLoop] = []
            if handle.process.has_outbox and handle.name not in (skip_relay or set()):
                loops.append(_relay_loop(handle.process, handle.settings, db))
            loops += _consumer_loops(handle.process, handle.settings, db)
            loops += handle.process.background(handle.settings, db)
            for loop in loops:
                t = threading.Thread(target=loop, args=(self.stop,), daemon=True)
                t.start()
                self.threads.append(t)

    def start_inbound_smtp(self) -> tuple[str, int]:
        """The mail service's inbound SMTP server (what `python -m mail smtp` serves) as a thread of
        this process, on a free port of 127.0.0.1; the mail worker's relay publishes what it stores."""
        from mail.smtp_server import InboundSmtpServer, build  # aiosmtpd only where a test asks for it

        receiver, mail_settings = build(self.services["mail"].settings)
        server = InboundSmtpServer(receiver, mail_settings, host="127.0.0.1", port=0)
        address = server.start()

        def stop() -> None:
            server.stop()
            receiver.db.dispose()

        self.closers.append(stop)
        return address

    def close(self) -> None:
        for closer in self.closers:
            closer()
        self.stop.set()
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for t in self.threads:
            t.join(timeout=10)
        for handle in self.services.values():
            if handle.web is not None:
                handle.web.terminate()
                try:
                    handle.web.wait(timeout=35)
                except subprocess.TimeoutExpired:
                    handle.web.kill()
                    handle.web.wait()
            for server in (handle.server, handle.internal_server):
                if server is not None:
                    server.shutdown()
                    server.server_close()


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def start_platform(var_dir: Path, *, pg_admin_url: str | None = None, kafka_bootstrap: str | None = None,
                   redis_url: str | None = None, only: set[str] | None = None, web_processes: frozenset[str] = frozenset(),
                   service_extra: dict[str, dict[str, str]] | None = None, topic_prefix: str | None = None,
                   **gateway_extra: str) -> Platform:
    """`web_processes`: services whose HTTP side runs as `python -m <name> web` (gunicorn, killable
    workers) instead of a thread of this process. `service_extra`: settings per service, e.g.
    {"mail": {"CRM_SMTP_URL": sink.url}} (an SmtpSink of crm_testing.smtp as the relay).

    The gateway's port is bound first, so that every service's CRM_PUBLIC_URL (links in email)
    is the gateway's real address."""
    private_pem, public_pem = generate_keypair()
    platform = Platform(var_dir)
    suffix = uuid.uuid4().hex[:6]
    platform.topic_prefix = (f"t{suffix}." if kafka_bootstrap else "") if topic_prefix is None else topic_prefix
    gateway_apps: list[Any] = []

    def gateway_app(environ: Any, start: Any) -> Any:
        return gateway_apps[0](environ, start)

    gateway_server = make_server("127.0.0.1", 0, gateway_app, threaded=True)
    public_url = f"http://127.0.0.1:{gateway_server.server_port}"
    # Automation and the gateway call the other services: started after them, so their URLs are known.
    callers = ("automation", "gateway")
    ordered = ([s for s in SERVICES if s.name not in callers]
               + [s for name in callers for s in SERVICES if s.name == name])
    if only is not None:
        ordered = [s for s in ordered if s.name in only or s.name == "gateway"]
    for info in ordered:
        module = importlib.import_module(f"{info.name}.__main__")
        process: ServiceProcess = module.PROCESS
        # Each database is a copy of one migrated once per test process: migrating nine services
        # anew took several seconds of every platform start, a dozen and more times per run.
        if pg_admin_url:
            owner_url, app_url, _name = migrated_copy(pg_admin_url, f"crm_{info.name}",
                                                      lambda url, m=process.migrations: upgrade(m, url))
        else:
            db_file = var_dir / f"{info.name}.db"
            owner_url = app_url = f"sqlite:///{db_file}"
            if db_file.exists():  # a var_dir used before: brought up to head as it is
                upgrade(process.migrations, owner_url)
            else:
                var_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(_migrated_sqlite(process.migrations), db_file)
        extra: dict[str, str] = {"CRM_WEBHOOK_ALLOW_PRIVATE": "true", "CRM_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
                                 "CRM_CONSUMER_GROUP_SUFFIX": f".{suffix}", "CRM_PUBLIC_URL": public_url}
        extra.update((service_extra or {}).get(info.name, {}))
        if info.name in callers:
            extra.update({f"CRM_{n.upper()}_URL": h.url for n, h in platform.services.items()})
        if info.name == "gateway":
            extra["CRM_JWT_SECRET"] = secrets.token_urlsafe(48)
            extra.update(gateway_extra)
        settings = make_settings(info.name, var_dir, database_url=app_url, owner_url=owner_url,
                                 kafka_bootstrap=kafka_bootstrap, public_key=public_pem, private_key=private_pem,
                                 kafka_topic_prefix=platform.topic_prefix, **extra)
        if redis_url and info.name == "gateway":
            settings = Settings(**{**settings.__dict__, "redis_url": redis_url})
        if info.name in web_processes and info.name != "gateway":
            platform.services[info.name] = _start_web_process(ServiceHandle(info.name, settings, process), public_pem)
            continue
        internal: BaseWSGIServer | None = None
        if info.name == "gateway":
            # The gateway serves /metrics and the detailed /readyz only on its internal listener:
            # bound first (the app needs its port), serving the same app once it exists.
            apps: list[Any] = []

            def later(environ: Any, start: Any, apps: list[Any] = apps) -> Any:
                return apps[0](environ, start)

            internal = make_server("127.0.0.1", 0, later, threaded=True)
            settings.extra["CRM_INTERNAL_PORT"] = str(internal.server_port)
        app = importlib.import_module(f"{info.name}.app").create_app(settings)
        if info.name == "gateway":
            gateway_apps.append(app)
            server = gateway_server
            server.app = app  # the app itself from now on (tests reach into it), not the stand-in
        else:
            server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        handle = ServiceHandle(info.name, settings, process, server, f"http://127.0.0.1:{server.server_port}")
        if internal is not None:
            apps.append(app)
            threading.Thread(target=internal.serve_forever, daemon=True).start()
            handle.internal_server, handle.internal_url = internal, f"http://127.0.0.1:{internal.server_port}"
        platform.services[info.name] = handle
    if "automation" in platform.services:
        # Workflows act through the other services' APIs (automation.workflows.client), as the
        # gateway routes to them: each at its real port here, not the local default.
        extra = platform.services["automation"].settings.extra
        for name, other in platform.services.items():
            if name != "automation" and other.url:
                extra.setdefault(f"CRM_{name.upper()}_URL", other.url)
    return platform


def _start_web_process(handle: ServiceHandle, public_pem: str, workers: int = 2) -> ServiceHandle:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handle.web = handle.spawn("web", "--bind", f"127.0.0.1:{port}", env={
        "CRM_INTERNAL_PUBLIC_KEY": public_pem, "GUNICORN_WORKERS": str(workers), "GUNICORN_THREADS": "4",
        "PROMETHEUS_MULTIPROC_DIR": str(handle.settings.var_dir / "prometheus" / handle.name)})
    handle.url = f"http://127.0.0.1:{port}"
    http = urllib3.PoolManager()

    def healthy() -> bool:
        if handle.web is not None and handle.web.poll() is not None:
            raise AssertionError(f"{handle.name} web exited; see {handle.settings.var_dir}/{handle.name}-web.log")
        try:
            return http.request("GET", handle.url + "/healthz", retries=False, timeout=2).status == 200
        except urllib3.exceptions.HTTPError:
            return False

    wait_for(healthy, timeout=60, interval=0.2, what=f"{handle.name} web to answer")
    return handle


def wait_for_json(platform: Platform, path: str, token: str, predicate: Any, timeout: float = 30.0) -> Any:
    """GET `path` until `predicate(body)` holds; returns that body."""
    seen: list[Any] = [None]

    def check() -> Any:
        seen[0] = platform.request("GET", path, token=token).json()
        return seen[0] if predicate(seen[0]) else None

    try:
        return wait_for(check, timeout=timeout, what=f"{path} to satisfy the condition")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last body: {seen[0]!r}") from None
