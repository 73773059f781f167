"""Consumer runner: handles each event once per consumer, in the handler's own transaction.

Order of commits: the handler's database work and the processed_events row commit together;
only then is the log position committed. A crash in between redelivers the event, and the
processed_events row turns the redelivery into a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import MetaData, insert, select
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.metrics import metrics
from crm_db.database import Database
from crm_events.envelope import Event
from crm_events.log import EventPublisher, EventSubscriber, IncomingRecord, OutgoingRecord
from crm_events.tables import event_tables

log = logging.getLogger(__name__)

Handler = Callable[[Session, Event], None]


@dataclass
class ConsumerRunner:
    service: str
    group: str
    db: Database
    metadata: MetaData
    subscriber: EventSubscriber
    dead_letters: EventPublisher
    handlers: dict[str, Handler]
    max_attempts: int = 5
    retry_delay: float = 0.2

    def __post_init__(self) -> None:
        self.processed = event_tables(self.metadata).processed_events

    def handle(self, record: IncomingRecord) -> None:
        try:
            event = Event.from_json(record.value)
        except (ValueError, TypeError) as exc:
            self._dead_letter(record, f"unreadable envelope: {exc}")
            return
        handler = self.handlers.get(event.type) or self.handlers.get("*")  # "*": every event type
        if handler is None:
            return
        m = metrics()
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                self._handle_once(handler, event)
                m.event_handling.labels(self.service, event.type).observe(time.perf_counter() - started)
                m.events_consumed.labels(self.service, event.type).inc()
                return
            except Exception as exc:
                log.warning("handling %s %s failed (attempt %d): %s", event.type, event.id, attempt, exc)
                if attempt == self.max_attempts:
                    self._dead_letter(record, f"{type(exc).__name__}: {exc}")
                    return
                time.sleep(self.retry_delay * 2 ** (attempt - 1))

    def _handle_once(self, handler: Handler, event: Event) -> None:
        with context.tenant_context(event.tenant_id, event.request_id), self.db.transaction() as session:
            event_id = uuid.UUID(event.id)
            seen = session.execute(
                select(self.processed.c.event_id).where(
                    self.processed.c.tenant_id == uuid.UUID(event.tenant_id),
                    self.processed.c.consumer == self.group,
                    self.processed.c.event_id == event_id,
                )
            ).first()
            if seen:
                return
            handler(session, event)
            session.execute(insert(self.processed).values(
                tenant_id=uuid.UUID(event.tenant_id), consumer=self.group, event_id=event_id
            ))

    def _dead_letter(self, record: IncomingRecord, error: str) -> None:
        log.error("dead-lettering %s@%s: %s", record.topic, record.offset, error)
        headers = dict(record.headers)
        headers.update({"error": error[:1000], "original_topic": record.topic, "consumer": self.group})
        # Retries forever: the event must land in the dead-letter topic before we move past it.
        while True:
            try:
                self.dead_letters.publish([OutgoingRecord(f"{record.topic}.dlq", record.key or "", record.value, headers)])
                break
            except Exception:
                log.exception("dead-letter publish failed; retrying")
                time.sleep(1.0)
        metrics().events_dead_lettered.labels(self.service, record.topic).inc()

    def run_once(self, timeout: float = 0.5) -> int:
        records = self.subscriber.poll(timeout)
        for record in records:
            self.handle(record)
        if records:
            self.subscriber.commit()
        return len(records)

    def run(self, stop: threading.Event) -> None:
        try:
            self._loop(stop)
        finally:
            # Leave the group now, so its partitions move at once instead of after a session timeout.
            self.subscriber.close()

    def _loop(self, stop: threading.Event) -> None:
        last_lag = 0.0
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("consumer loop failed; retrying")
                stop.wait(1.0)
            if time.monotonic() - last_lag > 5.0:
                last_lag = time.monotonic()
                try:
                    for topic, lag in self.subscriber.lag().items():
                        metrics().consumer_lag.labels(self.service, self.group, topic).set(lag)
                except Exception:
                    log.debug("lag not available", exc_info=True)
