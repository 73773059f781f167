"""The outbox relay: publishes outbox rows in order, deletes them once acknowledged, retries forever."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import zlib

from sqlalchemy import Connection, delete, func, select, text

from crm_core.metrics import metrics
from crm_db.database import Database
from crm_events.log import EventPublisher, OutgoingRecord, PublishError
from crm_events.tables import event_tables

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, service: str, db: Database, publisher: EventPublisher, metadata, batch_size: int = 500) -> None:
        self.service = service
        self.db = db
        self.publisher = publisher
        self.table = event_tables(metadata).outbox
        self.batch_size = batch_size
        # One active relay per database keeps publishing order; others wait as hot standbys.
        self.lock_id = zlib.crc32(f"crm-relay-{service}".encode())

    def publish_batch(self) -> int:
        """Publish up to one batch; returns how many rows were published."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(self.table.c.id, self.table.c.topic, self.table.c.key, self.table.c.payload,
                       self.table.c.event_id, self.table.c.event_type)
                .order_by(self.table.c.id).limit(self.batch_size)
            ).all()
        if not rows:
            return 0
        records = [
            OutgoingRecord(r.topic, r.key, r.payload.encode(), {"event_id": str(r.event_id), "event_type": r.event_type})
            for r in rows
        ]
        published = len(rows)
        error: PublishError | None = None
        try:
            self.publisher.publish(records)
        except PublishError as exc:
            published, error = exc.published, exc
        if published:
            # Exactly the published ids, never a range: a concurrent transaction may commit a row
            # with a lower id after our SELECT, and a range delete would drop it unpublished.
            with self.db.engine.begin() as conn:
                conn.execute(delete(self.table).where(self.table.c.id.in_([r.id for r in rows[:published]])))
            m = metrics()
            for r in rows[:published]:
                m.events_published.labels(self.service, r.topic).inc()
        if error is not None:
            raise error
        return published

    def observe_backlog(self) -> None:
        with self.db.engine.connect() as conn:
            count, oldest = conn.execute(select(func.count(), func.min(self.table.c.created_at))).one()
        m = metrics()
        m.outbox_backlog.labels(self.service).set(count)
        lag = 0.0
        if oldest is not None:
            # SQLite hands back naive datetimes; they are UTC.
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=dt.UTC)
            lag = max(0.0, time.time() - oldest.timestamp())
        m.relay_lag.labels(self.service).set(lag)

    def _try_leadership(self, conn: Connection) -> bool:
        if conn.dialect.name != "postgresql":
            return True
        return bool(conn.execute(text("select pg_try_advisory_lock(:k)"), {"k": self.lock_id}).scalar())

    def run(self, stop: threading.Event, idle_sleep: float = 0.05) -> None:
        backoff = 0.5
        leader_conn = self.db.engine.connect()
        try:
            while not stop.is_set() and not self._try_leadership(leader_conn):
                stop.wait(1.0)
            last_observed = 0.0
            while not stop.is_set():
                try:
                    published = self.publish_batch()
                    backoff = 0.5
                except Exception:  # broker or database down: keep the rows, try again
                    log.exception("relay publish failed; retrying in %.1fs", backoff)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                if time.monotonic() - last_observed > 2.0:
                    try:
                        self.observe_backlog()
                    except Exception:
                        log.exception("could not observe outbox backlog")
                    last_observed = time.monotonic()
                if published == 0:
                    stop.wait(idle_sleep)
        finally:
            leader_conn.close()
            self.publisher.close()
