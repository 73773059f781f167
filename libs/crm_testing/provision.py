"""Where the test servers come from: an env var, Docker (testcontainers), or local processes.

Resolution order per server: ``CRM_TEST_*`` env var (someone else runs it) ->
a container if a Docker engine answers -> a local process via ``infra/servers.py``.
``provide`` returns a ``Provided`` whose ``release`` stops only what test sessions
started themselves; servers given by env or started with ``servers.py start`` are left alone.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVERS_PY = REPO_ROOT / "infra" / "servers.py"
LOOPBACK = "127.0.0.1"
LOCAL_DOCKER_HOSTS = {"localhost", "127.0.0.1", "::1"}

ENV_PG = "CRM_TEST_PG_ADMIN_URL"
ENV_KAFKA = "CRM_TEST_KAFKA_BOOTSTRAP"
ENV_REDIS = "CRM_TEST_REDIS_URL"

POSTGRES_IMAGE = "postgres:16"
KAFKA_IMAGE = "apache/kafka:4.1.1"
REDIS_IMAGE = "redis:7"
# Same speed-over-durability settings as the local cluster in infra/servers.py.
PG_FAST_FLAGS = ["fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=300", "shared_buffers=256MB"]
KAFKA_READY_TIMEOUT_S = 90


class Unavailable(RuntimeError):
    """No source could provide the server; the message lists why each one failed."""


def _noop() -> None:
    return None


@dataclass(frozen=True)
class Provided:
    value: str
    source: str
    release: Callable[[], None] = _noop


@dataclass(frozen=True)
class Spec:
    name: str
    env_var: str
    docker: Callable[[], Provided]
    local: Callable[[], Provided]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (another process may still grab it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@functools.cache
def servers_module() -> ModuleType:
    """``infra/servers.py`` imported by path: ``infra`` is a script folder, not a package."""
    spec = importlib.util.spec_from_file_location("crm_infra_servers", SERVERS_PY)
    if spec is None or spec.loader is None:
        raise Unavailable(f"cannot import {SERVERS_PY}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


@functools.cache
def docker_available() -> bool:
    """True if testcontainers can reach a Docker engine (a `docker` CLI alone is not enough)."""
    try:
        from testcontainers.core.docker_client import DockerClient

        client = DockerClient(timeout=5)
        client.client.ping()
    except Exception:
        return False
    return True


def provide(spec: Spec) -> Provided:
    if value := os.environ.get(spec.env_var):
        return Provided(value, "env")
    failures: list[str] = []
    sources = [("docker", spec.docker)] if docker_available() else []
    for source, factory in [*sources, ("local", spec.local)]:
        try:
            return factory()
        except Exception as exc:  # any failure means: try the next source, report all at the end
            failures.append(f"{source}: {type(exc).__name__}: {exc}")
    if not sources:
        failures.insert(0, "docker: no engine answered")
    raise Unavailable("; ".join(failures))


# --------------------------------------------------------------------------- local processes


def _local(name: str) -> Callable[[], Provided]:
    def factory() -> Provided:
        servers = servers_module()
        # acquire/release lease the server to this session: release stops it only if a
        # pytest session started it and no other live session (xdist worker, parallel
        # run) still uses it; servers from `servers.py start` are never stopped.
        server = servers.acquire(name)
        source = "local (reused)" if server.reused else "local (started)"
        return Provided(server.value, source, functools.partial(servers.release, name))

    return factory


# --------------------------------------------------------------------------- Docker


def _publish(container: Any, port: int, host_port: int | None = None) -> str | None:
    """Publish ``port`` on loopback only when Docker runs locally; returns the host to dial.

    For a remote engine (DOCKER_HOST=tcp://...) loopback would be unreachable,
    so the port is published normally and None tells the caller to ask
    testcontainers for the host after start.
    """
    from testcontainers.core.config import ConnectionMode

    client = container.get_docker_client()
    if client.get_connection_mode() is ConnectionMode.docker_host and client.host() in LOCAL_DOCKER_HOSTS:
        # docker-py accepts (host_ip, host_port); testcontainers' with_bind_ports cannot express the IP.
        container.ports[str(port)] = (LOOPBACK, host_port)
        return LOOPBACK
    if host_port is not None:
        container.with_bind_ports(port, host_port)
    return None


def _start_container(container: Any) -> None:
    try:
        container.start()
    except Exception:
        container.stop()
        raise


def _docker_postgres() -> Provided:
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(POSTGRES_IMAGE, username="postgres", password="postgres", dbname="postgres", driver=None)
    container.with_command(["postgres", *[arg for flag in PG_FAST_FLAGS for arg in ("-c", flag)]])
    host = _publish(container, 5432)
    _start_container(container)
    host = host or container.get_container_host_ip()
    url = f"postgresql://postgres:postgres@{host}:{container.get_exposed_port(5432)}/postgres"
    return Provided(url, "docker", container.stop)


def _docker_redis() -> Provided:
    from testcontainers.community.redis import RedisContainer

    container = RedisContainer(REDIS_IMAGE)
    container.with_command(["redis-server", "--save", "", "--appendonly", "no"])
    host = _publish(container, 6379)
    _start_container(container)
    host = host or container.get_container_host_ip()
    return Provided(f"redis://{host}:{container.get_exposed_port(6379)}/0", "docker", container.stop)


def _kafka_env(advertised: str) -> dict[str, str]:
    """apache/kafka image config: KAFKA_FOO_BAR -> foo.bar; any KAFKA_* var replaces its defaults."""
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://0.0.0.0:9092,CONTROLLER://localhost:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{advertised}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_NUM_PARTITIONS": "3",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "true",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }


def _docker_kafka() -> Provided:
    # Not testcontainers' KafkaContainer: its start script is Confluent-image specific
    # and with_kraft() rejects apache/kafka tags (< "7.0.0" by its version check).
    from testcontainers.core.config import ConnectionMode
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(KAFKA_IMAGE)
    client = container.get_docker_client()
    if client.get_connection_mode() is not ConnectionMode.docker_host:
        # Inside a container (DinD/DooD) the address to advertise is not knowable
        # up front; the local Java broker is the reliable choice there.
        raise Unavailable("kafka via Docker needs docker_host connection mode")
    # The broker must advertise the address clients dial, so the host port is
    # chosen up front instead of letting Docker pick one.
    host_port = free_port()
    host = _publish(container, 9092, host_port) or client.host()
    for key, value in _kafka_env(f"{host}:{host_port}").items():
        container.with_env(key, value)
    _start_container(container)
    bootstrap = f"{host}:{host_port}"
    servers = servers_module()
    if not servers.wait_until(lambda: servers.kafka_ready(bootstrap), KAFKA_READY_TIMEOUT_S, 0.5):
        logs = container.get_logs()[0].decode(errors="replace")[-4000:]
        container.stop()
        raise Unavailable(f"kafka container not ready on {bootstrap}:\n{logs}")
    return Provided(bootstrap, "docker", container.stop)


POSTGRES = Spec("postgres", ENV_PG, _docker_postgres, _local("postgres"))
KAFKA = Spec("kafka", ENV_KAFKA, _docker_kafka, _local("kafka"))
REDIS = Spec("redis", ENV_REDIS, _docker_redis, _local("redis"))
