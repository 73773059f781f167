"""The delivery loop: claim due deliveries of every tenant, attempt each, record, reschedule.

Claiming moves a queue row's due time a lease ahead in one short transaction (FOR UPDATE SKIP
LOCKED on PostgreSQL), so parallel workers never take the same delivery and a worker that dies
mid-attempt only delays it until the lease ends. The HTTP call runs outside any transaction.
Delivery is at least once: receivers dedupe on Webhook-Id.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from automation.deliveries import FAILED, PENDING, SUCCEEDED, set_due, unqueue
from automation.models import WebhookAttempt, WebhookDelivery, WebhookSubscription, delivery_queue
from automation.sender import AttemptResult, Sender
from automation.service import ALLOW_PRIVATE
from crm_core.context import tenant_context
from crm_core.metrics import metrics
from crm_core.settings import Settings
from crm_db.base import utcnow
from crm_db.database import Database

log = logging.getLogger(__name__)

RETRY_BASE = "CRM_WEBHOOK_RETRY_BASE_SECONDS"
# Multiples of the base delay (5s): 5s, 30s, 2m, 10m, 30m, 1h, then every 2h.
BACKOFF_STEPS = (1, 6, 24, 120, 360, 720, 1440)
# 19 waits of at least 5s+30s+2m+10m+30m+1h+13*2h = 27.7 hours: the "at least 24 hours" of API.md.
MAX_ATTEMPTS = 20
JITTER = 0.25  # only ever lengthens a wait, so the 24 hours above are a floor
LEASE = dt.timedelta(minutes=10)


def retry_delay(attempt: int, base: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    step = BACKOFF_STEPS[min(attempt, len(BACKOFF_STEPS)) - 1]
    return base * step * (1.0 + JITTER * rand())


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


class DeliveryWorker:
    def __init__(self, db: Database, sender: Sender, *, retry_base: float = 5.0, batch_size: int = 20,
                 idle_sleep: float = 1.0) -> None:
        self.db = db
        self.sender = sender
        self.retry_base = max(0.0, retry_base)
        self.batch_size = batch_size
        self.idle_sleep = idle_sleep

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> DeliveryWorker:
        return cls(db, Sender(allow_private=settings.get_bool(ALLOW_PRIVATE)),
                   retry_base=float(settings.get(RETRY_BASE, "5") or "5"))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                handled = self.deliver_due()
            except Exception:  # database down: keep the queue, try again
                log.exception("webhook delivery loop failed; retrying")
                stop.wait(5.0)
                continue
            if handled == 0:
                stop.wait(self.idle_sleep)

    def deliver_due(self, now: dt.datetime | None = None) -> int:
        """Attempt one batch of deliveries due at `now` (a fake clock in tests); returns how many."""
        now = now or utcnow()
        started = time.monotonic()
        claimed = self._claim(now)
        for tenant_id, delivery_id in claimed:
            at = now + dt.timedelta(seconds=time.monotonic() - started)
            with tenant_context(tenant_id):
                try:
                    self._deliver(delivery_id, at)
                except Exception:
                    log.exception("delivery %s failed unexpectedly; retried when its lease ends", delivery_id)
        return len(claimed)

    def _claim(self, now: dt.datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
        q = delivery_queue
        with self.db.engine.begin() as conn:
            rows = conn.execute(
                select(q.c.id, q.c.tenant_id, q.c.delivery_id).where(q.c.due_at <= now)
                .order_by(q.c.due_at, q.c.id).limit(self.batch_size).with_for_update(skip_locked=True)
            ).all()
            if rows:
                conn.execute(update(q).where(q.c.id.in_([r.id for r in rows])).values(due_at=now + LEASE))
        return [(r.tenant_id, r.delivery_id) for r in rows]

    def _deliver(self, delivery_id: uuid.UUID, at: dt.datetime) -> None:
        with self.db.transaction() as session:
            delivery = self._pending(session, delivery_id)
            if delivery is None:
                return
            subscription = session.scalars(
                select(WebhookSubscription).where(WebhookSubscription.id == delivery.subscription_id)).first()
            if subscription is None or not subscription.active:
                delivery.status, delivery.next_attempt_at = FAILED, None
                delivery.last_error = "The webhook is inactive."
                unqueue(session, delivery.tenant_id, delivery.id)
                return
            url, secret, body = subscription.url, subscription.secret, delivery.payload.encode()
            message_id = str(delivery.event_id)
        result = self.sender.send(url, secret, message_id, body)
        with self.db.transaction() as session:
            delivery = self._pending(session, delivery_id)
            if delivery is None:
                return
            outcome = self._record(session, delivery, result, at)
        metrics().webhook_deliveries.labels(outcome).inc()

    def _pending(self, session: Session, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        """The delivery if it still waits for an attempt; otherwise its queue row goes."""
        delivery = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()).first()
        if delivery is None or delivery.status != PENDING:
            if delivery is not None:
                unqueue(session, delivery.tenant_id, delivery_id)
            return None
        return delivery

    def _record(self, session: Session, delivery: WebhookDelivery, result: AttemptResult, at: dt.datetime) -> str:
        number = delivery.attempt_count + 1
        session.add(WebhookAttempt(delivery_id=delivery.id, attempt=number, started_at=at,
                                   duration_ms=result.duration_ms, status_code=result.status_code,
                                   error=result.error, response=result.response))
        delivery.attempt_count = number
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        if result.ok or number >= MAX_ATTEMPTS:
            delivery.status = SUCCEEDED if result.ok else FAILED
            delivery.next_attempt_at = None
            unqueue(session, delivery.tenant_id, delivery.id)
            return "success" if result.ok else "failed"
        finished = at + dt.timedelta(milliseconds=result.duration_ms)
        delivery.next_attempt_at = finished + dt.timedelta(seconds=retry_delay(number, self.retry_base))
        session.flush()
        set_due(session, delivery, delivery.next_attempt_at)
        return "retry"
