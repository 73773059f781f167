"""CRM_KAFKA_TOPIC_PREFIX on the real broker: records go to the prefixed topics, consumers and
dead-letter readers see the plain names, and a deployment without the prefix sees none of them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from crm_core.settings import Settings
from crm_events.kafka_log import read_topic
from crm_events.log import IncomingRecord, OutgoingRecord, open_publisher, open_subscriber
from crm_testing.platform import wait_for

pytestmark = pytest.mark.integration


def _settings(kafka_bootstrap: str, prefix: str, tmp_path: Path) -> Settings:
    return Settings(service="contacts", database_url="sqlite://", database_owner_url="sqlite://",
                    kafka_bootstrap=kafka_bootstrap, redis_url=None, var_dir=tmp_path, internal_public_key=None,
                    internal_private_key=None, kafka_topic_prefix=prefix)


def test_prefix_keeps_environments_apart(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"crm.test.prefix{uuid.uuid4().hex[:8]}"
    staging = _settings(kafka_bootstrap, "staging.", tmp_path)
    plain = _settings(kafka_bootstrap, "", tmp_path)
    publisher = open_publisher(staging)
    publisher.publish([OutgoingRecord(topic, "k1", b'{"n": 1}', {"event_id": "e1"})])
    publisher.close()

    on_wire = read_topic(kafka_bootstrap, "staging." + topic)
    assert [r.value for r in on_wire] == [b'{"n": 1}']
    assert on_wire[0].topic == "staging." + topic  # read without a prefix: the wire name
    assert [r.topic for r in read_topic(kafka_bootstrap, topic, prefix="staging.")] == [topic]

    subscriber = open_subscriber(staging, f"prefix-{uuid.uuid4().hex[:6]}", [topic])
    other = open_subscriber(plain, f"plain-{uuid.uuid4().hex[:6]}", [topic])
    try:
        got: list[IncomingRecord] = []
        wait_for(lambda: got.extend(subscriber.poll(1.0)) or got, timeout=30, what="the prefixed record")
        assert [(r.topic, r.key) for r in got] == [(topic, "k1")]  # handlers keep the plain name
        subscriber.commit()
        subscriber.rewind(got)  # seeks the prefixed partition, not a plain one
        again: list[IncomingRecord] = []
        wait_for(lambda: again.extend(subscriber.poll(1.0)) or again, timeout=30, what="the rewound record")
        assert [r.key for r in again] == ["k1"]
        assert set(subscriber.lag()) <= {topic}
        assert other.poll(2.0) == []  # the unprefixed topic is another environment's, and empty
    finally:
        subscriber.close()
        other.close()
