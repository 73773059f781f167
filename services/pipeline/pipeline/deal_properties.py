"""Custom fields of deals: definitions at /v1/properties/deals, the same types, checks and filter
behaviour as contacts' (crm_properties). Definitions are read once per transaction (a deal write
or list reads them once, however many deals it touches)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import Conflict, NotFound, validation_error
from crm_db.base import utcnow
from crm_events.records import RecordService
from crm_http.auth import require_admin_access, require_scope
from crm_http.idempotency import idempotent
from crm_http.parsing import if_match_version, load
from crm_http.resource import json_response, record_response
from crm_properties import ActiveDefinitions, check_key, definition_of, merge_values, visible_values
from crm_properties.schemas import PropertyCreateSchema, PropertySchema, PropertyUpdateSchema
from crm_runtime.service import ServiceRuntime
from pipeline.models import Deal
from pipeline.models.sales import DealPropertyDefinition

_ALL = "pipeline_deal_definitions"
_ACTIVE = "pipeline_deal_active_definitions"
# Deal fields a custom field may not shadow (besides the filter language's words), incl. the API's derived ones.
BUILTINS = frozenset(c.key for c in Deal.__table__.columns) | {"contacts", "rotten", "amount", "before_id", "after_id"}


def definitions(session: Session) -> dict[str, DealPropertyDefinition]:
    """All deal definitions by key (archived too), read once per transaction."""
    found = session.info.get(_ALL)
    if found is None:
        found = session.info[_ALL] = {d.key: d for d in session.scalars(select(DealPropertyDefinition))}
    return found


def active(session: Session) -> ActiveDefinitions:
    """The active definitions in the shape contacts' requests read (crm_properties.Definition)."""
    found = session.info.get(_ACTIVE)
    if found is None:
        by_key = {d.key: definition_of(d) for d in definitions(session).values() if d.archived_at is None}
        found = session.info[_ACTIVE] = ActiveDefinitions(0, MappingProxyType(by_key))
    return found


def _forget(session: Session) -> None:
    session.info.pop(_ALL, None)
    session.info.pop(_ACTIVE, None)


def active_definitions(session: Session) -> Mapping[str, Any]:
    return active(session).by_key


def visible(session: Session | None, values: dict[str, Any] | None) -> dict[str, Any]:
    """Values of active properties only: archiving hides values without deleting them."""
    if not values or session is None:
        return {}
    return visible_values(active_definitions(session), values)


def check_deal_values(session: Session, incoming: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """Merge and check a deal's custom field values; 422 names `properties.<key>`."""
    return merge_values(active_definitions(session), "deal", incoming, current, None, collection="deals")


class DealPropertyService(RecordService[DealPropertyDefinition]):
    model = DealPropertyDefinition
    aggregate = "deal_property"

    def find(self, session: Session, key: str) -> DealPropertyDefinition:
        found = definitions(session).get(key)
        if found is None:
            raise NotFound(f"No deal property {key!r}.")
        return found

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        existing = definitions(session).get(values["key"])
        if existing is not None:
            raise Conflict(f"The deal property {values['key']!r} exists"
                           + (" (archived; restore it with PATCH archived=false)." if existing.archived_at else "."),
                           existing_id=str(existing.id), errors={"key": ["Already defined."]})
        _forget(session)

    def create(self, session: Session, values: dict[str, Any]) -> DealPropertyDefinition:
        record = super().create(session, values)
        _forget(session)
        return record

    def before_update(self, session: Session, record: DealPropertyDefinition, values: dict[str, Any]) -> None:
        _forget(session)


def register_deal_properties(bp: Blueprint, runtime: ServiceRuntime) -> None:
    """/v1/properties/deals: list, define, read, change (archive/restore), archive."""
    output = PropertySchema()
    service = DealPropertyService(runtime.outbox, output.dump)
    create_schema, update_schema = PropertyCreateSchema(), PropertyUpdateSchema()
    base = "/v1/properties/deals"

    def listing() -> Response:
        require_scope("pipeline:read")
        archived = request.args.get("archived")
        with runtime.db.transaction() as session:
            rows = sorted(definitions(session).values(), key=lambda d: (d.created_at, d.id))
            if archived in ("true", "false"):
                rows = [d for d in rows if (d.archived_at is not None) == (archived == "true")]
            return json_response({"data": [output.dump(d) for d in rows], "next_cursor": None})

    def create() -> Response:
        require_scope("pipeline:write")
        require_admin_access()  # field definitions are tenant-wide
        values = load(create_schema)
        values.pop("archived", None)
        check_key("deal", values["key"], BUILTINS)
        with runtime.db.transaction() as session:
            body = service.body(session, service.create(session, values))
        return record_response(body, 201, location=f"{base}/{body['key']}")

    def read(key: str) -> Response:
        require_scope("pipeline:read")
        with runtime.db.transaction() as session:
            return record_response(output.dump(service.find(session, key)))

    def update(key: str) -> Response:
        require_scope("pipeline:write")
        require_admin_access()
        expected = if_match_version()
        values: dict[str, Any] = load(update_schema, partial=True)
        with runtime.db.transaction() as session:
            found = service.find(session, key)
            if "archived" in values:
                archived = values.pop("archived")
                if archived != (found.archived_at is not None):
                    values["archived_at"] = utcnow() if archived else None
            if "options" in values and found.type not in ("enum", "multi_enum"):
                raise validation_error({"options": ["Only enum and multi_enum properties have options."]})
            body = service.body(session, service.update(session, found.id, values, expected))
        return record_response(body)

    def archive(key: str) -> Response:
        """DELETE archives: the values stay on the deals, hidden, and come back on restore."""
        require_scope("pipeline:write")
        require_admin_access()
        expected = if_match_version()
        with runtime.db.transaction() as session:
            found = service.find(session, key)
            if found.archived_at is None:
                service.update(session, found.id, {"archived_at": utcnow()}, expected)
        return Response(status=204)

    bp.add_url_rule(base, "deal_properties_list", listing, methods=["GET"])
    bp.add_url_rule(base, "deal_properties_create", idempotent(lambda: runtime.db, lambda: runtime.idempotency)(create),
                    methods=["POST"])
    item = f"{base}/<key>"
    bp.add_url_rule(item, "deal_properties_get", read, methods=["GET"])
    bp.add_url_rule(item, "deal_properties_update", update, methods=["PATCH"])
    bp.add_url_rule(item, "deal_properties_archive", archive, methods=["DELETE"])
    doc, tag, item_doc = runtime.doc, "Deal custom fields", f"{base}/{{key}}"
    key_param = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
    doc.operation(base, "get", summary="List deal custom fields", tag=tag, scope="pipeline:read", response=PropertySchema,
                  list_of=True, parameters=[{"name": "archived", "in": "query", "schema": {"type": "boolean"}}])
    doc.operation(base, "post", summary="Define a deal custom field", tag=tag, scope="pipeline:write",
                  request=PropertyCreateSchema, response=PropertySchema, status=201,
                  extra_responses={409: "Key exists", 422: "Invalid fields"})
    doc.operation(item_doc, "get", summary="Get a deal custom field", tag=tag, scope="pipeline:read", response=PropertySchema,
                  parameters=[key_param], extra_responses={404: "Not found"})
    doc.operation(item_doc, "patch", summary="Change or archive/restore a deal custom field", tag=tag, scope="pipeline:write",
                  request=PropertyUpdateSchema, response=PropertySchema, parameters=[key_param],
                  extra_responses={404: "Not found", 412: "Stale If-Match", 422: "Invalid fields"})
    doc.operation(item_doc, "delete", summary="Archive a deal custom field (values are kept, hidden)", tag=tag,
                  scope="pipeline:write", status=204, parameters=[key_param], extra_responses={404: "Not found"})
