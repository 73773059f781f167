"""The outbox relay: publishes outbox rows in order, deletes them once acknowledged, retries forever.

Leadership (PostgreSQL): one relay per database publishes, the others wait as hot standbys. The
leader holds a session advisory lock on a dedicated connection and runs every batch on that
connection, re-checking before each publish that its session still holds the lock. When that
connection drops (server restart, failover, pg_terminate_backend) the lock is gone and so is the
leadership: the next batch fails or finds the lock missing, and the relay goes back to waiting for
the lock instead of publishing next to the new leader.
"""

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


class LostLeadership(RuntimeError):
    """The leader connection no longer holds the relay's advisory lock."""


class OutboxRelay:
    def __init__(self, service: str, db: Database, publisher: EventPublisher, metadata, batch_size: int = 500,  # type: ignore[no-untyped-def]
                 standby_interval: float = 1.0) -> None:
        self.service = service
        self.db = db
        self.publisher = publisher
        self.table = event_tables(metadata).outbox
        self.batch_size = batch_size
        self.standby_interval = standby_interval  # how often a standby tries to take the lock
        # One active relay per database keeps publishing order; others wait as hot standbys.
        self.lock_id = zlib.crc32(f"crm-relay-{service}".encode())

    def publish_batch(self, leader: Connection | None = None) -> int:
        """Publish up to one batch; returns how many rows were published.

        With `leader` (an autocommit connection holding the advisory lock) the batch is read and
        deleted on it, and the lock is re-checked right before publishing.
        """
        query = (select(self.table.c.id, self.table.c.topic, self.table.c.key, self.table.c.payload,
                        self.table.c.event_id, self.table.c.event_type)
                 .order_by(self.table.c.id).limit(self.batch_size))
        if leader is None:
            with self.db.engine.connect() as conn:
                rows = conn.execute(query).all()
        else:
            rows = leader.execute(query).all()
        if not rows:
            return 0
        if leader is not None and not self.holds_lock(leader):
            raise LostLeadership(f"relay {self.service} lost its advisory lock")
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
            done = delete(self.table).where(self.table.c.id.in_([r.id for r in rows[:published]]))
            if leader is None:
                with self.db.engine.begin() as conn:
                    conn.execute(done)
            else:
                leader.execute(done)  # autocommit
            try:
                m = metrics()
                for r in rows[:published]:
                    m.events_published.labels(self.service, r.topic).inc()
            except Exception:  # metrics never stop the relay
                log.debug("could not count published events", exc_info=True)
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

    def holds_lock(self, conn: Connection) -> bool:
        """True if `conn`'s session holds the relay lock (a bigint key: classid high, objid low half)."""
        return bool(conn.execute(text(
            "select exists (select 1 from pg_locks where locktype = 'advisory' and granted"
            " and pid = pg_backend_pid() and classid::bigint = :hi and objid::bigint = :lo and objsubid = 1)"
        ), {"hi": self.lock_id >> 32, "lo": self.lock_id & 0xFFFFFFFF}).scalar())

    def _try_leadership(self, conn: Connection) -> bool:
        return bool(conn.execute(text("select pg_try_advisory_lock(:k)"), {"k": self.lock_id}).scalar())

    def _connect_leader(self) -> Connection:
        return self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    @staticmethod
    def _drop(conn: Connection | None) -> None:
        if conn is None:
            return
        try:
            conn.invalidate()  # never hand a possibly half-dead session back to the pool
            conn.close()
        except Exception:
            log.debug("closing the leader connection failed", exc_info=True)

    def run(self, stop: threading.Event, idle_sleep: float = 0.05) -> None:
        postgres = self.db.engine.dialect.name == "postgresql"
        backoff = 0.5
        leader: Connection | None = None
        leading = not postgres  # the embedded default runs one relay per database
        last_observed = 0.0
        try:
            while not stop.is_set():
                try:
                    if postgres and not leading:
                        if leader is None:
                            leader = self._connect_leader()
                        if not self._try_leadership(leader):
                            stop.wait(self.standby_interval)
                            continue
                        leading = True
                        log.info("relay %s is the leader", self.service)
                    published = self.publish_batch(leader)
                    backoff = 0.5
                except Exception as exc:  # broker or database down, or leadership lost: keep the rows
                    if isinstance(exc, LostLeadership):
                        log.warning("relay %s lost leadership; standing by", self.service)
                    else:
                        log.exception("relay publish failed; retrying in %.1fs", backoff)
                    if postgres and (isinstance(exc, LostLeadership) or not self._still_leading(leader)):
                        self._drop(leader)
                        leader, leading = None, False
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
            self._drop(leader)
            self.publisher.close()

    def _still_leading(self, leader: Connection | None) -> bool:
        if leader is None:
            return False
        try:
            return self.holds_lock(leader)
        except Exception:  # the connection itself is gone, and the lock with it
            return False
