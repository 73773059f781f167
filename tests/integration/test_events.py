"""Events on a real Kafka broker: reporting follows writes; killed relays and consumers lose nothing
and count nothing twice."""

from __future__ import annotations

import json
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from crm_testing.platform import Platform, start_platform, wait_for, wait_for_json

pytestmark = pytest.mark.integration


def test_creating_records_updates_the_summary(pg_platform: Platform) -> None:
    token = pg_platform.signup("Summary Co")["access_token"]
    for i in range(3):
        assert pg_platform.request("POST", "/v1/contacts", {"first_name": f"C{i}"}, token=token).status == 201
    assert pg_platform.request("POST", "/v1/deals", {"name": "D", "amount": {"amount": "250.50", "currency": "USD"}},
                               token=token).status in (201,)
    assert pg_platform.request("POST", "/v1/tickets", {"subject": "Help"}, token=token).status == 201
    summary = wait_for_json(pg_platform, "/v1/reports/summary", token,
                            lambda s: s["contacts"] == 3 and s["open_deals"] == 1 and s["open_tickets"] == 1)
    assert summary["pipeline_value"] == [{"currency": "USD", "amount": "250.50"}]
    assert summary["as_of"] is not None


@pytest.fixture(scope="module")
def kafka_platform(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str) -> Any:
    """A platform whose contacts relay and reporting consumer run as killable subprocesses."""
    platform = start_platform(Path(tmp_path_factory.mktemp("kill")), pg_admin_url=pg_admin_url,
                              kafka_bootstrap=kafka_bootstrap, only={"contacts", "pipeline", "reporting"})
    platform.start_workers(only={"pipeline"})
    yield platform
    platform.close()


def _topic_events(bootstrap: str, topic: str, tenant: str, expected: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"verify-{uuid.uuid4().hex}",
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=2000)
    events: list[dict[str, Any]] = []
    try:
        def enough() -> bool:
            for message in consumer:
                event = json.loads(message.value)
                if event["tenant_id"] == tenant:
                    events.append(event)
            return len({e["subject"] for e in events if e["type"] == "crm.contact.created"}) >= expected

        wait_for(enough, timeout=timeout, interval=0, what=f"{expected} events on {topic}")
    finally:
        consumer.close()
    return events


def test_relay_killed_mid_burst_loses_nothing(kafka_platform: Platform, kafka_bootstrap: str) -> None:
    account = kafka_platform.signup("Burst Co")
    token, tenant = account["access_token"], account["tenant"]["id"]
    contacts = kafka_platform.services["contacts"]
    relay = contacts.spawn("relay")
    ids: list[str] = []

    def write(i: int) -> str:
        resp = kafka_platform.request("POST", "/v1/contacts", {"first_name": f"burst-{i}"}, token=token)
        assert resp.status == 201
        return resp.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        first = list(pool.map(write, range(150)))
        relay.send_signal(signal.SIGKILL)  # mid-stream: the relay may have published part of a batch
        relay.wait(timeout=10)
        second = list(pool.map(write, range(150, 300)))
    ids = first + second
    restarted = contacts.spawn("relay")
    try:
        events = _topic_events(kafka_bootstrap, kafka_platform.topic_prefix + "crm.contacts.contact", tenant, len(ids))
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=15)
    created = {e["subject"] for e in events if e["type"] == "crm.contact.created"}
    assert created == set(ids)
    # Per-key order: each contact's events appear in the order they happened (here only "created").
    assert all(e["tenant_id"] == tenant for e in events)


def test_reporting_consumer_killed_mid_stream_counts_exactly(kafka_platform: Platform) -> None:
    account = kafka_platform.signup("Count Co")
    token = account["access_token"]
    contacts, reporting = kafka_platform.services["contacts"], kafka_platform.services["reporting"]
    relay = contacts.spawn("relay")
    consumer = reporting.spawn("consumer")
    try:
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(lambda i: kafka_platform.request(
                "POST", "/v1/contacts", {"first_name": f"count-{i}"}, token=token).json()["id"], range(200)))
        # Kill the consumer while it is working through the stream.
        wait_for(lambda: kafka_platform.request("GET", "/v1/reports/summary", token=token).json()["contacts"] > 0,
                 what="consumer to start applying")
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(timeout=10)
        for contact_id in created[:20]:
            assert kafka_platform.request("DELETE", f"/v1/contacts/{contact_id}", token=token).status == 204
        consumer = reporting.spawn("consumer")
        summary = wait_for_json(kafka_platform, "/v1/reports/summary", token, lambda s: s["contacts"] == 180, timeout=90)
        assert summary["contacts"] == 180
        time.sleep(2)  # let any redelivered tail be applied: it must not count twice
        assert kafka_platform.request("GET", "/v1/reports/summary", token=token).json()["contacts"] == 180
    finally:
        for proc in (relay, consumer):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
