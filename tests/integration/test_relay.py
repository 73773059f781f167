"""The outbox relay on real PostgreSQL: a row committed late by a concurrent writer is never lost."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, insert, select

from contacts.models import metadata
from crm_db.database import Database
from crm_db.migrate import upgrade
from crm_events.log import OutgoingRecord
from crm_events.relay import OutboxRelay
from crm_events.tables import event_tables
from crm_testing.db import create_service_database

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
