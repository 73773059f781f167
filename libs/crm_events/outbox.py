"""Writing events: a use case calls emit() inside its transaction; the relay publishes later."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import MetaData, insert
from sqlalchemy.orm import Session

from crm_core import context
from crm_db.base import utcnow
from crm_events.envelope import Event, topic_for
from crm_events.tables import event_tables


class Outbox:
    """One service's outbox: knows its source name and table."""

    def __init__(self, service: str, metadata: MetaData) -> None:
        self.service = service
        self.table = event_tables(metadata).outbox
        # Built once, parameters bound per call: compiled once, and executed on the session's
        # connection (same transaction) without the ORM's per-statement machinery.
        self._insert = insert(self.table)

    def emit(
        self,
        session: Session,
        event_type: str,
        subject: uuid.UUID | str,
        data: dict[str, Any],
        *,
        changes: dict[str, list[Any]] | None = None,
        tenant_id: uuid.UUID | None = None,
    ) -> Event:
        tenant = tenant_id or context.require_tenant()
        body = dict(data)
        if changes is not None:
            body["changes"] = changes
        event = Event(
            type=event_type,
            source=self.service,
            tenant_id=str(tenant),
            subject=str(subject),
            data=body,
            request_id=context.current_request_id(),
        )
        session.connection().execute(self._insert, {
            "tenant_id": tenant,
            "event_id": uuid.UUID(event.id),
            "event_type": event_type,
            "topic": topic_for(self.service, event_type),
            "key": str(subject),
            "payload": event.to_json(),
            "created_at": utcnow(),
        })
        return event
