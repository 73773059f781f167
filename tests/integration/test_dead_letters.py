"""An event that keeps failing lands on the dead-letter topic of the real Kafka broker, with its error."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from crm_events.envelope import Event
from crm_events.log import OutgoingRecord, open_publisher, open_subscriber
from crm_testing.apps import make_harness
from crm_testing.db import create_service_database
from crm_testing.platform import wait_for

pytestmark = pytest.mark.integration


def test_failing_event_is_dead_lettered_on_kafka(pg_admin_url: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    import reporting
    from crm_runtime.service import migrations_dir
    from reporting.app import create_app
    from reporting.models import metadata

    owner, app = create_service_database(pg_admin_url, f"dlq_{uuid.uuid4().hex[:8]}")
    svc = make_harness("reporting", create_app, metadata(), migrations_dir(reporting.__file__), tmp_path,
                       database_url=app, owner_url=owner, kafka_bootstrap=kafka_bootstrap)
    topic = f"crm.test.{uuid.uuid4().hex[:8]}"
    tenant = str(uuid.uuid4())
    bad = Event(type="crm.thing.created", source="test", tenant_id=tenant, subject=str(uuid.uuid4()), data={})
    good = Event(type="crm.thing.created", source="test", tenant_id=tenant, subject=str(uuid.uuid4()), data={})
    handled: list[str] = []

    def handler(_session: object, event: Event) -> None:
        if event.id == bad.id:
            raise ValueError("cannot handle this one")
        handled.append(event.id)

    publisher = open_publisher(svc.settings)
    publisher.publish([OutgoingRecord(topic, e.subject, e.to_json().encode(), {"event_id": e.id}) for e in (bad, good)])
    runner = svc.consumer(f"dlq-test-{uuid.uuid4().hex[:6]}", [topic], {"crm.thing.created": handler})
    runner.max_attempts = 2
    wait_for(lambda: runner.run_once(1.0) or handled, timeout=60, what="the good event to be handled")
    assert handled == [good.id]
    dead = open_subscriber(svc.settings, f"dlq-reader-{uuid.uuid4().hex[:6]}", [f"{topic}.dlq"])
    records = wait_for(lambda: dead.poll(1.0), timeout=60, what="the dead letter")
    assert [r.headers["event_id"] for r in records] == [bad.id]
    assert records[0].headers["error"].startswith("ValueError: cannot handle this one")
    assert records[0].headers["original_topic"] == topic
    for closable in (dead, runner.subscriber, publisher, runner.dead_letters):
        closable.close()
