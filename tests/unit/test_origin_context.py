"""Where a change comes from: the context's origin and causation, the envelope's fields, the header
parsing of a workflow's causation chain, and what a consumer's follow-on writes inherit."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from crm_core import context
from crm_core.context import Principal
from crm_core.ids import uuid7
from crm_events.consumer import follow_on
from crm_events.envelope import Event
from crm_http.auth import causation_ids

TENANT = uuid.uuid4()
CHAIN = [str(uuid7()) for _ in range(3)]


def _event(**more: object) -> Event:
    return Event(type="crm.contact.updated", source="contacts", tenant_id=str(TENANT), subject="s", data={"a": 1},
                 **more)  # type: ignore[arg-type]


@pytest.mark.parametrize("origin,causation", [("workflow", CHAIN), ("import", None), ("user", None), (None, None)])
def test_envelope_round_trip(origin: str | None, causation: list[str] | None) -> None:
    event = _event(origin=origin, causation=causation, actor_id=str(uuid.uuid4()), request_id="r-1")
    body = json.loads(event.to_json())
    assert (body["origin"], body["causation"]) == (origin, causation)
    assert Event.from_json(event.to_json()) == event


def test_from_json_reads_old_and_odd_envelopes() -> None:
    old = json.loads(_event().to_json())
    del old["origin"], old["causation"]  # written before the fields existed
    assert (Event.from_json(json.dumps(old)).origin, Event.from_json(json.dumps(old)).causation) == (None, None)
    odd = {**old, "origin": 5, "causation": [CHAIN[0], 7, None, CHAIN[1]]}
    event = Event.from_json(json.dumps(odd))
    assert (event.origin, event.causation) == (None, [CHAIN[0], CHAIN[1]])
    for causation in ("not-a-list", {"a": 1}, [], [1, 2]):
        assert Event.from_json(json.dumps({**old, "causation": causation})).causation is None


def _origin_as(principal: Principal | None) -> str:
    context.clear()
    try:
        context.set_principal(principal)
        return context.current_origin()
    finally:
        context.clear()


def test_origin_follows_the_principal_unless_set() -> None:
    user = Principal(TENANT, user_id=uuid.uuid4(), roles=("member",))
    assert _origin_as(user) == "user"
    assert _origin_as(Principal(TENANT, api_key_id=uuid.uuid4(), roles=("api_key",))) == "api"
    assert _origin_as(Principal(TENANT, roles=(context.WORKFLOW_ROLE,))) == "workflow"
    assert _origin_as(context.public_principal()) == "system"  # a portal visitor, an inbound-mail webhook
    assert _origin_as(None) == "system"  # consumers, jobs
    context.set_principal(user)
    with context.origin_context("import"):
        assert (context.current_origin(), context.current_causation()) == ("import", ())
        with context.origin_context("workflow", CHAIN):
            assert (context.current_origin(), context.current_causation()) == ("workflow", tuple(CHAIN))
        assert context.current_origin() == "import"
    assert context.current_origin() == "user"
    context.set_origin("workflow", CHAIN)
    context.clear()
    assert (context.current_origin(), context.current_causation()) == ("system", ())
    with pytest.raises(ValueError, match="unknown origin"):
        context.set_origin("mallory")


def test_origin_is_per_thread() -> None:
    seen: list[str] = []
    with context.origin_context("import"):
        worker = threading.Thread(target=lambda: seen.append(context.current_origin()))
        worker.start()
        worker.join(timeout=10)
    assert seen == ["system"]


def test_causation_header_parsing() -> None:
    ids = [str(uuid.uuid4()) for _ in range(60)]
    assert causation_ids("") == ()
    assert causation_ids(",".join(ids[:3])) == tuple(ids[:3])
    assert causation_ids(f" {ids[0]} ,{ids[1].upper()}") == (ids[0], ids[1])  # normalised
    # malformed entries are dropped, the rest kept in order
    assert causation_ids(f"{ids[0]},not-a-uuid,,{'x' * 5000},{ids[1]},1' or 1=1") == (ids[0], ids[1])
    # at most 50, the newest: a chain never looks shorter than the cap (loop protection counts it)
    assert causation_ids(",".join(ids)) == tuple(ids[-50:])


@pytest.mark.parametrize("origin,expected", [("workflow", "workflow"), ("import", "import"), ("user", "system"),
                                             ("api", "system"), ("system", "system"), (None, "system")])
def test_follow_on_writes_keep_the_chain(origin: str | None, expected: str) -> None:
    chain = CHAIN if origin == "workflow" else None
    assert follow_on(_event(origin=origin, causation=chain)) == (expected, tuple(chain or ()))
