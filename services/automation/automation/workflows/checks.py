"""Save-time checks that need more than the definition itself: the owning services (is this
filter valid, does this field exist, custom fields included) and the tenant's other workflows
(would this one set off a loop between workflows).

Filters and field names are asked of the service that owns the record, through the same list
route a partner uses, so a workflow's `condition` means exactly what the list's `?filter=` means.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from automation.workflows.client import ServiceApi
from automation.workflows.definition import Definition, DefinitionErrors, record_type_of, writes_of
from automation.workflows.steps import Action, Writes

# The fields a template-free step names, by step type: checked against the record's fields.
_FIELD_PARAMS = {"update_record": "fields"}


def check_fields(api: ServiceApi, tenant_id: uuid.UUID, definition: Definition) -> None:
    """Filters and field names against the owning service; raises DefinitionErrors."""
    record_type = definition.record_type
    errors: dict[str, list[str]] = {}
    trigger = definition.trigger
    if record_type is not None:
        for name in ("condition", "filter"):
            if trigger.get(name):
                problem = api.filter_problem(tenant_id, record_type, trigger[name])
                if problem:
                    errors[f"trigger.{name}"] = [problem]
        for name in ("changed", "changed_to"):
            for field in trigger.get(name) or ():
                problem = _field_problem(api, tenant_id, record_type, field)
                if problem:
                    errors[f"trigger.{name}.{field}"] = [problem]
    for step in definition.steps:
        where = f"steps.{step.id}"
        if step.type == "condition" or (step.type == "wait_for_event" and step.params.get("condition")):
            target = record_type if step.type == "condition" else record_type_of(step.params["event"])
            if target is None:
                errors[f"{where}.condition"] = ["This run has no record to check a condition on."]
                continue
            problem = api.filter_problem(tenant_id, target, step.params["condition"])
            if problem:
                errors[f"{where}.condition"] = [problem]
        elif step.type == "delay" and step.params.get("until_field"):
            if record_type is None:
                errors[f"{where}.until_field"] = ["This run has no record to read a date from."]
            else:
                problem = _field_problem(api, tenant_id, record_type, step.params["until_field"])
                if problem:
                    errors[f"{where}.until_field"] = [problem]
        param = _FIELD_PARAMS.get(step.type)
        if param and record_type is not None and step.params.get("record") in (None, "trigger"):
            for field in step.params.get(param) or {}:
                problem = _field_problem(api, tenant_id, record_type, field)
                if problem:
                    errors[f"{where}.{param}.{field}"] = [problem]
    if errors:
        raise DefinitionErrors(errors)


def _field_problem(api: ServiceApi, tenant_id: uuid.UUID, record_type: str, field: str) -> str | None:
    if not field.replace("_", "").replace(".", "").isalnum():
        return f"Unknown field {field!r}."
    problem = api.filter_problem(tenant_id, record_type, f"{field} is null")
    if problem and "nknown field" in problem:
        return f"Unknown field {field!r} of a {record_type}."
    return None


@dataclass(frozen=True)
class Node:
    """A workflow as the cycle check sees it: what starts it, and what its steps may write."""

    id: str
    name: str
    event: str | None  # its trigger's event type (None: not event-triggered)
    changed: frozenset[str] | None  # trigger fields (changed / changed_to); None: any change
    ignores_workflows: bool  # exclude_sources has "workflow": no workflow's write starts it
    writes: tuple[tuple[str, Writes], ...]  # (step id, writes)
    enrols: tuple[tuple[str, str], ...]  # (step id, workflow id) of its enrol steps


def node_of(workflow_id: str, name: str, definition: Definition, actions: Mapping[str, Action]) -> Node:
    t = definition.trigger
    changed: frozenset[str] | None = None
    if t.get("changed") or t.get("changed_to"):
        changed = frozenset([*(t.get("changed") or ()), *(t.get("changed_to") or {})])
    enrols = tuple((s.id, str(s.params.get("workflow_id"))) for s in definition.steps if s.type == "enrol")
    return Node(workflow_id, name, t.get("event") if t["type"] == "event" else None, changed,
                "workflow" in (t.get("exclude_sources") or ()), tuple(writes_of(definition, actions)), enrols)


def _starts(write: Writes, target: Node) -> bool:
    if target.event is None or target.ignores_workflows or target.event not in write.event_types:
        return False
    return target.changed is None or write.fields is None or bool(target.changed & write.fields)


def _edges(node: Node, by_id: Mapping[str, Node]) -> Iterable[tuple[str, str]]:
    """(step id of `node`, workflow id it may start)."""
    for step_id, write in node.writes:
        for other in by_id.values():
            if _starts(write, other):
                yield step_id, other.id
    for step_id, target in node.enrols:
        if target in by_id:
            yield step_id, target


def check_cycles(new: Node, others: Iterable[Node]) -> None:
    """Refuse a save that closes a loop through `new`: a chain of workflows, each starting the
    next by what it writes, that leads back to `new`. The error names the step of `new` that
    starts the loop and the workflows it goes through."""
    by_id: dict[str, Node] = {n.id: n for n in others if n.id != new.id}
    by_id[new.id] = new
    for step_id, first in _edges(new, by_id):
        path = _path_back(first, new.id, by_id)
        if path is not None:
            names = " → ".join([new.name, *(by_id[p].name for p in path)])
            raise DefinitionErrors({f"steps.{step_id}": [
                f"This step would start a loop between workflows: {names}. Add a condition, change "
                f"the trigger's fields, or exclude changes made by workflows (exclude_sources)."]})


def _path_back(start: str, goal: str, by_id: Mapping[str, Node]) -> list[str] | None:
    """Workflow ids from `start` to `goal` along edges (breadth first), or None."""
    frontier: list[list[str]] = [[start]]
    seen = {start}
    while frontier:
        path = frontier.pop(0)
        if path[-1] == goal:
            return path
        for _step, nxt in _edges(by_id[path[-1]], by_id):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append([*path, nxt])
    return None

