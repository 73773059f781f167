"""Consumer runner: handles each event once per consumer, in the handler's own transaction.

Order of commits: the handler's database work and the processed_events row commit together;
only then is the log position committed. A crash in between redelivers the event, and the
processed_events row turns the redelivery into a no-op.

Failures come in two kinds (crm_db.transient): a transient one (database or broker away,
serialisation failure, deadlock, lock timeout) is retried with capped backoff for as long as it
takes, and the position never moves past the event meanwhile; a deterministic one (the handler
fails on this event) is retried a few times, then the event goes to the dead-letter topic
`<topic>.dlq` and the consumer moves on (at once for an exception with a true
`dead_letter_now` attribute). Stopping while an event is not yet handled leaves the
position at that event, so the next run starts there.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import MetaData, insert, select
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.metrics import metrics
from crm_db.database import Database
from crm_db.transient import is_transient
from crm_events.envelope import Event
from crm_events.log import EventPublisher, EventSubscriber, IncomingRecord, OutgoingRecord
from crm_events.tables import event_tables

log = logging.getLogger(__name__)

Handler = Callable[[Session, Event], None]
# Many events of one tenant in one transaction (bulk ingest: mail's send requests). It gets only
# events not yet processed by this consumer; the runner records them all as processed.
BatchHandler = Callable[[Session, list[Event]], None]

# Headers the consumer adds to a dead letter; a replay strips them again (crm_events.dead_letters).
DEAD_LETTER_HEADERS = ("error", "original_topic", "consumer", "dead_lettered_at")


# The origin of a consumer's own writes. Usually "system" (the platform reacting, not the person or
# key behind the event), but a change that follows from a workflow's or an import's write keeps
# that origin, and every follow-on write keeps the event's causation chain: a workflow that
# excludes workflow-made or imported changes is not started by their side effects either, and
# loop protection counts a chain that runs through a consumer (workflow -> ticket -> contacts
# consumer -> contact.created -> workflow) just as it counts a direct one.
INHERITED_ORIGINS = frozenset({"workflow", "import"})


def follow_on(event: Event) -> tuple[str, tuple[str, ...]]:
    """(origin, causation) of the writes a consumer makes because of `event`."""
    origin = event.origin if event.origin in INHERITED_ORIGINS else "system"
    return origin, tuple(event.causation or ())


def _observe(record: Callable[[], object]) -> None:
    """Metrics are best effort: a failure to record one never stops an event."""
    try:
        record()
    except Exception:
        log.debug("could not record a consumer metric", exc_info=True)


@dataclass
class ConsumerRunner:
    service: str
    group: str
    db: Database
    metadata: MetaData
    subscriber: EventSubscriber
    dead_letters: EventPublisher
    handlers: dict[str, Handler]
    max_attempts: int = 5  # deterministic failures of one event before it is dead-lettered
    retry_delay: float = 0.2  # first pause between those attempts; doubles
    transient_delay: float = 0.2  # first pause after a transient failure; doubles up to the cap
    transient_max_delay: float = 10.0
    stop: threading.Event = field(default_factory=threading.Event)  # run() uses the caller's
    # Event type -> handler of a batch: consecutive records of one tenant whose types have one are
    # handled in one transaction (processed_events checked and written in bulk). A batch that
    # fails is handled again one event at a time, so a bad event is retried and dead-lettered alone.
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.processed = event_tables(self.metadata).processed_events

    def handle(self, record: IncomingRecord) -> bool:
        """Handle, skip or dead-letter `record`; False if the stop event came first (not handled)."""
        try:
            event = Event.from_json(record.value)
        except (ValueError, TypeError) as exc:
            return self._dead_letter(record, f"unreadable envelope: {exc}")
        handler = self.handlers.get(event.type) or self._single(event.type) or self.handlers.get("*")  # "*": every type
        if handler is None:
            return True
        failures = 0
        pause = self.transient_delay
        while True:
            started = time.perf_counter()
            try:
                self._handle_once(handler, event)
            except Exception as exc:
                if is_transient(exc):
                    log.warning("transient failure handling %s %s, retrying in %.1fs: %s: %s",
                                event.type, event.id, pause, type(exc).__name__, exc)
                    if self.stop.wait(pause):
                        return False
                    pause = min(pause * 2, self.transient_max_delay)
                    continue
                # An error that says retrying cannot help (`dead_letter_now`: a malformed request)
                # goes to the dead letters at once rather than after max_attempts.
                failures = self.max_attempts if getattr(exc, "dead_letter_now", False) else failures + 1
                log.warning("handling %s %s failed (attempt %d of %d): %s: %s", event.type, event.id,
                            failures, self.max_attempts, type(exc).__name__, exc)
                if failures >= self.max_attempts:
                    return self._dead_letter(record, f"{type(exc).__name__}: {exc}")
                if self.stop.wait(self.retry_delay * 2 ** (failures - 1)):
                    return False
                continue
            break
        elapsed = time.perf_counter() - started
        _observe(lambda: metrics().event_handling.labels(self.service, event.type).observe(elapsed))
        _observe(lambda: metrics().events_consumed.labels(self.service, event.type).inc())
        return True

    def _single(self, event_type: str) -> Handler | None:
        batch = self.batch_handlers.get(event_type)
        return (lambda session, event: batch(session, [event])) if batch is not None else None

    def _handle_once(self, handler: Handler, event: Event) -> None:
        with (context.tenant_context(event.tenant_id, event.request_id), context.origin_context(*follow_on(event)),
              self.db.transaction() as session):
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

    def _dead_letter(self, record: IncomingRecord, error: str) -> bool:
        log.error("dead-lettering %s@%s:%s for %s: %s", record.topic, record.partition, record.offset,
                  self.group, error)
        headers = dict(record.headers)
        headers.update({"error": error[:1000], "original_topic": record.topic, "consumer": self.group,
                        "dead_lettered_at": dt.datetime.now(dt.UTC).isoformat()})
        dead = OutgoingRecord(f"{record.topic}.dlq", record.key or "", record.value, headers)
        # The event must land in the dead-letter topic before we move past it: retry until it does.
        pause = 0.5
        while True:
            try:
                self.dead_letters.publish([dead])
                break
            except Exception:
                log.exception("dead-letter publish failed; retrying in %.1fs", pause)
                if self.stop.wait(pause):
                    return False
                pause = min(pause * 2, self.transient_max_delay)
        _observe(lambda: metrics().events_dead_lettered.labels(self.service, record.topic).inc())
        return True

    def run_once(self, timeout: float = 0.5) -> int:
        records = self.subscriber.poll(timeout)
        index = 0
        while index < len(records):
            batch = self._batch_at(records, index) if self.batch_handlers else []
            if len(batch) > 1 and self._handle_batch(batch):
                index += len(batch)
                continue
            if not self.handle(records[index]):
                # Stopping: whatever was not handled is delivered again on the next run.
                self.subscriber.rewind(records[index:])
                break
            index += 1
        if records:
            self.subscriber.commit()
        return len(records)

    def _batch_at(self, records: list[IncomingRecord], start: int) -> list[tuple[IncomingRecord, Event]]:
        """The run of records from `start` that one batch handler can take: same tenant and handler."""
        batch: list[tuple[IncomingRecord, Event]] = []
        for record in records[start:]:
            try:
                event = Event.from_json(record.value)
            except (ValueError, TypeError):
                break
            handler = self.batch_handlers.get(event.type)
            # One transaction, one context: a batch is of one tenant and one cause (follow_on).
            if handler is None or (batch and (event.tenant_id != batch[0][1].tenant_id
                                              or handler is not self.batch_handlers[batch[0][1].type]
                                              or follow_on(event) != follow_on(batch[0][1]))):
                break
            batch.append((record, event))
        return batch

    def _handle_batch(self, batch: list[tuple[IncomingRecord, Event]]) -> bool:
        """One transaction for the batch; False (nothing committed) if it failed for any reason."""
        first = batch[0][1]
        handler = self.batch_handlers[first.type]
        started = time.perf_counter()
        try:
            # Inside the try: an event with a bad tenant id fails the batch (then alone, to the
            # dead letters), never run_once itself.
            tenant = uuid.UUID(first.tenant_id)
            with (context.tenant_context(first.tenant_id, first.request_id), context.origin_context(*follow_on(first)),
                  self.db.transaction() as session):
                ids = {uuid.UUID(e.id): e for _, e in batch}
                seen = set(session.scalars(select(self.processed.c.event_id).where(
                    self.processed.c.tenant_id == tenant, self.processed.c.consumer == self.group,
                    self.processed.c.event_id.in_(list(ids)))))
                fresh = [e for i, e in ids.items() if i not in seen]
                if fresh:
                    handler(session, fresh)
                    session.execute(insert(self.processed), [
                        {"tenant_id": tenant, "consumer": self.group, "event_id": uuid.UUID(e.id)} for e in fresh])
        except Exception as exc:
            log.info("batch of %d %s events failed (%s: %s); handling them one by one", len(batch), first.type,
                     type(exc).__name__, exc)
            return False
        elapsed = time.perf_counter() - started
        for _, event in batch:
            _observe(lambda t=event.type: metrics().event_handling.labels(self.service, t).observe(elapsed / len(batch)))
            _observe(lambda t=event.type: metrics().events_consumed.labels(self.service, t).inc())
        return True

    def run(self, stop: threading.Event) -> None:
        self.stop = stop
        try:
            self._loop(stop)
        finally:
            # Leave the group now, so its partitions move at once instead of after a session timeout.
            self.subscriber.close()

    def _loop(self, stop: threading.Event) -> None:
        last_lag = 0.0
        pause = 0.5
        while not stop.is_set():
            try:
                self.run_once()
                pause = 0.5
            except Exception:  # broker away (poll or commit): nothing moved past an unhandled event
                log.exception("consumer loop failed; retrying in %.1fs", pause)
                stop.wait(pause)
                pause = min(pause * 2, 5.0)
            if time.monotonic() - last_lag > 5.0:
                last_lag = time.monotonic()
                try:
                    for topic, lag in self.subscriber.lag().items():
                        metrics().consumer_lag.labels(self.service, self.group, topic).set(lag)
                except Exception:
                    log.debug("lag not available", exc_info=True)
