"""Definitions: the shape of triggers and steps, the step graph, and loops between workflows."""

from __future__ import annotations

from typing import Any

import pytest
from workflow_fakes import fake_actions

from automation.workflows.checks import check_cycles, node_of
from automation.workflows.definition import DefinitionErrors, parse_definition

EXAMPLE: dict[str, Any] = {
    "name": "Call new leads", "enabled": True,
    "trigger": {"type": "event", "event": "crm.contact.created", "condition": "lifecycle_stage = 'lead'"},
    "steps": [
        {"id": "call", "type": "create_task", "title": "Call {{ record.first_name }}", "due_in_days": 1},
        {"id": "wait", "type": "delay", "minutes": 1},
        {"id": "tag", "type": "update_record", "fields": {"tags": ["called-workflow"]}},
    ]}


def _errors(raw: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(DefinitionErrors) as caught:
        parse_definition(raw, fake_actions())
    return caught.value.errors


def test_the_example_is_accepted_as_written() -> None:
    definition = parse_definition(EXAMPLE, fake_actions())
    assert [s.id for s in definition.steps] == ["call", "wait", "tag"]
    assert [s.next for s in definition.steps] == ["wait", "tag", "end"]
    assert definition.record_type == "contact"


def test_unknown_step_fields_and_types_name_the_step() -> None:
    raw = {**EXAMPLE, "steps": [{"id": "call", "type": "create_task", "titel": "x"}, {"id": "odd", "type": "teleport"}]}
    errors = _errors(raw)
    assert "steps.call.titel" in errors and "steps.call.title" in errors
    assert "Unknown step type 'teleport'" in errors["steps.odd.type"][0]


def test_trigger_fields_are_checked_per_type() -> None:
    errors = _errors({**EXAMPLE, "trigger": {"type": "schedule", "cron": "61 * * * *", "event": "crm.contact.created"}})
    assert set(errors) >= {"trigger.cron", "trigger.event", "trigger.record_type"}
    errors = _errors({**EXAMPLE, "trigger": {"type": "event", "event": "crm.contact.created", "exclude_sources": ["robots"]}})
    assert "trigger.exclude_sources.0" in errors


def test_jumps_go_forward_and_every_step_is_reachable() -> None:
    steps = [
        {"id": "check", "type": "condition", "condition": "lead_score > 10", "then": "call", "else": "end"},
        {"id": "skipped", "type": "create_task", "title": "never", "next": "call"},
        {"id": "call", "type": "create_task", "title": "Call"},
    ]
    errors = _errors({**EXAMPLE, "steps": steps})
    assert list(errors) == ["steps.skipped"]
    back = [{"id": "a", "type": "create_task", "title": "A"}, {"id": "b", "type": "create_task", "title": "B", "next": "a"}]
    assert "forward only" in _errors({**EXAMPLE, "steps": back})["steps.b.next"][0]
    missing = [{"id": "a", "type": "condition", "condition": "x = 1", "else": "nowhere"}]
    assert "steps.a.else" in _errors({**EXAMPLE, "steps": missing})


def test_repeated_step_ids_and_delays_need_one_duration() -> None:
    errors = _errors({**EXAMPLE, "steps": [{"id": "a", "type": "delay"}, {"id": "a", "type": "delay", "minutes": 1, "days": 1}]})
    assert "steps.a.minutes" in errors or "steps.a.id" in errors


def _node(wid: str, trigger: dict[str, Any], steps: list[dict[str, Any]]) -> Any:
    actions = fake_actions()
    return node_of(wid, wid, parse_definition({"trigger": trigger, "steps": steps}, actions), actions)


def test_a_loop_between_two_workflows_is_refused_naming_the_step() -> None:
    a = _node("A", {"type": "event", "event": "crm.contact.updated", "changed": ["lead_score"]},
              [{"id": "bump", "type": "update_record", "fields": {"lifecycle_stage": "customer"}}])
    b = _node("B", {"type": "event", "event": "crm.contact.updated", "changed": ["lifecycle_stage"]},
              [{"id": "score", "type": "update_record", "fields": {"lead_score": 99}}])
    check_cycles(a, [])  # alone: A's write does not start A (another field)
    with pytest.raises(DefinitionErrors) as caught:
        check_cycles(b, [a])
    assert list(caught.value.errors) == ["steps.score"] and "A" in caught.value.errors["steps.score"][0]
    # excluding workflow-made changes breaks the loop
    b_safe = _node("B", {"type": "event", "event": "crm.contact.updated", "changed": ["lifecycle_stage"],
                         "exclude_sources": ["workflow"]}, [{"id": "score", "type": "update_record", "fields": {"lead_score": 99}}])
    check_cycles(b_safe, [a])


def test_a_workflow_that_triggers_itself_is_refused() -> None:
    me = _node("Me", {"type": "event", "event": "crm.deal.created"}, [{"id": "again", "type": "create_deal", "title": "x"}])
    with pytest.raises(DefinitionErrors) as caught:
        check_cycles(me, [])
    assert "steps.again" in caught.value.errors


def test_enrol_counts_as_an_edge() -> None:
    a = _node("A", {"type": "manual", "record_type": "contact"}, [{"id": "go", "type": "enrol", "workflow_id": "B"}])
    b = _node("B", {"type": "manual", "record_type": "contact"}, [{"id": "back", "type": "enrol", "workflow_id": "A"}])
    with pytest.raises(DefinitionErrors):
        check_cycles(b, [a])
