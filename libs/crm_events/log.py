"""The event log interface, with two engines: Kafka (production) and an embedded SQLite log."""

from __future__ import annotations

import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from crm_core.settings import Settings


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: str
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IncomingRecord:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, str]
    timestamp: float | None = None  # seconds since the epoch, when the log recorded it



class PublishError(Exception):
    """Raised after `published` records (a prefix of the batch) were acknowledged."""

    def __init__(self, published: int, cause: BaseException) -> None:
        super().__init__(f"published {published} records, then: {cause}")
        self.published = published
        self.cause = cause


class EventPublisher(Protocol):
    def publish(self, records: list[OutgoingRecord]) -> None:
        """Publish in order and wait for acknowledgement; raise PublishError on failure."""

    def close(self) -> None: ...


class EventSubscriber(Protocol):
    def poll(self, timeout: float, max_records: int = 200) -> list[IncomingRecord]: ...

    def commit(self) -> None:
        """Commit the position after everything poll() returned so far."""

    def rewind(self, unhandled: list[IncomingRecord]) -> None:
        """Give back records poll() returned but nobody handled: the next poll (and commit) starts
        again at the first of them, per partition."""

    def lag(self) -> dict[str, int]:
        """Records behind the end of the log, per topic (best effort)."""

    def close(self) -> None: ...


def embedded_log_path(settings: Settings) -> Path:
    return settings.var_dir / "events.db"


def open_publisher(settings: Settings) -> EventPublisher:
    if settings.kafka_bootstrap:
        from crm_events.kafka_log import KafkaPublisher

        return KafkaPublisher(settings.kafka_bootstrap, client_id=f"{settings.service}-relay",
                              prefix=settings.kafka_topic_prefix)
    from crm_events.embedded_log import EmbeddedLog

    return EmbeddedLog(embedded_log_path(settings)).publisher()


def open_subscriber(settings: Settings, group: str, topics: list[str]) -> EventSubscriber:
    if settings.kafka_bootstrap:
        from crm_events.kafka_log import KafkaSubscriber

        return KafkaSubscriber(settings.kafka_bootstrap, group, topics, prefix=settings.kafka_topic_prefix)
    from crm_events.embedded_log import EmbeddedLog

    return EmbeddedLog(embedded_log_path(settings)).subscriber(group, topics)


def check_event_log(settings: Settings) -> None:
    """Readiness: the broker accepts a TCP connection, or the embedded log file opens."""
    if settings.kafka_bootstrap:
        errors = []
        for server in settings.kafka_bootstrap.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                with socket.create_connection((host, int(port)), timeout=1.0):
                    return
            except OSError as exc:
                errors.append(f"{server}: {exc}")
        raise ConnectionError("; ".join(errors))
    with sqlite3.connect(embedded_log_path(settings), timeout=1.0) as conn:
        conn.execute("select 1")
