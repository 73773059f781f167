"""update_record, add_tags, remove_tags: PATCHes of the run's record (or its linked company or
contact) through the owning service's public route."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate, validates

from automation.workflows.actions.base import (
    READ_ONLY,
    RECORD_TYPES,
    StepSchema,
    Template,
    call,
    current_record,
    each_type,
    fetch,
    live_id,
    load,
    modify,
    record_path,
    run_record,
    target,
    updated_events,
)
from automation.workflows.steps import StepContext, StepError, Writes
from automation.workflows.templates import data_problem, render, render_data

TAGGED = frozenset({"contact", "company", "ticket"})  # deals carry no tags
TARGETS = ("trigger", "company", "contact")


class UpdateRecordSchema(StepSchema):
    # `fields` names the schema's own field table in marshmallow: loaded as `values`.
    values = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)), required=True,
                         validate=validate.Length(min=1, max=100), data_key="fields")
    record = fields.String(load_default="trigger", validate=validate.OneOf(TARGETS))

    @validates("values")
    def writable(self, value: Mapping[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {name: ["Read-only: a workflow cannot set it."] for name in READ_ONLY.intersection(value)}
        if "properties" in value and not isinstance(value["properties"], Mapping):
            errors["properties"] = ["Give custom fields as an object, or each by its key."]
        for name, field_value in value.items():
            problem = data_problem(field_value)  # errors keyed by the field: steps.<id>.fields.<name>
            if problem:
                errors.setdefault(name, []).append(problem)
        if errors:
            raise ValidationError(errors)


def _changed_names(values: Mapping[str, Any]) -> frozenset[str]:
    names = {k for k in values if k != "properties"}
    names.update((values.get("properties") or {}).keys())
    return frozenset(names)


def split_fields(values: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH body: a field the record shows at its top level is set as such, any other name is
    a custom field (under `properties`, where the service checks it against the tenant's definitions)."""
    body: dict[str, Any] = {}
    custom: dict[str, Any] = dict(values.get("properties") or {})
    for name, value in values.items():
        if name == "properties":
            continue
        if name in record:
            body[name] = value
        else:
            custom[name] = value
    if custom:
        body["properties"] = custom
    return body


class UpdateRecord:
    type = "update_record"
    schema = UpdateRecordSchema
    record_types = RECORD_TYPES

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        which = params.get("record", "trigger")
        types = each_type(record_type, RECORD_TYPES) if which == "trigger" else [which]
        names = _changed_names(params.get("fields") or {})
        return Writes(frozenset().union(*(updated_events(t, names) for t in types)), fields=names)

    def _plan(self, ctx: StepContext, params: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        p = load(self.schema, params)
        record_type, record_id, record = target(ctx, p["record"], self.type)
        if record is None:
            record = fetch(ctx, record_type, record_id)[0]
        values = render_data(p["values"], ctx.template_values())
        return record_type, live_id(record, record_id), split_fields(values, record)

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        record_type, record_id, body = self._plan(ctx, params)
        service, path = record_path(record_type, record_id)
        # Setting values is idempotent by itself: no If-Match, so a concurrent edit of other fields stands.
        resp = call(ctx, service, "PATCH", path, body, what=f"Update {record_type} {record_id}")
        after = resp.body if isinstance(resp.body, dict) else {}
        return {"record_type": record_type, "record_id": record_id, "fields": body, "version": after.get("version")}

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        record_type, record_id, body = self._plan(ctx, params)
        service, path = record_path(record_type, record_id)
        return {"record_type": record_type, "record_id": record_id, "fields": body,
                "request": {"service": service, "method": "PATCH", "path": path, "body": body}}


class TagsSchema(StepSchema):
    tags = fields.List(Template(validate=validate.Length(min=1, max=200)), required=True,
                       validate=validate.Length(min=1, max=100))


def _rendered_tags(ctx: StepContext, tags: list[str]) -> list[str]:
    values = ctx.template_values()
    out = [render(t, values).strip() for t in tags]
    if any(len(t) > 100 for t in out):
        raise StepError("A tag may have at most 100 characters", retryable=False)
    return [t for t in out if t]


def _key(tag: str) -> str:
    return tag.strip().casefold()  # tickets lower-case their tags; "VIP" and "vip" are one tag


def with_tags(current: list[str], tags: list[str], add: bool) -> list[str]:
    """The record's tags with these added (at the end, once) or removed (any case)."""
    if add:
        have = {_key(t) for t in current}
        extra = [t for t in dict.fromkeys(tags) if _key(t) not in have]
        return [*current, *extra]
    gone = {_key(t) for t in tags}
    return [t for t in current if _key(t) not in gone]


class Tags:
    """add_tags / remove_tags: read-modify-write of the record's `tags` under If-Match (the APIs
    have no add or remove of one tag: a PATCH replaces the list)."""

    schema = TagsSchema
    record_types = TAGGED

    def __init__(self, add: bool) -> None:
        self.add = add
        self.type = "add_tags" if add else "remove_tags"

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        types = each_type(record_type, TAGGED)
        return Writes(frozenset(f"crm.{t}.updated" for t in types), fields=frozenset({"tags"}))

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        record_type, record_id = run_record(ctx, TAGGED, self.type)
        tags = _rendered_tags(ctx, load(self.schema, params)["tags"])

        def change(record: dict[str, Any]) -> dict[str, Any] | None:
            current = list(record.get("tags") or [])
            wanted = with_tags(current, tags, self.add)
            return None if wanted == current else {"tags": wanted}

        after, sent = modify(ctx, record_type, record_id, change, what=f"{self.type} on {record_type} {record_id}")
        return {"record_type": record_type, "record_id": record_id, "tags": list(after.get("tags") or []),
                "changed": sent is not None}

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        record_type, record_id = run_record(ctx, TAGGED, self.type)
        tags = _rendered_tags(ctx, load(self.schema, params)["tags"])
        current = list(current_record(ctx).get("tags") or [])
        wanted = with_tags(current, tags, self.add)
        service, path = record_path(record_type, record_id)
        return {"record_type": record_type, "record_id": record_id, "tags": wanted, "changed": wanted != current,
                "request": {"service": service, "method": "PATCH", "path": path, "body": {"tags": wanted}}}
