"""Dead letters on the real Kafka broker: a failing event lands on the dead-letter topic with its
error, and `python -m <service> dlq list|replay` shows and re-drives it, never twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from crm_core.settings import REPO_ROOT, Settings
from crm_events.envelope import Event
from crm_events.kafka_log import read_topic
from crm_events.log import OutgoingRecord, open_publisher, open_subscriber
from crm_testing.apps import ServiceHarness, drain, make_harness
from crm_testing.db import create_service_database
from crm_testing.platform import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reporting_on_kafka(pg_admin_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> ServiceHarness:
    import reporting
    from crm_runtime.service import migrations_dir
    from reporting.app import create_app
    from reporting.models import metadata

    owner, app = create_service_database(pg_admin_url, f"dlq_{uuid.uuid4().hex[:8]}")
    return make_harness("reporting", create_app, metadata(), migrations_dir(reporting.__file__),
                        tmp_path_factory.mktemp("dlq"), database_url=app, owner_url=owner, kafka_bootstrap=kafka_bootstrap)


def _event(tenant: str, type_: str = "crm.thing.created") -> Event:
    return Event(type=type_, source="test", tenant_id=tenant, subject=str(uuid.uuid4()), data={})


def _publish(settings: Settings, topic: str, events: list[Event]) -> None:
    publisher = open_publisher(settings)
    publisher.publish([OutgoingRecord(topic, e.subject, e.to_json().encode(), {"event_id": e.id, "event_type": e.type})
                       for e in events])
    publisher.close()


def test_failing_event_is_dead_lettered_on_kafka(reporting_on_kafka: ServiceHarness) -> None:
    svc = reporting_on_kafka
    topic = f"crm.test.{uuid.uuid4().hex[:8]}"
    tenant = str(uuid.uuid4())
    bad, good = _event(tenant), _event(tenant)
    handled: list[str] = []

    def handler(_session: object, event: Event) -> None:
        if event.id == bad.id:
            raise ValueError("cannot handle this one")
        handled.append(event.id)

    _publish(svc.settings, topic, [bad, good])
    runner = svc.consumer(f"dlq-test-{uuid.uuid4().hex[:6]}", [topic], {"crm.thing.created": handler})
    runner.max_attempts = 2
    wait_for(lambda: runner.run_once(1.0) or handled, timeout=60, what="the good event to be handled")
    assert handled == [good.id]
    dead = open_subscriber(svc.settings, f"dlq-reader-{uuid.uuid4().hex[:6]}", [f"{topic}.dlq"])
    records = wait_for(lambda: dead.poll(1.0), timeout=60, what="the dead letter")
    assert [r.headers["event_id"] for r in records] == [bad.id]
    assert records[0].headers["error"].startswith("ValueError: cannot handle this one")
    assert records[0].headers["original_topic"] == topic
    for closable in (dead, runner.subscriber, runner.dead_letters):
        closable.close()


def _env(settings: Settings) -> dict[str, str]:
    env = {"CRM_DATABASE_URL": settings.database_url, "CRM_VAR_DIR": str(settings.var_dir), "CRM_LOG_LEVEL": "WARNING"}
    if settings.kafka_bootstrap:
        env["CRM_KAFKA_BOOTSTRAP"] = settings.kafka_bootstrap
    return env


def _dlq_process(settings: Settings, *args: str) -> tuple[list[dict[str, Any]], str]:
    """`python -m reporting dlq ...` as an operator runs it."""
    env = {**os.environ, **_env(settings), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "reporting", "dlq", *args, "--json"], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


@pytest.fixture
def dlq(reporting_on_kafka: ServiceHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """The same command in this process (a subprocess costs seconds of imports on a busy machine)."""
    import logging

    from crm_runtime.cli import main
    from reporting.__main__ import PROCESS

    for key, value in _env(reporting_on_kafka.settings).items():
        monkeypatch.setenv(key, value)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)

    def run(*args: str) -> tuple[list[dict[str, Any]], str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(PROCESS, ["dlq", *args, "--json"])
        out = capsys.readouterr()
        assert exited.value.code == 0, out.err
        return [json.loads(line) for line in out.out.splitlines()], out.err

    yield run
    root.handlers, root.level = saved[0], saved[1]


def test_dlq_cli_lists_filters_and_replays_each_dead_letter_once(reporting_on_kafka: ServiceHarness, dlq: Any) -> None:
    svc = reporting_on_kafka
    topic = f"crm.test.{uuid.uuid4().hex[:8]}"
    tenant = str(uuid.uuid4())
    deal, ticket, fine = _event(tenant, "crm.deal.created"), _event(tenant, "crm.ticket.created"), _event(tenant)
    broken = {"on": True}
    handled: list[str] = []

    def handler(_session: object, event: Event) -> None:
        if broken["on"] and event.type != "crm.thing.created":
            raise ValueError(f"no handler support for {event.type} yet")
        handled.append(event.id)

    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    _publish(svc.settings, topic, [deal, ticket, fine])
    runner = svc.consumer(f"dlq-cli-{uuid.uuid4().hex[:6]}", [topic], {"*": handler})
    runner.max_attempts = 2
    wait_for(lambda: drain(runner, timeout=0.3) or len(handled) == 1, timeout=60, what="the stream to be consumed")
    wait_for(lambda: len(dlq("list", "--topic", topic)[0]) == 2, timeout=30, what="two dead letters")

    letters, summary = _dlq_process(svc.settings, "list", "--topic", topic)
    assert {(x["event_type"], x["event_id"]) for x in letters} == {("crm.deal.created", deal.id), ("crm.ticket.created", ticket.id)}
    assert all(x["error"].startswith("ValueError: no handler support") and x["original_topic"] == topic for x in letters)
    assert all(dt.datetime.fromisoformat(x["dead_lettered_at"]) >= started for x in letters)
    assert summary.strip().endswith("2 dead letter(s)")
    assert [x["event_id"] for x in dlq("list", "--topic", topic, "--type", "crm.deal.created")[0]] == [deal.id]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert dlq("list", "--topic", topic, "--since", future)[0] == []
    assert len(dlq("list", "--topic", topic, "--since", started.isoformat())[0]) == 2

    broken["on"] = False  # the bug is fixed: re-drive the deal first, then everything else
    replayed, summary = dlq("replay", "--topic", topic, "--type", "crm.deal.created")
    assert [x["event_id"] for x in replayed] == [deal.id] and "replayed 1 " in summary
    again, summary = dlq("replay", "--topic", topic, "--type", "crm.deal.created")
    assert again == [] and "replayed 0 " in summary  # a second run re-drives nothing
    wait_for(lambda: drain(runner, timeout=0.3) or deal.id in handled, timeout=60, what="the replayed deal")
    assert [x["event_id"] for x in dlq("list", "--topic", topic)[0]] == [ticket.id]
    listed_all = dlq("list", "--topic", topic, "--all")[0]
    assert {x["event_id"]: bool(x["replayed_at"]) for x in listed_all} == {deal.id: True, ticket.id: False}

    assert [x["event_id"] for x in dlq("replay", "--topic", topic)[0]] == [ticket.id]
    assert dlq("replay", "--topic", topic)[0] == []
    wait_for(lambda: drain(runner, timeout=0.3) or ticket.id in handled, timeout=60, what="the replayed ticket")
    assert sorted(handled) == sorted([fine.id, deal.id, ticket.id])  # each exactly once
    # On the original topic: the first delivery plus exactly one replay of each, with the original headers.
    copies = [r for r in read_topic(svc.settings.kafka_bootstrap or "", topic)]
    by_id = [r.headers["event_id"] for r in copies]
    assert sorted(by_id) == sorted([deal.id, ticket.id, fine.id, deal.id, ticket.id])
    replay = [r for r in copies if r.headers["event_id"] == deal.id][-1]
    assert replay.headers == {"event_id": deal.id, "event_type": "crm.deal.created"}
    assert replay.value == deal.to_json().encode() and replay.key == deal.subject
    for closable in (runner.subscriber, runner.dead_letters):
        closable.close()
