"""Every kind of change in the contacts service reaches the real Kafka broker: on its aggregate's
topic, with its subject and tenant, updates with `changes` as [old, new] pairs, per-record order
kept, and an erasure that carries ids only."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

import contacts
from contacts.app import create_app
from contacts.models import metadata
from crm_events.envelope import topic_for
from crm_events.kafka_log import ensure_topics
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database

pytestmark = pytest.mark.integration

AGGREGATES = ("contact", "company", "activity", "property")
TOPICS = [topic_for("contacts", f"crm.{a}.created") for a in AGGREGATES]
PERSONAL = ("ada@example.com", "al@example.com", "Ada", "Lovelace", "Alfred", "+4930123456", "pricing")


class Api:
    def __init__(self, svc: ServiceHarness) -> None:
        self.svc = svc

    def __call__(self, method: str, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        resp = self.svc.client.open(path, method=method, json=body, headers=self.svc.headers("a"))
        assert resp.status_code == status, (method, path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json()


class TopicReader:
    """Reads the contacts topics from the offsets they had when it was made: this run's events
    only, without a consumer group (nothing to clean up, nothing shared with other runs)."""

    def __init__(self, bootstrap: str) -> None:
        ensure_topics(bootstrap, TOPICS)
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                      auto_offset_reset="earliest")
        partitions = []
        for topic in TOPICS:
            deadline = time.monotonic() + 30
            while not (found := self.consumer.partitions_for_topic(topic)) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert found, f"topic {topic} has no partitions"
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        self.consumer.assign(partitions)
        for tp, offset in self.consumer.end_offsets(partitions).items():
            self.consumer.seek(tp, offset)

    def read(self, tenant: str, until: Any, timeout: float = 60.0) -> list[tuple[str, dict[str, Any]]]:
        """(topic, envelope) of `tenant` in log order per partition, until `until(events)` holds."""
        events: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while not until(events):
            assert time.monotonic() < deadline, f"timed out; got {sorted({e['type'] for _, e in events})}"
            for records in self.consumer.poll(timeout_ms=500).values():
                for record in records:
                    envelope = json.loads(record.value)
                    if envelope["tenant_id"] == tenant:
                        events.append((record.topic, envelope))
        return events

    def close(self) -> None:
        self.consumer.close()


def drive(api: Api) -> dict[str, str]:
    """One of each change; returns the ids by name."""
    plan = api("POST", "/v1/properties/contacts", {"key": "plan", "label": "Plan", "type": "text"}, 201)
    api("DELETE", "/v1/properties/contacts/plan", status=204)  # archive
    acme = api("POST", "/v1/companies", {"name": "Acme", "domain": "acme.com"}, 201)
    api("PATCH", f"/v1/companies/{acme['id']}", {"industry": "Software"})
    ada = api("POST", "/v1/contacts", {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                                       "phone": "+4930123456", "company_id": acme["id"]}, 201)
    api("PATCH", f"/v1/contacts/{ada['id']}", {"lifecycle_stage": "lead"})
    al = api("POST", "/v1/contacts", {"first_name": "Alfred", "email": "al@example.com"}, 201)
    note = api("POST", f"/v1/contacts/{al['id']}/activities", {"type": "note", "body": "Asked about pricing"}, 201)
    temp = api("POST", "/v1/contacts", {"first_name": "Temp"}, 201)
    api("DELETE", f"/v1/contacts/{temp['id']}", status=204)
    api("POST", "/v1/contacts/merge", {"primary_id": ada["id"], "secondary_id": al["id"]})
    api("POST", f"/v1/contacts/{ada['id']}/unmerge", {"merged_id": al["id"]})
    api("POST", "/v1/contacts/merge", {"primary_id": ada["id"], "secondary_id": al["id"]})
    # An old id is refused (409 naming the survivor); erasing the survivor erases its merged ids too.
    assert api("POST", f"/v1/contacts/{al['id']}/erase", status=409)["merged_into"] == ada["id"]
    api("POST", f"/v1/contacts/{ada['id']}/erase")
    return {"plan": plan["id"], "acme": acme["id"], "ada": ada["id"], "al": al["id"], "note": note["id"],
            "temp": temp["id"]}


def test_every_change_arrives_on_kafka(pg_admin_url: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    owner_url, app_url = create_service_database(pg_admin_url, f"contacts_events_{uuid.uuid4().hex[:8]}")
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), tmp_path,
                       database_url=app_url, owner_url=owner_url, kafka_bootstrap=kafka_bootstrap)
    tenant = str(svc.tenant("a"))
    reader = TopicReader(kafka_bootstrap)
    try:
        ids = drive(Api(svc))
        published = svc.publish_outbox()
        events = reader.read(tenant, lambda got: len(got) >= published)
    finally:
        reader.close()
    assert len(events) == published  # each exactly once, nothing of another tenant
    ada, al, note = ids["ada"], ids["al"], ids["note"]
    expected = {
        ("crm.property.created", ids["plan"]), ("crm.property.updated", ids["plan"]),
        ("crm.company.created", ids["acme"]), ("crm.company.updated", ids["acme"]),
        ("crm.contact.created", ada), ("crm.contact.updated", ada), ("crm.contact.created", al),
        ("crm.activity.created", note), ("crm.contact.created", ids["temp"]), ("crm.contact.deleted", ids["temp"]),
        ("crm.contact.deleted", al), ("crm.activity.updated", note), ("crm.contact.merged", ada),
        ("crm.contact.unmerged", ada), ("crm.contact.erased", ada), ("crm.activity.deleted", note),
    }
    seen = {(e["type"], e["subject"]) for _, e in events}
    assert expected <= seen, expected - seen
    for topic, event in events:
        assert topic == topic_for("contacts", event["type"]) and event["tenant_id"] == tenant
        assert event["source"] == "contacts" and event["request_id"] == "test-request"
        if event["type"].endswith(".updated"):
            changes = event["data"]["changes"]
            assert changes and all(isinstance(v, list) and len(v) == 2 and v[0] != v[1] for v in changes.values()), event
    archived = next(e for _, e in events if e["type"] == "crm.property.updated")["data"]["changes"]["archived_at"]
    assert archived[0] is None and archived[1]
    merged = next(e for _, e in events if e["type"] == "crm.contact.merged")["data"]
    assert (merged["primary_id"], merged["secondary_id"]) == (ada, al)
    # One record's events share a key, hence a partition: they arrive in the order they happened.
    ada_types = [e["type"] for _, e in events if e["subject"] == ada and e["type"].startswith("crm.contact.")]
    assert ada_types[0] == "crm.contact.created" and ada_types[-1] == "crm.contact.erased"
    assert ada_types.index("crm.contact.merged") < ada_types.index("crm.contact.unmerged")
    # The erasure says which ids are gone and nothing else: no name, email, phone or note text.
    [erased] = [e for _, e in events if e["type"] == "crm.contact.erased"]
    assert erased["data"]["id"] == ada and erased["data"]["merged_ids"] == [al] and set(erased["data"]) == \
        {"id", "merged_ids", "erased_at"}
    erasure = [e for _, e in events if e["type"] in ("crm.contact.erased", "crm.activity.deleted")]
    leaked = [s for s in PERSONAL if s in json.dumps(erasure)]
    assert not leaked, leaked
