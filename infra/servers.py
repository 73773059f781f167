#!/usr/bin/env python3
"""Provision throwaway PostgreSQL, Redis and Kafka servers for tests and local dev.

Runs on a bare machine (no Docker): binaries come from the OS (apt-get as a
fallback when we are root) and Kafka's jars from Maven Central via
``infra/kafka/pom.xml``. Every server binds to 127.0.0.1 only and keeps all of
its files under ``<repo>/.cache/servers`` (git-ignored).

CLI::

    python infra/servers.py start [postgres|redis|kafka ...]   # prints `export` lines
    python infra/servers.py stop  [postgres|redis|kafka ...]
    python infra/servers.py env                                 # exports of running servers
    python infra/servers.py status

Deliberately stdlib-only so it also runs under a system ``python3``;
kafka-python is used for the Kafka readiness probe only when importable.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / ".cache"
STATE_DIR = CACHE_DIR / "servers"
STATE_FILE = STATE_DIR / "state.json"
ENV_FILE = STATE_DIR / "env.json"
LEASE_DIR = STATE_DIR / "leases"
PG_DIR = STATE_DIR / "pg"
REDIS_DIR = STATE_DIR / "redis"
KAFKA_DIR = STATE_DIR / "kafka"
# Jars live outside servers/ so wiping server state never forces a re-download.
KAFKA_LIBS = CACHE_DIR / "kafka" / "libs"
KAFKA_POM = REPO_ROOT / "infra" / "kafka" / "pom.xml"

HOST = "127.0.0.1"
# postgres refuses to run as root, so as root we run it as this system user.
SERVICE_USER = "crmtest"

ENV_PG = "CRM_TEST_PG_ADMIN_URL"
ENV_REDIS = "CRM_TEST_REDIS_URL"
ENV_KAFKA = "CRM_TEST_KAFKA_BOOTSTRAP"

PG_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "max_connections": "300",
    "shared_buffers": "256MB",
    # Durability is pointless for throwaway test data; these make DDL-heavy
    # fixtures (CREATE/DROP DATABASE per test module) much faster.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "logging_collector": "off",
}
PG_TIMEOUT_S = 60
REDIS_TIMEOUT_S = 15
KAFKA_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


class ServerError(RuntimeError):
    """A server could not be provisioned; the message says why and what to do."""


@dataclass(frozen=True)
class Server:
    """A running server as recorded in the state file."""

    name: str
    env_var: str
    value: str
    pid: int
    port: int
    # Started on behalf of a pytest session (see acquire/release): the last
    # session to release it stops it. Servers from `servers.py start` stay up.
    auto_stop: bool = False
    # Not persisted: whether this call found the server already running.
    reused: bool = False

    def export_line(self) -> str:
        return f"export {self.env_var}={self.value}"


# --------------------------------------------------------------------------- helpers


def _log(message: str) -> None:
    print(f"[servers] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (racy but good enough)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int, marker: str = "") -> bool:
    """True if ``pid`` runs and its command line contains ``marker``.

    The marker guards against pid reuse (we SIGKILL these pids on stop), and
    zombies count as dead: a server we spawned ourselves stays a zombie until
    reaped, and PID 1 in a container often never reaps orphans.
    """
    if pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and marker in cmdline


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a command, raising ServerError with its output when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise ServerError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def _stop_pid(pid: int, marker: str, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, wait, then SIGKILL: a graceful stop must never hang the test run."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not pid_alive(pid, marker):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if wait_until(lambda: not pid_alive(pid, marker), timeout):
            return
        _log(f"pid {pid} ignored {sig.name}")


@contextlib.contextmanager
def _file_lock(name: str) -> Iterator[None]:
    """Cross-process lock so parallel pytest runs don't start the same server twice.

    Each call opens its own descriptor, so threads of one process exclude each
    other too (flock locks belong to the open file description).
    """
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- state


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # atomic: readers never see half a file


def _load_state() -> dict[str, dict[str, object]]:
    try:
        data = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _update_state(name: str, server: Server | None) -> None:
    with _file_lock("state"):
        state = _load_state()
        if server is None:
            state.pop(name, None)
        else:
            state[name] = {k: v for k, v in asdict(server).items() if k != "reused"}
        _write_json(STATE_FILE, state)
        _write_json(ENV_FILE, {s["env_var"]: s["value"] for s in state.values()})


def _recorded(name: str) -> Server | None:
    raw = _load_state().get(name)
    if not isinstance(raw, dict):
        return None
    try:
        return Server(**raw)  # type: ignore[arg-type]
    except TypeError:
        return None


# Substrings of each server's /proc cmdline, checked before trusting (or killing) a recorded pid.
MARKERS = {"postgres": str(PG_DIR / "data"), "redis": "redis-server", "kafka": "kafka.Kafka"}


def running(name: str) -> Server | None:
    """The recorded server if its process is alive and its port answers."""
    server = _recorded(name)
    if server and pid_alive(server.pid, MARKERS[name]) and port_open(server.port):
        return server
    return None


def _start_with_port_retry(name: str, start: Callable[[], Server]) -> Server:
    """free_port() is racy (the port is released before the server binds it): retry once on a bind clash."""
    try:
        return start()
    except ServerError as exc:
        if "Address already in use" not in str(exc):
            raise
        _log(f"{name}: port taken before the server could bind it; retrying on new ports")
    return start()


def _reuse_or_start(name: str, *, lease: bool = False) -> Server:
    with _file_lock(name):
        t0 = time.monotonic()
        server = running(name)
        if server:
            _log(f"{name}: reusing pid {server.pid} on {HOST}:{server.port} ({time.monotonic() - t0:.2f}s)")
            if server.auto_stop and not lease:
                # An explicit `servers.py start` adopts a pytest-started server: keep it up.
                server = replace(server, auto_stop=False)
                _update_state(name, server)
            server = replace(server, reused=True)
        else:
            server = replace(_start_with_port_retry(name, _START_IMPL[name]), auto_stop=lease)
            _update_state(name, server)
            _log(f"{name}: started pid {server.pid} on {HOST}:{server.port} in {time.monotonic() - t0:.1f}s")
        if lease:
            LEASE_DIR.mkdir(parents=True, exist_ok=True)
            _lease_file(name, os.getpid()).touch()
        return server


def _lease_file(name: str, pid: int) -> Path:
    return LEASE_DIR / f"{name}.{pid}"


def _live_leases(name: str) -> list[int]:
    """Pids of processes still using ``name``; leases of dead processes (crashed runs) are dropped."""
    alive: list[int] = []
    for path in LEASE_DIR.glob(f"{name}.*"):
        pid_text = path.name.rsplit(".", 1)[1]
        if pid_text.isdigit() and pid_alive(int(pid_text)):
            alive.append(int(pid_text))
        else:
            path.unlink(missing_ok=True)
    return alive


def acquire(name: str) -> Server:
    """Start or reuse ``name`` for this process (a pytest session); pair with ``release``.

    Concurrent sessions (parallel runs, xdist workers) each hold a lease, so the
    session that happened to start a server does not stop it under the others.
    """
    return _reuse_or_start(name, lease=True)


def _stop(name: str) -> None:
    with _file_lock(name):
        _STOP_IMPL[name]()
        _update_state(name, None)


def release(name: str) -> None:
    """Drop this process's lease; stop the server if it was pytest-started and nobody else uses it."""
    with _file_lock(name):
        _lease_file(name, os.getpid()).unlink(missing_ok=True)
        server = _recorded(name)
        if server and server.auto_stop and not _live_leases(name):
            _STOP_IMPL[name]()
            _update_state(name, None)


# --------------------------------------------------------------------------- OS packages

_apt_updated = False


@contextlib.contextmanager
def _no_service_autostart() -> Iterator[None]:
    """Stop Debian maintainer scripts from starting system-wide daemons.

    Installing postgresql/redis-server would otherwise launch a default
    cluster on :5432 / redis on :6379 that outlives the test run.
    """
    policy = Path("/usr/sbin/policy-rc.d")
    if policy.exists():
        yield
        return
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)


def _apt_install(*packages: str) -> None:
    global _apt_updated
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServerError(f"{' '.join(packages)} not found; install it (apt-get install {' '.join(packages)})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _log(f"installing {' '.join(packages)} with apt-get")
    with _file_lock("apt"), _no_service_autostart():
        if not _apt_updated:
            _run(["apt-get", "update"], env=env)
            _apt_updated = True
        _run(["apt-get", "install", "-y", "--no-install-recommends", *packages], env=env)


# --------------------------------------------------------------------------- PostgreSQL

PG_TOOLS = ("initdb", "pg_ctl", "postgres")


def _pg_bindir_candidates() -> list[Path]:
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        with contextlib.suppress(ServerError, OSError):
            candidates.append(Path(_run(["pg_config", "--bindir"]).strip()))
    # pg_config may come from libpq-dev without a server; Debian keeps servers here.
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version_key(p.parent.name))
    candidates.extend(reversed(versions))
    return candidates


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def pg_bindir() -> Path:
    """Directory holding initdb/pg_ctl/postgres, installing PostgreSQL if needed."""
    for attempt in range(2):
        for bindir in _pg_bindir_candidates():
            if all((bindir / tool).exists() for tool in PG_TOOLS):
                return bindir
        if attempt == 0:
            _apt_install("postgresql")
    raise ServerError("PostgreSQL server binaries not found (looked at pg_config --bindir and /usr/lib/postgresql)")


def _ensure_service_user() -> None:
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        # A parallel run may have created it meanwhile: re-check instead of failing.
        cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        with contextlib.suppress(ServerError):
            _run([*cmd, SERVICE_USER])
        pwd.getpwnam(SERVICE_USER)


def _as_service_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", SERVICE_USER, "--", *cmd]


def _give_to_service_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam(SERVICE_USER)
    for item in [path, *path.rglob("*")]:
        os.chown(item, user.pw_uid, user.pw_gid, follow_symlinks=False)
    # The service user must be able to reach the directory: fail clearly if a
    # parent (e.g. a checkout under /root) is not traversable.
    probe = subprocess.run(_as_service_user(["test", "-w", str(path)]), check=False)
    if probe.returncode != 0:
        raise ServerError(f"user {SERVICE_USER} cannot write {path}; make its parents world-traversable (chmod o+x)")


def _pg_initdb(bindir: Path, data: Path) -> None:
    _log("postgres: initdb")
    # C.UTF-8 rather than C: pg_trgm needs a UTF-8 ctype to treat non-ASCII letters as word characters.
    cmd = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8"]
    _run(_as_service_user([*cmd, "--locale=C.UTF-8", "--no-sync"]))


def _pg_write_config(data: Path) -> None:
    settings = {**PG_SETTINGS, "unix_socket_directories": f"'{PG_DIR / 'sock'}'"}
    conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
    (data / "crm_test.conf").write_text(conf)
    main_conf = data / "postgresql.conf"
    if "include = 'crm_test.conf'" not in main_conf.read_text():
        with main_conf.open("a") as handle:
            handle.write("\ninclude = 'crm_test.conf'\n")
    # Superuser is trusted on loopback only (and the private socket); every
    # other role needs its password, like a real deployment.
    (data / "pg_hba.conf").write_text(
        f"local all all trust\nhost all postgres {HOST}/32 trust\nhost all all {HOST}/32 scram-sha-256\n"
    )


def _pg_ctl(bindir: Path, *args: str) -> list[str]:
    return _as_service_user([str(bindir / "pg_ctl"), "-D", str(PG_DIR / "data"), *args])


def _start_postgres() -> Server:
    _stop_postgres()  # an untracked postmaster (state.json lost) would block pg_ctl start
    bindir = pg_bindir()
    data = PG_DIR / "data"
    (PG_DIR / "sock").mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        _ensure_service_user()
    _give_to_service_user(PG_DIR)
    if not (data / "PG_VERSION").exists():
        shutil.rmtree(data, ignore_errors=True)
        _pg_initdb(bindir, data)
    _pg_write_config(data)
    port = free_port()
    log = PG_DIR / "postgres.log"
    try:
        _run(_pg_ctl(bindir, "-l", str(log), "-w", "-t", str(PG_TIMEOUT_S), "-o", f"-p {port}", "start"))
    except ServerError as exc:
        raise ServerError(f"{exc}\n--- {log} ---\n{_tail(log)}") from exc
    pid = int((data / "postmaster.pid").read_text().split()[0])
    url = f"postgresql://postgres@{HOST}:{port}/postgres"
    return Server("postgres", ENV_PG, url, pid, port)


def _stop_postgres() -> None:
    pidfile = PG_DIR / "data" / "postmaster.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().split()[0])
        if pid_alive(pid, MARKERS["postgres"]):
            with contextlib.suppress(ServerError):
                _run(_pg_ctl(pg_bindir(), "stop", "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S)))
            _stop_pid(pid, MARKERS["postgres"])


def start_postgres() -> Server:
    """Start (or reuse) the private cluster; ``.value`` is the superuser DSN."""
    return _reuse_or_start("postgres")


def stop_postgres() -> None:
    _stop("postgres")


# --------------------------------------------------------------------------- Redis


def redis_binary() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if found:
        return found
    _apt_install("redis-server")
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).exists():
        raise ServerError("redis-server not found after apt-get install")
    return found


def _redis_command(port: int, *args: str, timeout: float = 2.0) -> bytes:
    """Send one inline command; stdlib-only so the CLI needs no redis-py."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(" ".join(args).encode() + b"\r\n")
        try:
            return sock.recv(1024)
        except OSError:
            return b""  # SHUTDOWN closes the connection without a reply


def _redis_ready(port: int) -> bool:
    try:
        return _redis_command(port, "PING").startswith(b"+PONG")
    except OSError:
        return False


def _start_redis() -> Server:
    _stop_redis()  # an untracked instance would otherwise keep running forever
    binary = redis_binary()
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    port = free_port()
    pidfile, log = REDIS_DIR / "redis.pid", REDIS_DIR / "redis.log"
    pidfile.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    # Persistence off: RDB/AOF writes would only slow tests and leave files behind.
    args = ["--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--daemonize", "yes"]
    args += ["--pidfile", str(pidfile), "--logfile", str(log), "--dir", str(REDIS_DIR)]
    _run([binary, *args])

    def ready() -> bool:
        # --daemonize returns before the child binds, so a bind failure only shows in the log.
        if "Failed listening" in _tail(log):
            raise ServerError(f"redis-server could not listen on {HOST}:{port}\n{_tail(log)}")
        return _redis_ready(port) and pidfile.exists()

    if not wait_until(ready, REDIS_TIMEOUT_S):
        raise ServerError(f"redis-server did not answer PING on {HOST}:{port}\n{_tail(log)}")
    pid = int(pidfile.read_text().strip())
    return Server("redis", ENV_REDIS, f"redis://{HOST}:{port}/0", pid, port)


def _stop_redis() -> None:
    server = _recorded("redis")
    pidfile = REDIS_DIR / "redis.pid"
    pid = server.pid if server else int(pidfile.read_text().strip()) if pidfile.exists() else 0
    if not pid_alive(pid, MARKERS["redis"]):
        return
    if server:
        with contextlib.suppress(OSError):
            _redis_command(server.port, "SHUTDOWN", "NOSAVE")
        if wait_until(lambda: not pid_alive(pid, MARKERS["redis"]), 5):
            return
    _stop_pid(pid, MARKERS["redis"])


def start_redis() -> Server:
    """Start (or reuse) redis-server; ``.value`` is a redis:// URL."""
    return _reuse_or_start("redis")


def stop_redis() -> None:
    _stop("redis")


# --------------------------------------------------------------------------- Kafka

KAFKA_JVM_OPTS = [
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    # Listen on a plain IPv4 socket (not ::ffff:127.0.0.1) so `ss` shows 127.0.0.1.
    "-Djava.net.preferIPv4Stack=true",
]


# Short-lived CLI tools (storage format, random-uuid): C1-only JIT and serial GC
# cut ~0.5 s of JVM warm-up per call.
KAFKA_TOOL_JVM_OPTS = ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise ServerError("java not found: Kafka needs a JRE 17+ (apt-get install openjdk-17-jre-headless)")
    return java


def ensure_kafka_libs() -> Path:
    """Fetch the broker jars once with Maven (skipped when already present)."""
    if any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        return KAFKA_LIBS
    mvn = shutil.which("mvn")
    if not mvn:
        raise ServerError(f"Kafka jars missing in {KAFKA_LIBS} and mvn not found to fetch them")
    _log("kafka: fetching jars with maven")
    cmd = [mvn, "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies"]
    _run([*cmd, f"-DoutputDirectory={KAFKA_LIBS}", "-DincludeScope=runtime"])
    return KAFKA_LIBS


def _kafka_java(main_class: str, *args: str, jvm_opts: list[str] = KAFKA_JVM_OPTS) -> list[str]:
    log4j = KAFKA_DIR / "log4j2.properties"
    # The classpath wildcard is expanded by java itself, not a shell.
    return [_java(), *jvm_opts, f"-Dlog4j2.configurationFile={log4j}", "-cp", str(KAFKA_LIBS / "*"), main_class, *args]


def _kafka_cluster_id() -> str:
    """Persisted so the ~2 s JVM start of `random-uuid` is paid only once per checkout."""
    path = KAFKA_DIR / "cluster-id"
    if path.exists():
        return path.read_text().strip()
    output = _run(_kafka_java("kafka.tools.StorageTool", "random-uuid", jvm_opts=KAFKA_TOOL_JVM_OPTS))
    cluster_id = output.strip().splitlines()[-1]
    # Sanity check: Kafka cluster ids are base64url-encoded UUIDs.
    base64.urlsafe_b64decode(cluster_id + "==")
    path.write_text(cluster_id + "\n")
    return cluster_id


def _write_kafka_config(port: int, controller_port: int) -> Path:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # Dynamic (KIP-853) quorum: pairs with `StorageTool format --standalone`,
        # which refuses to run when controller.quorum.voters is set.
        "controller.quorum.bootstrap.servers": f"{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(KAFKA_DIR / "data"),
        "num.partitions": "3",
        "auto.create.topics.enable": "true",
        # Single broker: every internal topic must accept replication factor 1.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Defaults are 50 partitions each, created on the first consumer group /
        # transaction: seconds of latency in the first test for no benefit.
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    path = KAFKA_DIR / "server.properties"
    path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    return path


def _write_kafka_log4j() -> Path:
    path = KAFKA_DIR / "log4j2.properties"
    path.write_text(
        "status = warn\n"
        "appender.file.type = File\n"
        "appender.file.name = FILE\n"
        f"appender.file.fileName = {KAFKA_DIR / 'server.log'}\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = WARN\n"
        "rootLogger.appenderRef.file.ref = FILE\n"
    )
    return path


def kafka_ready(bootstrap: str) -> bool:
    """Broker answers a metadata request (i.e. it finished starting and is unfenced)."""
    try:
        from kafka import KafkaAdminClient  # type: ignore[import-untyped]
        from kafka.errors import KafkaError  # type: ignore[import-untyped]
    except ImportError:
        return _kafka_api_versions_ok(bootstrap)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=3000, request_timeout_ms=3000)
    except (KafkaError, OSError):
        return False
    try:
        return bool(admin.describe_cluster().get("brokers"))
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _kafka_api_versions_ok(bootstrap: str) -> bool:
    """Fallback probe without kafka-python: ApiVersions v0 (supported by every broker)."""
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"crm-servers"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((host, int(port)), timeout=3) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = sock.recv(10)
    except OSError:
        return False
    return len(header) >= 10 and struct.unpack(">ih", header[4:10]) == (1, 0)


def _start_kafka() -> Server:
    _stop_kafka()  # never wipe the log dirs under a live (untracked) broker
    ensure_kafka_libs()
    KAFKA_DIR.mkdir(parents=True, exist_ok=True)
    _write_kafka_log4j()
    cluster_id = _kafka_cluster_id()
    port, controller_port = free_port(), free_port()
    config = _write_kafka_config(port, controller_port)
    # The quorum's voter endpoint (our controller port) is baked into the log at
    # format time, and ports change per start: always start from empty storage.
    shutil.rmtree(KAFKA_DIR / "data", ignore_errors=True)
    (KAFKA_DIR / "server.log").unlink(missing_ok=True)
    storage_format = ["format", "-t", cluster_id, "-c", str(config), "--standalone"]
    _run(_kafka_java("kafka.tools.StorageTool", *storage_format, jvm_opts=KAFKA_TOOL_JVM_OPTS))
    pid = _launch_kafka(config)
    bootstrap = f"{HOST}:{port}"
    _wait_kafka(pid, bootstrap)
    return Server("kafka", ENV_KAFKA, bootstrap, pid, port)


def _launch_kafka(config: Path) -> int:
    with open(KAFKA_DIR / "kafka.out", "wb") as out:
        # New session: Ctrl-C in the terminal or pytest's process group must not kill the broker.
        proc = subprocess.Popen(
            _kafka_java("kafka.Kafka", str(config)),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=KAFKA_DIR,
        )
    return proc.pid


def _wait_kafka(pid: int, bootstrap: str) -> None:
    port = int(bootstrap.rsplit(":", 1)[1])

    def ready() -> bool:
        if not pid_alive(pid, MARKERS["kafka"]):
            raise ServerError("kafka exited during startup")
        return port_open(port) and kafka_ready(bootstrap)

    try:
        if wait_until(ready, KAFKA_TIMEOUT_S, interval=0.25):
            return
        problem = f"kafka not ready on {bootstrap} after {KAFKA_TIMEOUT_S}s"
    except ServerError as exc:
        problem = str(exc)
    _stop_pid(pid, MARKERS["kafka"], timeout=5)
    raise ServerError(f"{problem}\n{_kafka_log_excerpt()}")


def _kafka_log_excerpt() -> str:
    # Stack traces bury the message: lead with the ERROR lines, then the raw tails.
    server_log = KAFKA_DIR / "server.log"
    with contextlib.suppress(OSError):
        errors = [line for line in server_log.read_text(errors="replace").splitlines() if "] ERROR " in line]
        if errors:
            return "--- errors ---\n" + "\n".join(errors[:5]) + f"\n--- {server_log} ---\n{_tail(server_log, 20)}"
    return f"--- {server_log} ---\n{_tail(server_log)}\n--- kafka.out ---\n{_tail(KAFKA_DIR / 'kafka.out')}"


def _stop_kafka() -> None:
    server = _recorded("kafka")
    pids = {server.pid} if server else set()
    # Also catch strays whose state entry was lost (e.g. state.json deleted).
    pids |= _pids_with_args(str(KAFKA_DIR / "server.properties"))
    for pid in pids:
        _stop_pid(pid, MARKERS["kafka"])


def _pids_with_args(needle: str) -> set[int]:
    found: set[int] = set()
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if needle in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.add(int(proc.name))
    return found


def start_kafka() -> Server:
    """Start (or reuse) a single KRaft broker+controller; ``.value`` is host:port."""
    return _reuse_or_start("kafka")


def stop_kafka() -> None:
    _stop("kafka")


# --------------------------------------------------------------------------- all servers

_START_IMPL: dict[str, Callable[[], Server]] = {"postgres": _start_postgres, "redis": _start_redis, "kafka": _start_kafka}
_STOP_IMPL: dict[str, Callable[[], None]] = {"postgres": _stop_postgres, "redis": _stop_redis, "kafka": _stop_kafka}
STARTERS: dict[str, Callable[[], Server]] = {"postgres": start_postgres, "redis": start_redis, "kafka": start_kafka}
STOPPERS: dict[str, Callable[[], None]] = {"postgres": stop_postgres, "redis": stop_redis, "kafka": stop_kafka}


def start_servers(names: list[str]) -> list[Server]:
    # In parallel: the Kafka JVM boot dominates, postgres/redis start meanwhile.
    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        futures = [pool.submit(STARTERS[name]) for name in names]
        return [future.result() for future in futures]


def start_all() -> dict[str, str]:
    """Start (or reuse) all servers; returns the ``CRM_TEST_*`` environment."""
    return {server.env_var: server.value for server in start_servers(list(STARTERS))}


def stop_all() -> None:
    for stop in STOPPERS.values():
        stop()


def running_env() -> dict[str, str]:
    return {server.env_var: server.value for name in STARTERS if (server := running(name))}


# --------------------------------------------------------------------------- CLI


def _cmd_start(names: list[str]) -> int:
    for server in start_servers(names):
        print(server.export_line())
    return 0


def _cmd_stop(names: list[str]) -> int:
    for name in names:
        t0 = time.monotonic()
        STOPPERS[name]()
        _log(f"{name}: stopped in {time.monotonic() - t0:.1f}s")
    return 0


def _cmd_env(_: list[str]) -> int:
    for key, value in running_env().items():
        print(f"export {key}={value}")
    return 0


def _cmd_status(names: list[str]) -> int:
    for name in names:
        server = running(name)
        if not server:
            print(f"{name}: stopped")
            continue
        managed = " (pytest-managed: stops when its last session ends)" if server.auto_stop else ""
        print(f"{name}: running pid={server.pid} {server.env_var}={server.value}{managed}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop", "env", "status"])
    parser.add_argument("servers", nargs="*", metavar="SERVER", help=f"any of {', '.join(STARTERS)} (default: all)")
    args = parser.parse_args(argv)
    names = args.servers or list(STARTERS)
    if unknown := set(names) - set(STARTERS):
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    commands = {"start": _cmd_start, "stop": _cmd_stop, "env": _cmd_env, "status": _cmd_status}
    try:
        return commands[args.command](names)
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
