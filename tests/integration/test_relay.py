"""The outbox relay on real PostgreSQL: a row committed late by a concurrent writer is never lost, and
a relay whose lock connection drops stops publishing while the standby takes over."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import func, insert, select, text

from contacts.models import metadata
from crm_db.database import Database
from crm_db.migrate import upgrade
from crm_events.log import OutgoingRecord
from crm_events.relay import OutboxRelay
from crm_events.tables import event_tables
from crm_testing.db import create_service_database
from crm_testing.platform import wait_for

pytestmark = pytest.mark.integration


class CommitsDuringPublish:
    """A publisher that lets a slower transaction commit while the relay is publishing."""

    def __init__(self, on_publish: object) -> None:
        self.on_publish = on_publish
        self.published: list[OutgoingRecord] = []

    def publish(self, records: list[OutgoingRecord]) -> None:
        self.published += records
        if self.on_publish:
            self.on_publish()  # type: ignore[operator]
            self.on_publish = None

    def close(self) -> None: ...


def _row(outbox, key: str) -> dict:  # type: ignore[no-untyped-def]
    return {"tenant_id": uuid.uuid4(), "event_id": uuid.uuid4(), "event_type": "crm.contact.created",
            "topic": "crm.contacts.contact", "key": key, "payload": "{}"}


def test_row_committed_after_the_select_is_kept_for_the_next_batch(pg_admin_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    owner, app = create_service_database(pg_admin_url, f"relay_{uuid.uuid4().hex[:8]}")
    import contacts.__main__ as process

    upgrade(process.PROCESS.migrations, owner)
    db = Database(app)
    outbox = event_tables(metadata()).outbox
    slow = db.engine.connect()
    slow_tx = slow.begin()
    slow.execute(insert(outbox).values(_row(outbox, "slow")))  # lower id, not yet committed
    with db.engine.begin() as conn:
        conn.execute(insert(outbox).values(_row(outbox, "fast")))  # higher id, committed first
    publisher = CommitsDuringPublish(slow_tx.commit)
    relay = OutboxRelay("contacts", db, publisher, metadata())  # type: ignore[arg-type]
    assert relay.publish_batch() == 1
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 1  # "slow" survived
    assert relay.publish_batch() == 1
    assert [r.key for r in publisher.published] == ["fast", "slow"]
    slow.close()
    db.dispose()


class Recording:
    """A publisher that remembers which relay published what (thread-safe enough for lists)."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def publish(self, records: list[OutgoingRecord]) -> None:
        self.keys += [r.key for r in records]

    def close(self) -> None: ...


def _lock_holders(db: Database, lock_id: int) -> list[int]:
    with db.engine.connect() as conn:
        return list(conn.execute(text(
            "select pid from pg_locks where locktype = 'advisory' and granted and objid::bigint = :k"
            " and database = (select oid from pg_database where datname = current_database())"), {"k": lock_id}).scalars())


def test_relay_that_loses_its_lock_connection_stops_and_the_standby_takes_over(pg_admin_url: str) -> None:
    owner, app = create_service_database(pg_admin_url, f"relay_{uuid.uuid4().hex[:8]}")
    import contacts.__main__ as process

    upgrade(process.PROCESS.migrations, owner)
    db = Database(app, pool_size=4)
    outbox = event_tables(metadata()).outbox

    def add(prefix: str, n: int) -> list[str]:
        keys = [f"{prefix}-{i}" for i in range(n)]
        with db.engine.begin() as conn:
            conn.execute(insert(outbox), [_row(outbox, k) for k in keys])
        return keys

    first_pub, second_pub = Recording(), Recording()
    # The first relay would take long to come back as a standby, so the takeover is the second's.
    first = OutboxRelay("contacts", Database(app, pool_size=2), first_pub, metadata(), standby_interval=60.0)  # type: ignore[arg-type]
    second = OutboxRelay("contacts", Database(app, pool_size=2), second_pub, metadata(), standby_interval=0.05)  # type: ignore[arg-type]
    stop = threading.Event()
    threads = [threading.Thread(target=first.run, args=(stop,), daemon=True)]
    threads[0].start()
    try:
        [leader_pid] = wait_for(lambda: _lock_holders(db, first.lock_id), what="the first relay to lead")
        threads.append(threading.Thread(target=second.run, args=(stop,), daemon=True))
        threads[1].start()
        before = add("before", 20)
        wait_for(lambda: len(first_pub.keys) >= 20, what="the leader to publish")
        assert second_pub.keys == []  # the standby publishes nothing while the leader holds the lock
        with db.engine.connect() as conn:
            assert conn.execute(text("select pg_terminate_backend(:p)"), {"p": leader_pid}).scalar()
        wait_for(lambda: (h := _lock_holders(db, first.lock_id)) and h != [leader_pid], what="the standby to take over")
        after: list[str] = []
        for round_ in range(5):  # several batches, so a first relay still publishing would show
            after += add(f"after{round_}", 10)
            time.sleep(0.1)
        wait_for(lambda: len(second_pub.keys) >= len(after), what="the new leader to publish")
        time.sleep(0.5)
        assert first_pub.keys == before  # nothing published after its lock connection dropped
        assert second_pub.keys == after  # each row once, in order
        with db.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 0
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
        db.dispose()
