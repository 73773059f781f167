"""Delivery use cases: fan an event out to matching subscriptions, queue, re-queue, read history.

All of these run inside one tenant's transaction (request, consumer or delivery loop), so the ORM
scoping and RLS keep them to that tenant; the statements on the non-tenant delivery_queue table
filter on tenant_id explicitly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from automation.models import WebhookAttempt, WebhookDelivery, WebhookSubscription, delivery_queue
from crm_core.errors import Conflict, NotFound
from crm_db.fair_queue import FairQueue
from crm_events.envelope import Event

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
STATUSES = (PENDING, SUCCEEDED, FAILED)
PING = "crm.webhook.test"


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """`*` matches everything, `crm.deal.*` every `crm.deal.<verb>`, anything else itself."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


_QUEUE = FairQueue(delivery_queue, "delivery_id")


def set_due(session: Session, delivery: WebhookDelivery, due_at: dt.datetime) -> None:
    """Put the delivery in the queue at `due_at` (one queue row per delivery)."""
    _QUEUE.set_due(session, delivery.tenant_id, delivery.id, due_at)


def unqueue(session: Session, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
    _QUEUE.remove(session, tenant_id, delivery_id)


def enqueue(session: Session, subscription_id: uuid.UUID, event: Event, now: dt.datetime) -> WebhookDelivery:
    """A pending delivery of `event`, due now; the same event for the same subscription is kept once."""
    event_id = uuid.UUID(event.id)
    existing = session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.event_id == event_id)).first()
    if existing is not None:
        return existing
    delivery = WebhookDelivery(subscription_id=subscription_id, event_id=event_id, event_type=event.type,
                               payload=event.to_json(), status=PENDING, attempt_count=0, next_attempt_at=now)
    session.add(delivery)
    session.flush()
    set_due(session, delivery, now)
    return delivery


def fan_out(session: Session, event: Event, now: dt.datetime) -> list[WebhookDelivery]:
    """Deliveries of `event` to every active subscription of its tenant whose event types match."""
    subscriptions = session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
                                    .order_by(WebhookSubscription.id))
    return [enqueue(session, s.id, event, now) for s in subscriptions if matches(s.event_types or [], event.type)]


def _require_active(subscription: WebhookSubscription) -> None:
    # The delivery loop gives up at once on an inactive subscription; say so now instead.
    if not subscription.active:
        raise Conflict("The webhook is inactive; activate it first.", errors={"active": ["The webhook is inactive."]})


def ping(session: Session, subscription: WebhookSubscription, now: dt.datetime) -> WebhookDelivery:
    """A crm.webhook.test event for this one subscription, delivered like any other event."""
    _require_active(subscription)
    event = Event(type=PING, source="automation", tenant_id=str(subscription.tenant_id), subject=str(subscription.id),
                  data={"webhook_id": str(subscription.id), "message": "This is a test event from the CRM."})
    return enqueue(session, subscription.id, event, now)


def deliveries_of(subscription_id: uuid.UUID) -> Select[tuple[WebhookDelivery]]:
    return select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)


def get_delivery(session: Session, subscription_id: uuid.UUID, delivery_id: uuid.UUID,
                 *, for_update: bool = False) -> WebhookDelivery:
    stmt = deliveries_of(subscription_id).where(WebhookDelivery.id == delivery_id)
    delivery = session.scalars(stmt.with_for_update() if for_update else stmt).first()
    if delivery is None:
        raise NotFound(f"No delivery with id {delivery_id}.")
    return delivery


def attempts_of(session: Session, delivery_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[WebhookAttempt]]:
    out: dict[uuid.UUID, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    if delivery_ids:
        rows = session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids))
                               .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt))
        for attempt in rows:
            out[attempt.delivery_id].append(attempt)
    return out


def retry(session: Session, subscription: WebhookSubscription, delivery_id: uuid.UUID,
          now: dt.datetime) -> WebhookDelivery:
    """Pending again and due now. The backoff goes on from the attempts already made, so a delivery
    that had given up gets one more attempt before it gives up again."""
    _require_active(subscription)
    delivery = get_delivery(session, subscription.id, delivery_id, for_update=True)
    delivery.status = PENDING
    delivery.next_attempt_at = now
    session.flush()
    set_due(session, delivery, now)
    return delivery
