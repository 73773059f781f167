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


# (actor_id, origin, causation): none of them, a user's, an import's, a workflow's chain.
CAUSES: list[tuple[str | None, str | None, list[str] | None]] = [
    (None, None, None),
    (str(uuid.uuid4()), "user", None),
    (None, "import", None),
    (None, "workflow", [str(uuid7()) for _ in range(3)]),
]


@pytest.mark.parametrize("cause", CAUSES)
@pytest.mark.parametrize("request_id", [None, "job-123", "req-ü\"x"])
@pytest.mark.parametrize("data", DATA)
def test_payload_is_what_event_to_json_writes(data: dict[str, Any], request_id: str | None,
                                              cause: tuple[str | None, str | None, list[str] | None]) -> None:
    tenant, time = str(uuid.uuid4()), "2026-01-02T03:04:05.123456Z"
    actor_id, origin, causation = cause
    template = EventTemplate("crm.contact.created", "contacts", tenant, request_id, time, actor_id, origin=origin,
                             causation=causation)
    for subject in (str(uuid7()), "subject with \"quotes\" and ü"):
        event_id = str(uuid7())
        expected = Event(type="crm.contact.created", source="contacts", tenant_id=tenant, subject=subject, data=data,
                         id=event_id, time=time, request_id=request_id, actor_id=actor_id, origin=origin,
                         causation=causation).to_json()
        assert template.payload(subject, data, event_id) == expected


def test_outbox_rows_carry_the_context_as_emit_does() -> None:
    """event_rows (the bulk path) takes request id, origin and causation from the context, as emit does."""
    from sqlalchemy import MetaData

    from crm_core import context
    from crm_events.outbox import Outbox

    outbox, tenant, chain = Outbox("contacts", MetaData()), uuid.uuid4(), [str(uuid7()), str(uuid7())]
    with context.tenant_context(tenant, "job-9"), context.origin_context("workflow", chain):
        (row,) = outbox.event_rows("crm.contact.created", [("c-1", {"x": 1})])
    event = Event.from_json(row["payload"])
    assert (event.request_id, event.origin, event.causation, event.actor_id) == ("job-9", "workflow", chain, None)
    assert row["payload"] == Event(type="crm.contact.created", source="contacts", tenant_id=str(tenant), subject="c-1",
                                   data={"x": 1}, id=event.id, time=event.time, request_id="job-9", origin="workflow",
                                   causation=chain).to_json()
    with context.tenant_context(tenant):  # nobody set an origin, no principal: the platform itself
        (row,) = outbox.event_rows("crm.contact.created", [("c-2", {})])
    assert (Event.from_json(row["payload"]).origin, Event.from_json(row["payload"]).causation) == ("system", None)
