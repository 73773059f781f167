"""The action registry without I/O: every type, its schema (unknown fields refused, templates
checked, errors keyed by field), writes() for the cycle check, and enrol / stop_workflow."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from marshmallow import ValidationError

from automation.workflows.actions import ENROLS, actions
from automation.workflows.actions.records import split_fields, with_tags
from automation.workflows.steps import StepContext, StepError, Writes

ACTIONS = actions()
WF = "0190a0e0-0000-7000-8000-0000000000aa"


def _errors(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as failed:
        ACTIONS[kind].schema().load(params)
    return failed.value.messages  # type: ignore[return-value]


def test_every_step_type_of_the_format_has_an_action() -> None:
    assert set(ACTIONS) == {"create_task", "update_record", "assign_owner", "add_tags", "remove_tags", "create_deal",
                            "notify", "send_email", "call_webhook", "enrol", "stop_workflow"}
    assert all(action.type == kind for kind, action in ACTIONS.items())
    assert ACTIONS["add_tags"].record_types == {"contact", "company", "ticket"}


@pytest.mark.parametrize(("kind", "params", "expected"), [
    ("create_task", {"title": "x", "titel": "y"}, {"titel": ["Unknown field."]}),
    ("create_task", {"title": "{{ record.__class__ }}"},
     {"title": ["Template error: line 1: attributes starting with _ are not allowed (__class__)"]}),
    ("create_task", {"title": "x", "due_in_days": 1, "due_in_hours": 2},
     {"due_in_hours": ["Give due_in_days or due_in_hours, not both."]}),
    ("create_task", {"title": "x", "assignee": "bob"}, {"assignee": ['Use "owner" or a user id.']}),
    ("update_record", {"fields": {"tagz": "{{ x"}}, {"fields": {"tagz": ["Template error on line 1: unexpected end of template, expected 'end of print statement'."]}}),
    ("update_record", {"fields": {"version": 3}}, {"fields": {"version": ["Read-only: a workflow cannot set it."]}}),
    ("update_record", {"fields": {"a": 1}, "record": "deal"}, {"record": ["Must be one of: trigger, company, contact."]}),
    ("assign_owner", {"users": [], "method": "least_loaded"}, {"users": ["Length must be between 1 and 100."]}),
    ("add_tags", {"tags": ["ok", ""]}, {"tags": {1: ["Length must be between 1 and 200."]}}),
    ("create_deal", {"title": "x", "amount": "lots"}, {"amount": ["Not a number."]}),
    ("create_deal", {"title": "x", "currency": "euro"}, {"currency": ["Use an ISO 4217 code."]}),
    ("send_email", {"to": "record", "subject": "s"}, {"body": ["Give a body (text), an html body, or both."]}),
    ("send_email", {"to": "record", "subject": "s", "body": "b", "from": "me"}, {"from": ["Not a valid UUID."]}),
    ("call_webhook", {"url": "file:///etc/passwd"}, {"url": ["Use an http or https URL."]}),
    ("call_webhook", {"url": "https://x.example/", "secret": "hunter2hunter2"},
     {"secret": ["Use a Standard Webhooks secret: whsec_ and base64 of 16 to 64 random bytes."]}),
    ("call_webhook", {"url": "https://x.example/", "body": "{not json"},
     {"body": ["Not JSON (give JSON text, a template of it, or a JSON value)."]}),
    ("enrol", {}, {"workflow_id": ["Missing data for required field."]}),
])
def test_schemas_refuse_with_field_errors(kind: str, params: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _errors(kind, params) == expected


def test_schemas_accept_the_documented_examples() -> None:
    ACTIONS["create_task"].schema().load({"title": "Call {{ record.first_name }}", "due_in_days": 1})
    ACTIONS["update_record"].schema().load({"fields": {"tags": ["called-workflow"]}})
    ACTIONS["send_email"].schema().load({"to": "record", "subject": "Hi", "body": "Hello", "from": WF, "purpose": "transactional"})
    ACTIONS["call_webhook"].schema().load({"url": "https://hooks.example/{{ record.id }}", "body": '{"id": "{{ record.id }}"}'})


def test_writes_for_the_cycle_check() -> None:
    assert ACTIONS["create_task"].writes({}, "contact") == Writes(frozenset({"crm.task.created"}))
    assert ACTIONS["create_deal"].writes({}, "contact") == Writes(frozenset({"crm.deal.created"}))
    assert ACTIONS["update_record"].writes({"fields": {"first_name": "x", "properties": {"plan": "p"}}}, "contact") == \
        Writes(frozenset({"crm.contact.updated"}), frozenset({"first_name", "plan"}))
    assert ACTIONS["update_record"].writes({"record": "company", "fields": {"industry": "x"}}, "contact") == \
        Writes(frozenset({"crm.company.updated"}), frozenset({"industry"}))
    assert ACTIONS["add_tags"].writes({"tags": ["x"]}, "ticket") == Writes(frozenset({"crm.ticket.updated"}), frozenset({"tags"}))
    assert ACTIONS["add_tags"].writes({"tags": ["x"]}, None).event_types == \
        {"crm.contact.updated", "crm.company.updated", "crm.ticket.updated"}
    assert ACTIONS["assign_owner"].writes({}, "ticket") == Writes(frozenset({"crm.ticket.updated"}), frozenset({"assignee_id"}))
    assert ACTIONS["assign_owner"].writes({}, "deal").event_types == {"crm.deal.updated", "crm.deal.changed"}
    assert ACTIONS["send_email"].writes({}, None) == Writes(frozenset({"crm.mail.send_requested"}))
    assert ACTIONS["enrol"].writes({"workflow_id": WF}, None) == Writes(frozenset({ENROLS + WF}))
    assert ACTIONS["stop_workflow"].writes({"workflow_id": WF}, None) == Writes(frozenset())
    assert ACTIONS["call_webhook"].writes({}, None) == Writes(frozenset())


def _ctx(record_id: str | None = "c-1") -> StepContext:
    run = uuid.uuid4()
    return StepContext(tenant_id=uuid.uuid4(), workflow_id=uuid.uuid4(), run_id=run, step_id="s",
                       idempotency_key=f"wf:{run}:s", causation=[], record_type="contact" if record_id else None,
                       record_id=record_id, record={"id": record_id} if record_id else None, trigger={}, api=None,  # type: ignore[arg-type]
                       now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))


def test_enrol_and_stop_only_tell_the_engine() -> None:
    ctx = _ctx()
    assert ACTIONS["enrol"].run(ctx, {"workflow_id": WF}) == {"workflow_id": WF, "record_id": "c-1"}
    assert ACTIONS["stop_workflow"].run(ctx, {"id": "s", "type": "stop_workflow", "workflow_id": WF}) == \
        {"workflow_id": WF, "record_id": "c-1"}
    assert ctx.enrolments == [("start", uuid.UUID(WF), "c-1"), ("stop", uuid.UUID(WF), "c-1")]
    shown = ACTIONS["enrol"].preview(ctx, {"workflow_id": WF})
    assert shown["would"] == "enrol" and len(ctx.enrolments) == 2
    with pytest.raises(StepError) as invalid:
        ACTIONS["enrol"].run(ctx, {"workflow_id": "nope"})
    assert not invalid.value.retryable


def test_record_actions_need_a_record() -> None:
    for kind in ("create_task", "update_record", "add_tags", "assign_owner", "create_deal"):
        params = {"create_task": {"title": "t"}, "update_record": {"fields": {"a": 1}}, "add_tags": {"tags": ["t"]},
                  "assign_owner": {"users": [WF]}, "create_deal": {"title": "t"}}[kind]
        with pytest.raises(StepError) as failed:
            ACTIONS[kind].run(_ctx(None), params)
        assert not failed.value.retryable and "needs a record" in failed.value.message


def test_round_robin_without_the_database_is_an_engine_bug() -> None:
    with pytest.raises(StepError) as failed:
        ACTIONS["assign_owner"].run(_ctx(), {"users": [WF], "method": "round_robin"})
    assert "database" in failed.value.message


def test_fields_split_into_built_in_and_custom() -> None:
    record = {"first_name": "Ada", "owner_id": None, "properties": {"plan": "free"}}
    assert split_fields({"first_name": "A", "owner_id": WF, "plan": "pro", "properties": {"seats": 3}}, record) == \
        {"first_name": "A", "owner_id": WF, "properties": {"seats": 3, "plan": "pro"}}


def test_tags_keep_order_and_match_any_case() -> None:
    assert with_tags(["VIP", "a"], ["vip", "b", "b"], add=True) == ["VIP", "a", "b"]
    assert with_tags(["VIP", "a"], ["vip"], add=False) == ["a"]
