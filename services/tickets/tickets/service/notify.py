"""In-app notifications for the desk's users (a mention, an assignment, an SLA breach).

Notifications live in the pipeline service (/v1/notifications); the desk asks for one with a
crm.notification.requested event in its own outbox, in the same transaction as its cause, and
pipeline's consumer writes it (once per event id).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from crm_events.outbox import Outbox

NOTIFICATION_REQUESTED = "crm.notification.requested"


def request_notifications(session: Session, outbox: Outbox, user_ids: Iterable[uuid.UUID], *, kind: str,
                          title: str, subject_type: str, subject_id: uuid.UUID, body: str | None = None,
                          actor_id: uuid.UUID | None = None, data: dict[str, Any] | None = None) -> None:
    """One event for all recipients (deduplicated; the actor never notifies themselves)."""
    users = sorted({str(u) for u in user_ids if u is not None and u != actor_id})
    if not users:
        return
    outbox.emit(session, NOTIFICATION_REQUESTED, subject_id, {
        "user_ids": users, "kind": kind, "title": title, "body": body, "subject_type": subject_type,
        "subject_id": str(subject_id), "actor_id": str(actor_id) if actor_id else None, "data": data or {},
    })
