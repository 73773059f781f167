"""Consumer fault handling with fakes: transient failures retry in place, only poison is dead-lettered."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import MetaData, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from crm_db.database import Database
from crm_db.transient import is_transient
from crm_events.consumer import ConsumerRunner
from crm_events.envelope import Event
from crm_events.log import IncomingRecord, OutgoingRecord
from crm_events.tables import event_tables


class FakeSubscriber:
    """One partition; poll hands out from the position, commit stores it, rewind moves it back."""

    def __init__(self, records: list[IncomingRecord]) -> None:
        self.records = records
        self.position = 0  # next offset to hand out
        self.committed = 0

    def poll(self, timeout: float, max_records: int = 200) -> list[IncomingRecord]:
        out = self.records[self.position:self.position + max_records]
        self.position += len(out)
        return out

    def commit(self) -> None:
        self.committed = self.position

    def rewind(self, unhandled: list[IncomingRecord]) -> None:
        self.position = min(r.offset for r in unhandled)

    def lag(self) -> dict[str, int]:
        return {}

    def close(self) -> None: ...


class FakePublisher:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.published: list[OutgoingRecord] = []

    def publish(self, records: list[OutgoingRecord]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker away")
        self.published += records

    def close(self) -> None: ...


def _events(n: int) -> list[Event]:
    tenant = str(uuid.uuid4())
    return [Event(type="crm.thing.created", source="test", tenant_id=tenant, subject=str(uuid.uuid4()), data={"i": i})
            for i in range(n)]


def _records(events: list[Event]) -> list[IncomingRecord]:
    return [IncomingRecord("crm.test.thing", 0, i, e.subject, e.to_json().encode(), {"event_id": e.id})
            for i, e in enumerate(events)]


def _pg_down() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("select 1", {}, psycopg.OperationalError("connection refused"))


@pytest.fixture
def runner_parts(tmp_path: Path) -> tuple[Database, MetaData]:
    metadata = MetaData()
    event_tables(metadata)
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    metadata.create_all(db.engine)
    return db, metadata


def _runner(parts: tuple[Database, MetaData], records: list[IncomingRecord], handler, dead=None):  # type: ignore[no-untyped-def]
    db, metadata = parts
    return ConsumerRunner("test", "test-group", db, metadata, FakeSubscriber(records), dead or FakePublisher(),
                          {"crm.thing.created": handler}, retry_delay=0.0, transient_delay=0.001,
                          transient_max_delay=0.004)


def _processed(parts: tuple[Database, MetaData]) -> int:
    db, metadata = parts
    with db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(event_tables(metadata).processed_events)).scalar_one()


@pytest.mark.parametrize("error", [
    _pg_down(),
    sa_exc.InterfaceError("select 1", {}, psycopg.InterfaceError("connection closed")),
    sa_exc.DisconnectionError("gone"),
    sa_exc.OperationalError("update", {}, psycopg.errors.SerializationFailure("could not serialize")),
    sa_exc.OperationalError("update", {}, psycopg.errors.DeadlockDetected("deadlock detected")),
    sa_exc.OperationalError("update", {}, psycopg.errors.LockNotAvailable("lock timeout")),
    sa_exc.OperationalError("insert", {}, sqlite3.OperationalError("database is locked")),
    psycopg.OperationalError("server closed the connection unexpectedly"),
])
def test_transient_errors_are_recognised(error: BaseException) -> None:
    assert is_transient(error)


def test_wrapped_transient_error_is_recognised() -> None:
    try:
        try:
            raise _pg_down()
        except sa_exc.OperationalError as exc:
            raise RuntimeError("projection failed") from exc
    except RuntimeError as wrapped:
        assert is_transient(wrapped)


@pytest.mark.parametrize("error", [
    ValueError("bad amount"),
    KeyError("data"),
    sa_exc.IntegrityError("insert", {}, psycopg.errors.UniqueViolation("duplicate key")),
    sa_exc.OperationalError("select", {}, sqlite3.OperationalError("no such table: things")),
    sa_exc.DataError("insert", {}, psycopg.errors.NumericValueOutOfRange("out of range")),
])
def test_deterministic_errors_are_not_transient(error: BaseException) -> None:
    assert not is_transient(error)


def test_database_outage_is_waited_out_and_nothing_is_dead_lettered(runner_parts) -> None:  # type: ignore[no-untyped-def]
    events = _events(3)
    outage = {"left": 25}  # far more than max_attempts: a short retry budget would drop it
    handled: list[str] = []

    def handler(_session: Session, event: Event) -> None:
        if event.id == events[1].id and outage["left"]:
            outage["left"] -= 1
            raise _pg_down()
        handled.append(event.id)

    dead = FakePublisher()
    runner = _runner(runner_parts, _records(events), handler, dead)
    assert runner.run_once() == 3
    assert handled == [e.id for e in events]
    assert dead.published == []
    assert runner.subscriber.committed == 3
    assert _processed(runner_parts) == 3


def test_poison_event_is_dead_lettered_after_a_few_attempts_and_the_rest_handled(runner_parts) -> None:  # type: ignore[no-untyped-def]
    events = _events(3)
    attempts: list[str] = []

    def handler(_session: Session, event: Event) -> None:
        attempts.append(event.id)
        if event.id == events[0].id:
            raise ValueError("cannot handle this one")

    dead = FakePublisher(failures=2)  # the dead-letter topic is briefly unreachable too
    runner = _runner(runner_parts, _records(events), handler, dead)
    runner.max_attempts = 3
    runner.run_once()
    assert attempts.count(events[0].id) == 3
    [letter] = dead.published
    assert letter.topic == "crm.test.thing.dlq" and letter.value == events[0].to_json().encode()
    assert letter.headers["error"] == "ValueError: cannot handle this one"
    assert letter.headers["original_topic"] == "crm.test.thing" and letter.headers["consumer"] == "test-group"
    assert letter.headers["event_id"] == events[0].id and "dead_lettered_at" in letter.headers
    assert runner.subscriber.committed == 3 and _processed(runner_parts) == 2


def test_stop_during_an_outage_does_not_commit_past_the_event(runner_parts) -> None:  # type: ignore[no-untyped-def]
    events = _events(4)
    down = threading.Event()
    down.set()
    handled: list[str] = []

    def handler(_session: Session, event: Event) -> None:
        if event.id == events[2].id and down.is_set():
            raise _pg_down()
        handled.append(event.id)

    runner = _runner(runner_parts, _records(events), handler)
    runner.transient_max_delay = 10.0  # a long backoff: stopping must still be prompt
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - started < 10.0
    assert handled == [events[0].id, events[1].id]
    assert runner.subscriber.committed == 2  # the position stays at the unhandled event
    # The next run (the database is back) starts at that event: nothing skipped, nothing twice.
    down.clear()
    runner.subscriber.position = runner.subscriber.committed
    runner.stop = threading.Event()
    runner.run_once()
    assert handled == [e.id for e in events]
    assert _processed(runner_parts) == 4


def test_metrics_failing_never_stops_an_event(runner_parts, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import crm_events.consumer as consumer_module

    def broken() -> None:
        raise FileNotFoundError("counter_123.db")

    monkeypatch.setattr(consumer_module, "metrics", broken)
    events = _events(2)
    handled: list[str] = []

    def handler(_session: Session, event: Event) -> None:
        if event.id == events[0].id:
            raise ValueError("poison")
        handled.append(event.id)

    dead = FakePublisher()
    runner = _runner(runner_parts, _records(events), handler, dead)
    runner.max_attempts = 1
    assert runner.run_once() == 2
    assert handled == [events[1].id] and len(dead.published) == 1 and runner.subscriber.committed == 2
