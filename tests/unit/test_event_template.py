"""EventTemplate (bulk envelopes) writes byte for byte what Event.to_json() writes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from crm_core.ids import uuid7
from crm_events.envelope import Event
from crm_events.template import EventTemplate

DATA: list[dict[str, Any]] = [
    {},
    {"id": str(uuid7()), "email": "ada@example.com", "tags": ["a", "b"], "properties": {"plan": "pro", "seats": 3}},
    {"first_name": "Ünïcødé ✓ 😀", "note": "line\nbreak\ttab \"quoted\" back\\slash \x00\x1f\x7f \u2028"},
    {"n": 1.5, "big": 10**30, "neg": -0.0, "exp": 1e16, "tiny": 5e-324, "flag": True, "none": None},
    {"nested": {"deep": [{"x": [1, [2, {"y": None}]]}]}, "empty": [], "obj": {}},
    {"when": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC), "day": dt.date(2024, 2, 29), "uid": uuid.UUID(int=5)},
    {"@crm-slot-data-5b1e@": "a key that looks like a placeholder is still data"},
]


@pytest.mark.parametrize("request_id", [None, "job-123", "req-ü\"x"])
@pytest.mark.parametrize("data", DATA)
def test_payload_is_what_event_to_json_writes(data: dict[str, Any], request_id: str | None) -> None:
    tenant, time = str(uuid.uuid4()), "2026-01-02T03:04:05.123456Z"
    template = EventTemplate("crm.contact.created", "contacts", tenant, request_id, time)
    for subject in (str(uuid7()), "subject with \"quotes\" and ü"):
        event_id = str(uuid7())
        expected = Event(type="crm.contact.created", source="contacts", tenant_id=tenant, subject=subject, data=data,
                         id=event_id, time=time, request_id=request_id).to_json()
        assert template.payload(subject, data, event_id) == expected
