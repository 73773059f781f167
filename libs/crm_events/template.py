"""Envelopes of many events of one kind (bulk writes), byte for byte what Event.to_json() writes.

Building an Event and serialising the whole envelope per record costs more than the record's own
data; here the envelope is serialised once with placeholders, and per event only the data is
serialised (with envelope.dumps, so both stay the same whatever dumps does) and spliced in.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
from sqlalchemy import Connection, Table

from crm_db.base import utcnow
from crm_db.bulk import json_array
from crm_events.envelope import Event, dumps, topic_for

# A string of these characters is its own JSON between quotes, in any serialiser (ids, keys).
_PLAIN = re.compile(r"[0-9A-Za-z._:@+-]*")
# Placeholders: plain ASCII, so any JSON serialiser writes them as they are, between quotes.
_SLOTS = {"subject": "@crm-slot-subject-5b1e@", "data": "@crm-slot-data-5b1e@", "id": "@crm-slot-id-5b1e@"}


class EventTemplate:
    """to_json() of Event(type, source, tenant_id, subject, data, id=..., time=..., request_id=...,
    actor_id=..., origin=..., causation=...) for one (type, source, tenant, request_id, time, actor,
    origin, causation) and many (subject, data, id)."""

    def __init__(self, event_type: str, source: str, tenant_id: str, request_id: str | None, time: str,
                 actor_id: str | None = None, *, origin: str | None = None, causation: list[str] | None = None) -> None:
        probe = Event(type=event_type, source=source, tenant_id=tenant_id, subject=_SLOTS["subject"],
                      data=_SLOTS["data"], id=_SLOTS["id"], time=time, request_id=request_id,  # type: ignore[arg-type]
                      actor_id=actor_id, origin=origin, causation=causation)
        text = probe.to_json()
        marks = sorted((text.index(dumps(mark)), name, len(dumps(mark))) for name, mark in _SLOTS.items())
        self._parts: list[str] = []
        self._order: list[str] = []
        at = 0
        for start, name, length in marks:
            self._parts.append(text[at:start])
            self._order.append(name)
            at = start + length
        self._tail = text[at:]
        if len(self._order) != 3 or any(text.count(dumps(mark)) != 1 for mark in _SLOTS.values()):
            raise ValueError("the envelope's JSON does not keep its fields apart")

    def payload(self, subject: str, data: dict[str, Any], event_id: str) -> str:
        values = {"subject": _string(subject), "data": dumps(data), "id": _string(event_id)}
        out: list[str] = []
        for part, name in zip(self._parts, self._order, strict=True):
            out.append(part)
            out.append(values[name])
        out.append(self._tail)
        return "".join(out)


class OutboxPieces:
    """Outbox rows of one event type and tenant for many subjects, for PostgreSQL: each row one small
    JSON object (payload as a JSON string: PostgreSQL reads that faster than a nested json value,
    which it would parse twice), all of them inserted by one statement (insert_outbox_pieces) whose
    constant columns are parameters."""

    def __init__(self, service: str, event_type: str, tenant_id: str, request_id: str | None, time: str,
                 actor_id: str | None = None, *, origin: str | None = None, causation: list[str] | None = None) -> None:
        self.template = EventTemplate(event_type, service, tenant_id, request_id, time, actor_id, origin=origin,
                                      causation=causation)

    def piece(self, subject: str, data: dict[str, Any], event_id: str) -> bytes:
        payload = orjson.dumps(self.template.payload(subject, data, event_id))  # a JSON string: cheapest for the server
        return b"".join((b'{"e":', _string(event_id).encode(), b',"k":', _string(subject).encode(), b',"p":', payload, b"}"))


def _string(value: str) -> str:
    return f'"{value}"' if _PLAIN.fullmatch(value) else dumps(value)


def insert_outbox_pieces(conn: Connection, table: Table, service: str, event_type: str, tenant_id: uuid.UUID,
                         pieces: list[bytes]) -> None:
    """The rows OutboxPieces made, in their order (the outbox id follows it), in the caller's transaction."""
    if not pieces:
        return
    quote = conn.dialect.identifier_preparer.quote
    conn.exec_driver_sql(
        f"INSERT INTO {quote(table.name)} (tenant_id, event_id, event_type, topic, key, payload, created_at) "
        "SELECT %s, e.e, %s, %s, e.k, e.p, %s FROM json_to_recordset(%s::json) AS e(e uuid, k text, p text)",
        (tenant_id, event_type, topic_for(service, event_type), utcnow(), json_array(pieces)))
