"""The delivery loop: claim due deliveries fairly across tenants, attempt them concurrently, record.

Claiming moves a queue row's due time a lease ahead in one short transaction (a conditional
UPDATE, so parallel workers never take the same delivery), and a worker that dies mid-attempt
only delays it until the lease ends. The HTTP call runs outside any transaction, in a bounded
pool of threads, and each attempt has one overall deadline (sender.py).

Fairness: each tenant has at most CRM_WEBHOOK_TENANT_CONCURRENCY attempts in flight in this
process, and a claim takes every tenant's oldest due delivery before any tenant's second one
(round-robin by rank within the tenant). So a tenant with a backlog of a million deliveries, or
an endpoint that always runs into the deadline, occupies its own share of the pool and never
the slots another tenant's deliveries need. Delivery is at least once: receivers dedupe on
Webhook-Id.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all

from sqlalchemy import select
from sqlalchemy.orm import Session

from automation.deliveries import FAILED, PENDING, SUCCEEDED, set_due, unqueue
from automation.models import WebhookAttempt, WebhookDelivery, WebhookSubscription, delivery_queue
from automation.sender import DEFAULT_TIMEOUT, AttemptResult, Sender
from automation.service import ALLOW_PRIVATE
from crm_core.context import tenant_context
from crm_core.metrics import metrics
from crm_core.settings import Settings
from crm_db.base import utcnow
from crm_db.database import Database
from crm_db.fair_queue import FairQueue, TenantSlots

log = logging.getLogger(__name__)

RETRY_BASE = "CRM_WEBHOOK_RETRY_BASE_SECONDS"
TIMEOUT = "CRM_WEBHOOK_TIMEOUT_SECONDS"
CONCURRENCY = "CRM_WEBHOOK_CONCURRENCY"
TENANT_CONCURRENCY = "CRM_WEBHOOK_TENANT_CONCURRENCY"
# Multiples of the base delay (5s): 5s, 30s, 2m, 10m, 30m, 1h, then every 2h.
BACKOFF_STEPS = (1, 6, 24, 120, 360, 720, 1440)
# 19 waits of at least 5s+30s+2m+10m+30m+1h+13*2h = 27.7 hours: the "at least 24 hours" of API.md.
MAX_ATTEMPTS = 20
JITTER = 0.25  # only ever lengthens a wait, so the 24 hours above are a floor
LEASE = dt.timedelta(minutes=10)  # far above any attempt's deadline: only a dead worker lets it run out

_QUEUE = FairQueue(delivery_queue, "delivery_id")


def retry_delay(attempt: int, base: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    step = BACKOFF_STEPS[min(attempt, len(BACKOFF_STEPS)) - 1]
    return base * step * (1.0 + JITTER * rand())


Claimed = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, delivery_id)


class DeliveryWorker:
    def __init__(self, db: Database, sender: Sender, *, retry_base: float = 5.0, concurrency: int = 8,
                 tenant_concurrency: int = 2, idle_sleep: float = 1.0) -> None:
        self.db = db
        self.sender = sender
        self.retry_base = max(0.0, retry_base)
        self.slots = TenantSlots(concurrency, tenant_concurrency)
        self.idle_sleep = idle_sleep
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> DeliveryWorker:
        timeout = float(settings.get(TIMEOUT, str(DEFAULT_TIMEOUT)) or DEFAULT_TIMEOUT)
        concurrency = int(settings.get(CONCURRENCY, "8") or 8)
        return cls(db, Sender(allow_private=settings.get_bool(ALLOW_PRIVATE), timeout=timeout,
                              resolver_threads=2 * concurrency),
                   retry_base=float(settings.get(RETRY_BASE, "5") or "5"), concurrency=concurrency,
                   tenant_concurrency=int(settings.get(TENANT_CONCURRENCY, "2") or 2))

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    started = self._dispatch(utcnow())
                except Exception:  # database down: keep the queue, try again
                    log.exception("webhook delivery loop failed; retrying")
                    stop.wait(5.0)
                    continue
                if not started:
                    # Nothing to start (idle, pool full, or only capped tenants due): wait for a
                    # finished attempt or the next poll.
                    self.slots.freed.wait(self.idle_sleep)
                    self.slots.freed.clear()
        finally:
            self.close()

    def close(self) -> None:
        """Wait for the attempts in flight (each ends by its deadline), then let the threads go."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.sender.close()

    def deliver_due(self, now: dt.datetime | None = None) -> int:
        """Start one round of due deliveries (`now`: a fake clock in tests) and wait for them; how many."""
        futures = self._dispatch(now or utcnow())
        wait_all(futures)
        return len(futures)

    def _dispatch(self, now: dt.datetime) -> list[Future[None]]:
        free, room = self.slots.free()
        if free <= 0:
            return []
        claimed = self._claim(now, free, room)
        if not claimed:
            return []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.slots.total, thread_name_prefix="webhook-delivery")
        started = time.monotonic()
        futures = []
        for tenant_id, delivery_id in claimed:
            self.slots.take(tenant_id)
            future = self._pool.submit(self._attempt, tenant_id, delivery_id, now, started)
            future.add_done_callback(lambda _f, t=tenant_id: self.slots.release(t))
            futures.append(future)
        return futures

    def _attempt(self, tenant_id: uuid.UUID, delivery_id: uuid.UUID, now: dt.datetime, started: float) -> None:
        at = now + dt.timedelta(seconds=time.monotonic() - started)
        with tenant_context(tenant_id):
            try:
                self._deliver(delivery_id, at)
            except Exception:
                log.exception("delivery %s failed unexpectedly; retried when its lease ends", delivery_id)

    def _claim(self, now: dt.datetime, limit: int, room: dict[uuid.UUID, int]) -> list[Claimed]:
        """Up to `limit` due deliveries, every tenant's oldest first, none beyond a tenant's room."""
        with self.db.engine.begin() as conn:
            return _QUEUE.claim(conn, now, limit, per=self.slots.per_tenant, lease=LEASE, room=room)

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
