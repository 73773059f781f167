"""Consumer automation.webhooks: every event of the platform's topics becomes deliveries to the
matching subscriptions of its tenant (the runner has set that tenant's context and dedupes)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from automation.deliveries import FAILED, PENDING, fan_out, unqueue
from automation.models import WebhookAttempt, WebhookDelivery
from crm_core.settings import Settings
from crm_db.base import utcnow
from crm_db.database import Database
from crm_events.consumer import Handler
from crm_events.envelope import Event, dumps
from crm_runtime.cli import ConsumerSpec

GROUP = "automation.webhooks"
TOPICS = [
    "crm.contacts.contact", "crm.contacts.company", "crm.contacts.activity", "crm.pipeline.deal", "crm.pipeline.task",
    "crm.pipeline.pipeline", "crm.tickets.ticket", "crm.campaigns.campaign", "crm.gateway.tenant",
]
ERASED = "crm.contact.erased"
REDACTED = {"redacted": True, "reason": "The contact was erased; its personal data was removed."}
NOT_SENT = "Not sent: the contact it was about was erased."


def about(envelope: dict[str, Any], ids: set[str]) -> bool:
    """Whether a stored envelope carries the person's data: its own events, its activities, and the
    merge events that carry it as the secondary."""
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    kind = str(envelope.get("type") or "")
    return (envelope.get("subject") in ids
            or (kind.startswith("crm.activity.") and data.get("contact_id") in ids)
            or (kind in ("crm.contact.merged", "crm.contact.unmerged") and data.get("secondary_id") in ids))


def forget_contact(session: Session, event: Event) -> int:
    """On crm.contact.erased: deliveries about the person keep their row (the history still shows
    what was sent when, with what answer) but their payload loses its data; pending ones are not
    sent any more. Returns how many were redacted."""
    ids = {event.subject, *(str(i) for i in event.data.get("merged_ids") or ())}
    # The text match narrows in the database (ids are unique strings); about() decides.
    candidates = session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.event_type != ERASED, or_(*(WebhookDelivery.payload.contains(i) for i in sorted(ids))),
    ).with_for_update()).all()
    redacted = []
    for delivery in candidates:
        envelope = json.loads(delivery.payload)
        if not about(envelope, ids):
            continue
        delivery.payload = dumps({**envelope, "data": REDACTED})
        if delivery.status == PENDING:
            delivery.status, delivery.next_attempt_at, delivery.last_error = FAILED, None, NOT_SENT
            unqueue(session, delivery.tenant_id, delivery.id)
        redacted.append(delivery.id)
    if redacted:
        # A receiver's answer may echo what it was sent.
        session.execute(update(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(redacted)).values(response=None))
    return len(redacted)


def on_event(session: Session, event: Event) -> None:
    if event.type == ERASED:
        forget_contact(session, event)
    fan_out(session, event, utcnow())


def handlers() -> dict[str, Handler]:
    return {"*": on_event}  # the runner's catch-all: subscriptions can name any type


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    from automation.workflows import wiring

    # Workflows also hear inbound mail (crm.mail.received: "wait until the contact replies").
    return [ConsumerSpec(GROUP, list(TOPICS), handlers()), *wiring.consumers(settings, db, [*TOPICS, "crm.mail.mail"])]
