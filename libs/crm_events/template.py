"""Envelopes of many events of one kind (bulk writes), byte for byte what Event.to_json() writes.

Building an Event and serialising the whole envelope per record costs more than the record's own
data; here the envelope is serialised once with placeholders, and per event only the data is
serialised (with envelope.dumps, so both stay the same whatever dumps does) and spliced in.
"""

from __future__ import annotations

from typing import Any

from crm_events.envelope import Event, dumps

# Placeholders: plain ASCII, so any JSON serialiser writes them as they are, between quotes.
_SLOTS = {"subject": "@crm-slot-subject-5b1e@", "data": "@crm-slot-data-5b1e@", "id": "@crm-slot-id-5b1e@"}


class EventTemplate:
    """to_json() of Event(type, source, tenant_id, subject, data, id=..., time=..., request_id=...)
    for one (type, source, tenant, request_id, time) and many (subject, data, id)."""

    def __init__(self, event_type: str, source: str, tenant_id: str, request_id: str | None, time: str) -> None:
        probe = Event(type=event_type, source=source, tenant_id=tenant_id, subject=_SLOTS["subject"],
                      data=_SLOTS["data"], id=_SLOTS["id"], time=time, request_id=request_id)  # type: ignore[arg-type]
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
        values = {"subject": dumps(subject), "data": dumps(data), "id": dumps(event_id)}
        out: list[str] = []
        for part, name in zip(self._parts, self._order, strict=True):
            out.append(part)
            out.append(values[name])
        out.append(self._tail)
        return "".join(out)
