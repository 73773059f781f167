"""crm.notification.requested from any service's outbox -> rows of /v1/notifications.

A service that wants a user to see something (the desk: a mention, an SLA breach) writes the event
in the transaction of its cause (tickets.service.notify.request_notifications); this consumer
writes one notification per recipient, once per event id (the runner records the event as
processed in the same commit). The event's data:

    user_ids      [UUID]: the recipients (users of the event's tenant), at most MAX_RECIPIENTS
    kind          what happened, [a-z][a-z0-9_]* (NOTIFICATION_KINDS lists the known ones)
    title, body   what the user reads (body optional)
    subject_type  what it is about (ticket, deal, ...), subject_id its UUID
    actor_id      the user who caused it (never notified about their own action), optional
    data          anything the client needs to link it (a ticket number, a message id)

A recipient the users replica knows as deactivated is left out; one it does not know yet is
kept (the replica may lag behind a new user; notifications are per tenant and per user, so an id
that is no user of the tenant is read by nobody).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_events.consumer import Handler
from crm_events.envelope import Event, topic_for
from crm_events.outbox import Outbox
from crm_runtime.catalog import SERVICES
from pipeline.models.reminders import UserReplica
from pipeline.notifications import add_notifications, notification_row

log = logging.getLogger(__name__)

NOTIFICATION_REQUESTED = "crm.notification.requested"
GROUP = "pipeline.notification-requests"
MAX_RECIPIENTS = 500
KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SUBJECT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


def request_topics() -> list[str]:
    """Every other service's topic for the event (pipeline writes its own notifications directly)."""
    return sorted(topic_for(s.name, NOTIFICATION_REQUESTED) for s in SERVICES if s.name != "pipeline")


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def rows_for(session: Session, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The notification rows of one request; none for a malformed one (logged: a producer's bug)."""
    kind, subject_type = str(data.get("kind") or ""), str(data.get("subject_type") or "")
    subject_id, title = _uuid(data.get("subject_id")), str(data.get("title") or "").strip()
    if not KIND.match(kind) or not SUBJECT_TYPE.match(subject_type) or subject_id is None or not title:
        log.warning("malformed crm.notification.requested left out (kind %r, subject %r)", kind, subject_type)
        return []
    actor = _uuid(data.get("actor_id"))
    users = [u for u in dict.fromkeys(_uuid(v) for v in (data.get("user_ids") or [])[:MAX_RECIPIENTS])
             if u is not None and u != actor]
    if not users:
        return []
    inactive = set(session.scalars(select(UserReplica.id).where(UserReplica.id.in_(users),
                                                                UserReplica.active.is_(False))))
    body = data.get("body")
    extra = data.get("data") if isinstance(data.get("data"), dict) else {}
    return [notification_row(user_id=u, kind=kind, title=title, subject_type=subject_type, subject_id=subject_id,
                             body=str(body) if body else None, actor_id=actor, data=extra)
            for u in users if u not in inactive]


def handlers(outbox: Outbox) -> dict[str, Handler]:
    def requested(session: Session, event: Event) -> None:
        if isinstance(event.data, dict):
            add_notifications(session, outbox, rows_for(session, event.data))

    return {NOTIFICATION_REQUESTED: requested}
