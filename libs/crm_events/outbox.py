"""Writing events: a use case calls emit() inside its transaction; the relay publishes later."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import MetaData, insert
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.ids import uuid7
from crm_db.base import utcnow
from crm_db.bulk import bulk_insert
from crm_db.tenancy import defer as defer_write
from crm_events.envelope import Event, topic_for
from crm_events.tables import event_tables
from crm_events.template import EventTemplate


def context_fields() -> dict[str, Any]:
    """The envelope fields an event takes from the context it is written in: request id, actor,
    origin and causation (None rather than an empty chain: most events have none)."""
    return {"request_id": context.current_request_id(), "actor_id": context.current_actor_id(),
            "origin": context.current_origin(), "causation": list(context.current_causation()) or None}


class Outbox:
    """One service's outbox: knows its source name and table."""

    def __init__(self, service: str, metadata: MetaData) -> None:
        self.service = service
        self.table = event_tables(metadata).outbox
        # Built once, parameters bound per call: compiled once, and executed on the session's
        # connection (same transaction) without the ORM's per-statement machinery. Inline: nothing
        # reads the new id back, so no RETURNING (and nothing to wait for in a pipeline).
        self._insert = insert(self.table).inline()

    def emit(
        self,
        session: Session,
        event_type: str,
        subject: uuid.UUID | str,
        data: dict[str, Any],
        *,
        changes: dict[str, list[Any]] | None = None,
        tenant_id: uuid.UUID | None = None,
        defer: bool = False,
    ) -> Event:
        """`defer`: queue the row to go out with the transaction's COMMIT (crm_db.tenancy.defer),
        one round trip with the write it records; still the same transaction."""
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
            **context_fields(),
        )
        row = {
            "tenant_id": tenant,
            "event_id": uuid.UUID(event.id),
            "event_type": event_type,
            "topic": topic_for(self.service, event_type),
            "key": str(subject),
            "payload": event.to_json(),
            "created_at": utcnow(),
        }
        if defer:
            defer_write(session, self._insert, row)
        else:
            session.connection().execute(self._insert, row)
        return event

    def emit_many(self, session: Session, event_type: str, items: Iterable[tuple[uuid.UUID | str, dict[str, Any]]]) -> int:
        """Events of one type for many subjects, written with one executemany (bulk imports):
        the same rows emit() writes, in order."""
        return self.insert_rows(session, self.event_rows(event_type, items))

    def event_rows(self, event_type: str, items: Iterable[tuple[uuid.UUID | str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """emit_many's rows without writing them: a bulk writer can build them (CPU) while the
        database is busy with its previous batch, then insert_rows() them."""
        tenant = context.require_tenant()
        topic = topic_for(self.service, event_type)
        now = utcnow()
        # The envelope serialised once, each event's data spliced in: what Event(...).to_json() writes.
        fields = context_fields()
        template = EventTemplate(event_type, self.service, str(tenant), fields["request_id"],
                                 now.isoformat().replace("+00:00", "Z"), fields["actor_id"], origin=fields["origin"],
                                 causation=fields["causation"])
        rows = []
        for subject, data in items:
            event_id, key = uuid7(), str(subject)
            rows.append({"tenant_id": tenant, "event_id": event_id, "event_type": event_type, "topic": topic,
                         "key": key, "payload": template.payload(key, data, str(event_id)), "created_at": now})
        return rows

    def insert_rows(self, session: Session, rows: list[dict[str, Any]]) -> int:
        tenant = context.require_tenant() if rows else None
        if rows:
            if any(row["tenant_id"] != tenant for row in rows):
                raise ValueError("outbox rows of another tenant")
            bulk_insert(session.connection(), self.table, rows)
        return len(rows)
