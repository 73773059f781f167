"""Kafka engine for the event log (kafka-python)."""

from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from crm_events.log import IncomingRecord, OutgoingRecord, PublishError

log = logging.getLogger(__name__)

# kafka-python backs off reconnects up to 30 s: after a broker restart every client would sit idle
# for up to that long. The Java client's default is 1 s; a few seconds costs nothing while it's down.
RECONNECT_BACKOFF_MAX_MS = 2000


def ensure_topics(bootstrap: str, topics: list[str], partitions: int = 3) -> None:
    """Create topics that do not exist yet, so consumers never wait on auto-creation."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="crm-admin")
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(t, partitions, 1) for t in topics if t not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def _incoming(tp: TopicPartition, r: object, prefix: str = "") -> IncomingRecord:
    return IncomingRecord(
        topic=tp.topic.removeprefix(prefix),
        partition=tp.partition,
        offset=r.offset,  # type: ignore[attr-defined]
        key=r.key.decode() if r.key else None,  # type: ignore[attr-defined]
        value=r.value or b"",  # type: ignore[attr-defined]
        headers={k: v.decode() for k, v in (r.headers or [])},  # type: ignore[attr-defined]
        timestamp=r.timestamp / 1000 if r.timestamp and r.timestamp > 0 else None,  # type: ignore[attr-defined]
    )


def read_topic(bootstrap: str, topic: str, timeout: float = 30.0, prefix: str = "") -> list[IncomingRecord]:
    """Every record of `topic` from the beginning up to its end as of now, without a group."""
    topic = prefix + topic
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, client_id="crm-topic-reader",
                             enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[IncomingRecord] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout}s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                out += [_incoming(tp, r, prefix) for r in records if r.offset < ends[tp]]
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


class KafkaPublisher:
    """`prefix` goes before every topic name on the wire (CRM_KAFKA_TOPIC_PREFIX); records and
    handlers keep the plain names."""

    def __init__(self, bootstrap: str, client_id: str, prefix: str = "") -> None:
        self.prefix = prefix
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            retries=2**31 - 1,
            max_in_flight_requests_per_connection=5,  # idempotence keeps order with up to 5
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )

    def publish(self, records: list[OutgoingRecord]) -> None:
        futures = [
            self.producer.send(
                self.prefix + r.topic,
                key=r.key.encode(),
                value=r.value,
                headers=[(k, v.encode()) for k, v in r.headers.items()],
            )
            for r in records
        ]
        self.producer.flush()
        for index, future in enumerate(futures):
            try:
                future.get(timeout=30)
            except KafkaError as exc:
                raise PublishError(index, exc) from exc

    def close(self) -> None:
        self.producer.close(timeout=5)


class KafkaSubscriber:
    def __init__(self, bootstrap: str, group: str, topics: list[str], prefix: str = "") -> None:
        self.prefix = prefix
        topics = [prefix + t for t in topics]
        ensure_topics(bootstrap, topics)
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=30_000,
            # A killed consumer's partitions move to the others after 10 s rather than 45 s.
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )
        # The topics' partitions known before the group is joined: kafka-python joins as soon as
        # it is asked to poll, and a leader without the topics' metadata assigns nothing ("No
        # partition metadata"), which only heals at the next metadata refresh (metadata_max_age_ms,
        # 30 s): a first start's events waited that long.
        self.consumer.topics()
        self.consumer.subscribe(topics)
        self._handed_out: dict[TopicPartition, int] = {}

    def poll(self, timeout: float, max_records: int = 200) -> list[IncomingRecord]:
        batches = self.consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        out: list[IncomingRecord] = []
        for tp, records in batches.items():
            if records:
                # Remember exactly what was handed out: commit() commits these and nothing the
                # client may have fetched ahead, so a crash can never skip an unhandled record.
                self._handed_out[tp] = records[-1].offset + 1
            out += [_incoming(tp, r, self.prefix) for r in records]
        return out

    def commit(self) -> None:
        if not self._handed_out:
            return
        offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in self._handed_out.items()}
        self._handed_out = {}
        self.consumer.commit(offsets=offsets)

    def rewind(self, unhandled: list[IncomingRecord]) -> None:
        first: dict[TopicPartition, int] = {}
        for r in unhandled:
            tp = TopicPartition(self.prefix + r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        for tp, offset in first.items():
            self.consumer.seek(tp, offset)
            self._handed_out[tp] = offset  # everything before it was handled

    def lag(self) -> dict[str, int]:
        assigned: set[TopicPartition] = self.consumer.assignment()
        if not assigned:
            return {}
        ends = self.consumer.end_offsets(list(assigned))
        lag: dict[str, int] = {}
        for tp in assigned:
            behind = max(0, ends.get(tp, 0) - self.consumer.position(tp))
            topic = tp.topic.removeprefix(self.prefix)
            lag[topic] = lag.get(topic, 0) + behind
        return lag

    def close(self) -> None:
        self.consumer.close()
