"""`dlq list|replay` on the embedded log: the same contract as on Kafka (see tests/integration)."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from crm_events.embedded_log import EmbeddedLog
from crm_events.envelope import Event
from crm_events.log import IncomingRecord, OutgoingRecord, embedded_log_path
from crm_testing.apps import ServiceHarness, drain, make_harness


@pytest.fixture
def svc(tmp_path: Path) -> ServiceHarness:
    import reporting
    from crm_runtime.service import migrations_dir
    from reporting.app import create_app
    from reporting.models import metadata

    return make_harness("reporting", create_app, metadata(), migrations_dir(reporting.__file__), tmp_path)


@pytest.fixture
def dlq(svc: ServiceHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    from crm_runtime.cli import main
    from reporting.__main__ import PROCESS

    monkeypatch.setenv("CRM_DATABASE_URL", svc.settings.database_url)
    monkeypatch.setenv("CRM_VAR_DIR", str(svc.settings.var_dir))
    monkeypatch.setenv("CRM_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("CRM_KAFKA_BOOTSTRAP", raising=False)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)

    def run(*args: str) -> list[dict[str, Any]]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(PROCESS, ["dlq", *args, "--json"])
        out = capsys.readouterr()
        assert exited.value.code == 0, out.err
        return [json.loads(line) for line in out.out.splitlines()]

    yield run
    root.handlers, root.level = saved


def test_dead_letters_are_listed_and_replayed_once_on_the_embedded_log(svc: ServiceHarness, dlq: Any) -> None:
    from reporting.consumer import GROUP

    tenant = str(uuid.uuid4())
    # A deal the reporting projection cannot read (its real handler fails on it), and a contact it can.
    bad = Event(type="crm.deal.created", source="pipeline", tenant_id=tenant, subject=str(uuid.uuid4()),
                data={"status": "open", "amount": {"amount": "lots", "currency": "USD"}})
    log = EmbeddedLog(embedded_log_path(svc.settings))
    publisher = log.publisher()
    publisher.publish([OutgoingRecord("crm.pipeline.deal", bad.subject, bad.to_json().encode(),
                                      {"event_id": bad.id, "event_type": bad.type})])
    from reporting.consumer import consumer_specs

    [spec] = consumer_specs(svc.settings, svc.db)
    runner = svc.consumer(spec.group, spec.topics, spec.handlers)
    runner.max_attempts = 1
    drain(runner, timeout=0.05)
    [letter] = dlq("list")  # the service's own topics and group, no --topic needed
    assert (letter["event_id"], letter["consumer"], letter["original_topic"]) == (bad.id, GROUP, "crm.pipeline.deal")
    assert dlq("list", "--type", "crm.contact.created") == []
    assert [x["event_id"] for x in dlq("replay")] == [bad.id]
    assert dlq("replay") == [] and dlq("list") == []
    [again] = [r for r in log.read_topic("crm.pipeline.deal") if r.headers["event_id"] == bad.id][1:]
    assert again.headers == {"event_id": bad.id, "event_type": bad.type} and again.value == bad.to_json().encode()
    # Still broken: the replay fails again and becomes a new dead letter, listed and replayable once more.
    drain(runner, timeout=0.05)
    [second] = dlq("list")
    assert second["event_id"] == bad.id and second["position"] != letter["position"]
    assert len(dlq("list", "--all")) == 2
    publisher.close()


def test_a_marker_never_counts_as_a_dead_letter() -> None:
    from crm_events.dead_letters import MARKER_HEADER, dead_letters

    letter = IncomingRecord("t.dlq", 0, 5, "k", b"{}", {"original_topic": "t", "consumer": "g", "event_id": "e"})
    marker = IncomingRecord("t.dlq", 0, 9, "k", b"{}", {MARKER_HEADER: "0:5", "replayed_at": "2025-01-01T00:00:00+00:00"})
    other = IncomingRecord("t.dlq", 1, 5, "k", b"{}", {"original_topic": "t", "consumer": "g"})  # same offset, other partition
    letters = dead_letters([letter, marker, other])
    assert [(x.position, x.replayed_at) for x in letters] == [("0:5", "2025-01-01T00:00:00+00:00"), ("1:5", None)]
