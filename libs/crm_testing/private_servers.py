"""Private PostgreSQL and Kafka servers that a test may kill and restart.

The shared servers (infra/servers.py, crm_testing.provision) serve every engineer and test run and
must never be stopped; a fault test starts its own instance here instead, from the same OS
binaries and Kafka jars, on fixed loopback ports, keeping its data across restarts. Kill means
SIGKILL of every process of the server, the way a crash or the OOM killer leaves it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from crm_testing.provision import REPO_ROOT, free_port, servers_module

# Not under pytest's tmp dirs: those are 0700 and, as root, postgres runs as a service user.
PRIVATE_ROOT = REPO_ROOT / ".cache" / "private"


def _private_dir(kind: str) -> Path:
    path = PRIVATE_ROOT / f"{kind}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _gone(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def kill_tree(pid: int, timeout: float = 15.0) -> None:
    """SIGKILL `pid` and all its descendants at once, and wait until they are gone."""
    pids = [pid, *_descendants(pid)]
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while not all(_gone(p) for p in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {pids} survived SIGKILL")
        time.sleep(0.05)


class PrivatePostgres:
    """A cluster of its own. Durable commits (synchronous_commit on): a killed server must keep
    every commit it acknowledged, which the shared cluster's speed settings would not."""

    def __init__(self) -> None:
        self.servers = servers_module()
        self.bindir = self.servers.pg_bindir()
        self.root = _private_dir("pg")
        self.data = self.root / "data"
        self.port = free_port()
        self.pid = 0
        if os.geteuid() == 0:
            self.servers._ensure_service_user()
        self.servers._give_to_service_user(self.root)
        cmd = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
               "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]
        self.servers._run(self.servers._as_service_user(cmd))
        settings = {"listen_addresses": "'127.0.0.1'", "port": str(self.port), "unix_socket_directories": "''",
                    "max_connections": "100", "shared_buffers": "64MB", "fsync": "off",  # the OS survives
                    "synchronous_commit": "on", "full_page_writes": "off", "logging_collector": "off"}
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"\n{k} = {v}" for k, v in settings.items()) + "\n")
        (self.data / "pg_hba.conf").write_text(
            "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        self.start()

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        cmd = [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]
        self.servers._run(self.servers._as_service_user(cmd), timeout=120)

    def start(self) -> None:
        self._ctl("-l", str(self.root / "postgres.log"), "-w", "-t", "60", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend: a crash, recovered from the WAL on start."""
        kill_tree(self.pid)
        # Our pid may linger as a zombie (PID 1 in a container often never reaps): postgres would
        # take it for a live postmaster. Every process is gone, so the lock file is stale.
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        if self.pid and not _gone(self.pid):
            with contextlib.suppress(Exception):
                self._ctl("stop", "-m", "immediate", "-w", "-t", "30")
            if not _gone(self.pid):
                kill_tree(self.pid)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateKafka:
    """A single KRaft broker+controller whose log survives restarts (same ports, same storage)."""

    def __init__(self) -> None:
        self.servers = servers_module()
        self.libs = self.servers.ensure_kafka_libs()
        self.root = _private_dir("kafka")
        self.port, self.controller_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        config = self.root / "server.properties"
        settings = {
            "process.roles": "broker,controller", "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER", "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.root / "data"), "num.partitions": "3", "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1", "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1", "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1", "group.initial.rebalance.delay.ms": "0",
        }
        config.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        (self.root / "log4j2.properties").write_text(
            "status = warn\nappender.file.type = File\nappender.file.name = FILE\n"
            f"appender.file.fileName = {self.root / 'server.log'}\nappender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\nrootLogger.level = WARN\n"
            "rootLogger.appenderRef.file.ref = FILE\n")
        self.config = config
        # What `kafka-storage random-uuid` prints (base64url, no padding), without a JVM start.
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.servers._run(self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config),
                                     "--standalone", jvm=self.servers.KAFKA_TOOL_JVM_OPTS))
        self.start()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, main: str, *args: str, jvm: list[str] | None = None) -> list[str]:
        opts = jvm if jvm is not None else self.servers.KAFKA_JVM_OPTS
        return [self.servers._java(), *opts, f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
                "-cp", str(self.libs / "*"), main, *args]

    def start(self, timeout: float = 90.0) -> None:
        with open(self.root / "kafka.out", "ab") as out:
            self.proc = subprocess.Popen(self._java("kafka.Kafka", str(self.config)), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not (self.servers.port_open(self.port) and self.servers.kafka_ready(self.bootstrap)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private kafka did not start:\n{self.servers._tail(self.root / 'server.log')}")
            time.sleep(0.25)

    def kill(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc.pid)
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
