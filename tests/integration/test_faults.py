"""Faults on the real servers: a consumer waits out a PostgreSQL crash instead of dead-lettering, and
killing a web worker, the Kafka broker or PostgreSQL with SIGKILL in the middle of a write burst loses
no committed write and counts nothing twice once everything is back (the relay and consumer kills
are in test_events.py).

The broker and PostgreSQL that get killed are private instances started here, never the shared ones.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import urllib3
from sqlalchemy import create_engine, text

from crm_events.envelope import Event
from crm_events.kafka_log import read_topic
from crm_events.log import OutgoingRecord, open_publisher
from crm_testing.apps import make_harness
from crm_testing.db import create_service_database
from crm_testing.platform import Platform, start_platform, wait_for
from crm_testing.plugin import in_ci
from crm_testing.private_servers import PrivateKafka, PrivatePostgres

pytestmark = pytest.mark.integration


def _private(start: Any) -> Any:
    """Start a private server; like the shared fixtures, skip when impossible unless CI=true."""
    try:
        return start()
    except Exception as exc:
        if in_ci():
            raise
        pytest.skip(f"cannot start a private server here: {type(exc).__name__}: {exc}")


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    server = _private(PrivatePostgres)
    yield server
    server.close()


@pytest.fixture(scope="module")
def private_kafka() -> Iterator[PrivateKafka]:
    """Also for the kill tests that do not kill it: a fresh broker's topics hold only this module's
    events, so a new consumer group does not first work through every other test's history."""
    server = _private(PrivateKafka)
    yield server
    server.close()


def _sql(url: str, query: str, **params: Any) -> list[Any]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            result = conn.execute(text(query), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def _tenant_rows(url: str, tenant: str, query: str) -> list[Any]:
    """Rows under RLS for one tenant (the owner is filtered too: FORCE ROW LEVEL SECURITY)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": tenant})
            return list(conn.execute(text(query)).all())
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- consumer vs PostgreSQL crash


def test_consumer_waits_out_a_postgres_crash_and_handles_each_event_once(
        private_pg: PrivatePostgres, kafka_bootstrap: str, tmp_path: Path) -> None:
    import reporting
    from crm_runtime.service import migrations_dir
    from reporting.app import create_app
    from reporting.models import metadata

    owner, app = create_service_database(private_pg.admin_url, f"crash_{uuid.uuid4().hex[:8]}")
    svc = make_harness("reporting", create_app, metadata(), migrations_dir(reporting.__file__), tmp_path,
                       database_url=app, owner_url=owner, kafka_bootstrap=kafka_bootstrap)
    # A side effect without any uniqueness: a second application of an event would show as a second row.
    _sql(owner, "create table handled_log (event_id uuid not null, at timestamptz not null default now())")
    app_role = app.split("//", 1)[1].split(":", 1)[0]
    _sql(owner, f'grant insert, select on handled_log to "{app_role}"')
    topic = f"crm.test.crash.{uuid.uuid4().hex[:8]}"
    tenant = str(uuid.uuid4())
    events = [Event(type="crm.thing.created", source="test", tenant_id=tenant, subject=str(uuid.uuid4()), data={})
              for _ in range(600)]

    def handler(session: Any, event: Event) -> None:
        session.execute(text("insert into handled_log (event_id) values (:e)"), {"e": event.id})

    publisher = open_publisher(svc.settings)
    publisher.publish([OutgoingRecord(topic, e.subject, e.to_json().encode(), {"event_id": e.id}) for e in events])
    publisher.close()
    runner = svc.consumer(f"crash-{uuid.uuid4().hex[:6]}", [topic], {"crm.thing.created": handler})
    runner.transient_max_delay = 1.0  # keep the test short; production caps at 10 s
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()

    def handled() -> int:
        try:
            return _sql(owner, "select count(*) from handled_log")[0][0]
        except Exception:
            return -1

    try:
        wait_for(lambda: handled() >= 50, timeout=60, what="the consumer to be mid-stream")
        private_pg.kill()  # SIGKILL: every connection drops, in-flight transactions are lost
        time.sleep(4.0)  # longer than the old retry budget (5 attempts in about 3 s)
        assert thread.is_alive()
        private_pg.start()
        wait_for(lambda: handled() >= len(events), timeout=60, interval=0.5, what="every event to be handled")
        time.sleep(1.0)  # anything applied twice would show up by now
    finally:
        stop.set()
        thread.join(timeout=15)
    rows = _sql(owner, "select event_id::text, count(*) from handled_log group by event_id")
    assert {r[0]: r[1] for r in rows} == {e.id: 1 for e in events}  # each exactly once
    assert read_topic(kafka_bootstrap, f"{topic}.dlq") == []  # nothing dead-lettered
    svc.db.dispose()


# --------------------------------------------------------------------------- kill tests


def _phase(what: str, started: list[float] = [time.monotonic()]) -> None:  # noqa: B006 - a process-wide clock
    print(f"[{time.monotonic() - started[0]:6.1f}s] {what}", flush=True)


class Burst:
    """Creates contacts through the gateway from 8 threads; remembers what was acknowledged."""

    def __init__(self, platform: Platform, token: str) -> None:
        self.platform, self.token = platform, token
        self.acked: list[str] = []
        self.failed = 0
        self.statuses: dict[str, int] = {}  # what the failures answered, for the log
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(8)
        self.futures: list[Future[None]] = []

    def _write(self, i: int) -> None:
        try:
            resp = self.platform.request("POST", "/v1/contacts", {"first_name": f"burst-{i}"}, token=self.token)
            ok = resp.status == 201
            contact_id = resp.json()["id"] if ok else None
            outcome = str(resp.status)
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            ok, contact_id, outcome = False, None, type(exc).__name__
        with self.lock:
            if not ok:
                self.statuses[outcome] = self.statuses.get(outcome, 0) + 1
            if ok:
                self.acked.append(contact_id)  # type: ignore[arg-type]
            else:
                self.failed += 1

    def start(self, start: int, count: int) -> None:
        self.futures += [self.pool.submit(self._write, i) for i in range(start, start + count)]

    def done(self) -> int:
        return sum(f.done() for f in self.futures)

    def finish(self) -> None:
        for f in self.futures:
            f.result(timeout=120)
        self.pool.shutdown()


def _contact_ids(platform: Platform, tenant: str) -> set[str]:
    """The truth: contacts committed in the contacts database."""
    url = platform.services["contacts"].settings.database_owner_url
    return {str(r[0]) for r in _tenant_rows(url, tenant, "select id from contacts")}


def _contact_ids_named(platform: Platform, tenant: str, first_name: str) -> set[str]:
    url = platform.services["contacts"].settings.database_owner_url
    rows = _tenant_rows(url, tenant, f"select id from contacts where first_name = '{first_name}'")
    return {str(r[0]) for r in rows}


def _counted(platform: Platform, tenant: str) -> list[str]:
    """Contacts the reporting projection counts (not deleted), one row per contact id."""
    url = platform.services["reporting"].settings.database_owner_url
    return [str(r[0]) for r in _tenant_rows(url, tenant, "select id from contact_facts where not deleted")]


def _summary_contacts(platform: Platform, token: str) -> int | None:
    try:
        resp = platform.request("GET", "/v1/reports/summary", token=token)
        return resp.json()["contacts"] if resp.status == 200 else None
    except (urllib3.exceptions.HTTPError, ValueError):
        return None


def _settled(platform: Platform, tenant: str, token: str, timeout: float = 60.0) -> set[str]:
    """Waits until the summary counts exactly what is committed; returns the committed ids."""
    committed: set[str] = set()

    def check() -> bool:
        nonlocal committed
        committed = _contact_ids(platform, tenant)
        return _summary_contacts(platform, token) == len(committed) and bool(committed)

    wait_for(check, timeout=timeout, interval=0.5, what="the summary to count every committed contact")
    time.sleep(1.5)  # a redelivered tail must not count twice
    assert _summary_contacts(platform, token) == len(committed)
    counted = _counted(platform, tenant)
    assert sorted(counted) == sorted(committed)  # the same contacts, each once
    return committed


def _warm_up(platform: Platform) -> tuple[str, str]:
    """Sign up and wait until a first contact is counted: the relay and consumer processes are up
    (on a busy machine their start takes seconds, and one starting while the database is being
    killed would just exit, as it would under a supervisor that restarts it)."""
    account = platform.signup("Fault Co")
    token, tenant = account["access_token"], account["tenant"]["id"]
    assert platform.request("POST", "/v1/contacts", {"first_name": "first"}, token=token).status == 201
    wait_for(lambda: _summary_contacts(platform, token) == 1, timeout=60, what="events to flow")
    _phase("signed up, events flowing")
    return token, tenant


def _stop(*procs: Any) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()
            proc.wait()


def test_web_worker_killed_mid_burst_loses_no_committed_write(tmp_path: Path, pg_admin_url: str,
                                                              private_kafka: PrivateKafka) -> None:
    platform = start_platform(tmp_path, pg_admin_url=pg_admin_url, kafka_bootstrap=private_kafka.bootstrap,
                              only={"contacts", "reporting"}, web_processes=frozenset({"contacts"}))
    contacts, reporting = platform.services["contacts"], platform.services["reporting"]
    relay, consumer = contacts.spawn("relay"), reporting.spawn("consumer")
    _phase("platform up")
    try:
        token, tenant = _warm_up(platform)
        burst = Burst(platform, token)
        burst.start(0, 200)
        wait_for(lambda: burst.done() >= 60, timeout=60, what="the burst to be under way")
        [victim, *_] = contacts.web_workers()
        os.kill(victim, signal.SIGKILL)  # requests in flight on it die with it
        burst.finish()
        _phase(f"worker {victim} killed mid-burst: {len(burst.acked)} acknowledged, {burst.failed} failed {burst.statuses}")
        wait_for(lambda: victim not in contacts.web_workers() and len(contacts.web_workers()) == 2,
                 timeout=30, what="gunicorn to replace the killed worker")
        after = Burst(platform, token)
        after.start(300, 20)
        after.finish()
        assert after.failed == 0  # the service is whole again
        _phase("writes done")
        committed = _settled(platform, tenant, token)
        _phase("settled")
        assert set(burst.acked + after.acked) <= committed  # every acknowledged write is there
        assert len(committed) <= 221
    finally:
        _stop(relay, consumer)
        platform.close()


def test_broker_killed_mid_burst_loses_nothing_and_counts_nothing_twice(tmp_path: Path, pg_admin_url: str,
                                                                        private_kafka: PrivateKafka) -> None:
    platform = start_platform(tmp_path, pg_admin_url=pg_admin_url, kafka_bootstrap=private_kafka.bootstrap,
                              only={"contacts", "reporting"})
    contacts, reporting = platform.services["contacts"], platform.services["reporting"]
    relay, consumer = contacts.spawn("relay"), reporting.spawn("consumer")
    _phase("platform up")
    try:
        token, tenant = _warm_up(platform)
        burst = Burst(platform, token)
        burst.start(0, 150)
        wait_for(lambda: burst.done() >= 40, timeout=60, what="the burst to be under way")
        private_kafka.kill()
        burst.start(150, 50)  # writes never wait on the broker: the outbox takes them
        burst.finish()
        assert burst.failed == 0
        _phase("broker killed mid-burst; restarting it")
        private_kafka.start()
        _phase("broker back")
        committed = _settled(platform, tenant, token)
        _phase("settled")
        assert committed - set(burst.acked) == {*_contact_ids_named(platform, tenant, "first")}
        created = {r.key for r in read_topic(private_kafka.bootstrap, "crm.contacts.contact", prefix=platform.topic_prefix)
                   if r.headers.get("event_type") == "crm.contact.created" and json.loads(r.value)["tenant_id"] == tenant}
        assert created == committed  # every committed write's event is on the (restarted) broker
    finally:
        _stop(relay, consumer)
        platform.close()


def test_postgres_killed_mid_burst_loses_nothing_and_counts_nothing_twice(tmp_path: Path, private_pg: PrivatePostgres,
                                                                          private_kafka: PrivateKafka) -> None:
    platform = start_platform(tmp_path, pg_admin_url=private_pg.admin_url, kafka_bootstrap=private_kafka.bootstrap,
                              only={"contacts", "reporting"})
    contacts, reporting = platform.services["contacts"], platform.services["reporting"]
    relay, consumer = contacts.spawn("relay"), reporting.spawn("consumer")
    _phase("platform up")
    try:
        token, tenant = _warm_up(platform)
        burst = Burst(platform, token)
        burst.start(0, 200)
        wait_for(lambda: burst.done() >= 50, timeout=60, what="the burst to be under way")
        private_pg.kill()  # mid-burst: some transactions die uncommitted, some commits go unanswered
        time.sleep(3.0)
        private_pg.start()
        burst.finish()
        _phase(f"postgres killed mid-burst and back: {len(burst.acked)} acknowledged, {burst.failed} failed {burst.statuses}")
        # The outage answers 503 with Retry-After (retryable), never a 500.
        assert "500" not in burst.statuses, burst.statuses
        # Back to normal: new writes succeed again (pools drop their dead connections).
        wait_for(lambda: platform.request("POST", "/v1/contacts", {"first_name": "probe"}, token=token).status == 201,
                 timeout=30, what="writes to succeed again")
        after = Burst(platform, token)
        after.start(300, 20)
        after.finish()
        assert after.failed == 0
        _phase("writes done")
        committed = _settled(platform, tenant, token)
        _phase("settled")
        assert set(burst.acked + after.acked) <= committed  # every acknowledged write survived the crash
    finally:
        _stop(relay, consumer)
        platform.close()
