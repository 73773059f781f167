"""/v1/properties/{object}: custom fields of contacts and companies."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from contacts.schemas.properties import PropertyCreateSchema, PropertySchema, PropertyUpdateSchema
from contacts.service.properties import PropertyService, check_not_builtin, definitions
from crm_core.errors import NotFound, validation_error
from crm_db.base import utcnow
from crm_http.auth import require_admin_access, require_scope
from crm_http.idempotency import idempotent
from crm_http.parsing import if_match_version, load
from crm_http.resource import json_response, record_response
from crm_runtime.service import ServiceRuntime

OBJECTS = {"contacts": "contact", "companies": "company", "contact": "contact", "company": "company"}
BASE = "/v1/properties/<object_path>"
DOC_BASE = "/v1/properties/{object}"
OBJECT_PARAM = {"name": "object", "in": "path", "required": True, "schema": {"type": "string", "enum": ["contacts", "companies"]}}
KEY_PARAM = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}


def _object(path: str) -> str:
    if path not in OBJECTS:
        raise NotFound(f"Custom fields exist for contacts and companies, not {path!r}.")
    return OBJECTS[path]


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    output = PropertySchema()
    service = PropertyService(runtime.outbox, output.dump)
    create_schema, update_schema = PropertyCreateSchema(), PropertyUpdateSchema()

    def listing(object_path: str) -> Response:
        require_scope("contacts:read")
        object_ = _object(object_path)
        archived = request.args.get("archived")
        with runtime.db.transaction() as session:
            rows = sorted(definitions(session, object_).values(), key=lambda d: d.created_at)
            if archived in ("true", "false"):
                rows = [d for d in rows if (d.archived_at is not None) == (archived == "true")]
            return json_response({"data": [output.dump(d) for d in rows], "next_cursor": None})

    def create(object_path: str) -> Response:
        require_scope("contacts:write")
        require_admin_access()  # field definitions are tenant-wide
        object_ = _object(object_path)
        values = load(create_schema)
        values.pop("archived", None)
        values["object"] = object_
        check_not_builtin(object_, values["key"])
        with runtime.db.transaction() as session:
            body = service.body(session, service.create(session, values))
        return record_response(body, 201, location=f"/v1/properties/{object_path}/{body['key']}")

    def read(object_path: str, key: str) -> Response:
        require_scope("contacts:read")
        with runtime.db.transaction() as session:
            return record_response(output.dump(service.find(session, _object(object_path), key)))

    def update(object_path: str, key: str) -> Response:
        require_scope("contacts:write")
        require_admin_access()  # field definitions are tenant-wide
        object_ = _object(object_path)
        expected = if_match_version()
        values: dict[str, Any] = load(update_schema, partial=True)
        with runtime.db.transaction() as session:
            found = service.find(session, object_, key)
            if "archived" in values:
                archived = values.pop("archived")
                if archived != (found.archived_at is not None):
                    values["archived_at"] = utcnow() if archived else None
            if "options" in values and found.type not in ("enum", "multi_enum"):
                raise validation_error({"options": ["Only enum and multi_enum properties have options."]})
            body = service.body(session, service.update(session, found.id, values, expected))
        return record_response(body)

    def archive(object_path: str, key: str) -> Response:
        """DELETE archives: the values stay on the records, hidden, and come back on restore."""
        require_scope("contacts:write")
        require_admin_access()  # field definitions are tenant-wide
        expected = if_match_version()
        with runtime.db.transaction() as session:
            found = service.find(session, _object(object_path), key)
            if found.archived_at is None:
                service.update(session, found.id, {"archived_at": utcnow()}, expected)
        return Response(status=204)

    bp.add_url_rule(BASE, "properties_list", listing, methods=["GET"])
    bp.add_url_rule(BASE, "properties_create", idempotent(lambda: runtime.db, lambda: runtime.idempotency)(create),
                    methods=["POST"])
    item = f"{BASE}/<key>"
    bp.add_url_rule(item, "properties_get", read, methods=["GET"])
    bp.add_url_rule(item, "properties_update", update, methods=["PATCH"])
    bp.add_url_rule(item, "properties_archive", archive, methods=["DELETE"])
    doc, tag, item_doc = runtime.doc, "Custom fields", f"{DOC_BASE}/{{key}}"
    doc.operation(DOC_BASE, "get", summary="List custom fields", tag=tag, scope="contacts:read", response=PropertySchema,
                  list_of=True, parameters=[OBJECT_PARAM, {"name": "archived", "in": "query", "schema": {"type": "boolean"}}])
    doc.operation(DOC_BASE, "post", summary="Define a custom field", tag=tag, scope="contacts:write",
                  request=PropertyCreateSchema, response=PropertySchema, status=201, parameters=[OBJECT_PARAM],
                  extra_responses={409: "Key exists", 422: "Invalid fields"})
    doc.operation(item_doc, "get", summary="Get a custom field", tag=tag, scope="contacts:read", response=PropertySchema,
                  parameters=[OBJECT_PARAM, KEY_PARAM], extra_responses={404: "Not found"})
    doc.operation(item_doc, "patch", summary="Change or archive/restore a custom field", tag=tag, scope="contacts:write",
                  request=PropertyUpdateSchema, response=PropertySchema, parameters=[OBJECT_PARAM, KEY_PARAM],
                  extra_responses={404: "Not found", 412: "Stale If-Match", 422: "Invalid fields"})
    doc.operation(item_doc, "delete", summary="Archive a custom field (values are kept, hidden)", tag=tag,
                  scope="contacts:write", status=204, parameters=[OBJECT_PARAM, KEY_PARAM],
                  extra_responses={404: "Not found"})
