"""/v1/contacts/{id}/activities and /v1/companies/{id}/activities: the timeline and its entries."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session

from contacts.models import ACTIVITY_TYPES, Activity, Company, Contact, DealRef
from contacts.schemas.activities import ActivityCreateSchema, ActivitySchema, ActivityUpdateSchema, DealActivityCreateSchema
from contacts.service.activities import activity_service, party_services
from contacts.service.deal_refs import deal_for_path
from crm_core.errors import BadRequest
from crm_http.auth import require_scope
from crm_http.idempotency import idempotent
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, parse_sort
from crm_http.parsing import if_match_version, load, parse_uuid, query_int
from crm_http.resource import json_response, record_response
from crm_runtime.service import ServiceRuntime

TAG = "Activities"
PARENTS = {"contacts": "contact", "companies": "company", "deals": "deal"}
UUID_SCHEMA = {"type": "string", "format": "uuid"}
LIST_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "type", "in": "query", "schema": {"type": "string"},
     "description": f"Only these types, comma separated: {', '.join(ACTIVITY_TYPES)}"},
    {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["-occurred_at", "occurred_at"],
                                               "default": "-occurred_at"}},
    {"name": "thread_id", "in": "query", "schema": {"type": "string", "format": "uuid"},
     "description": "Only the emails of this conversation (an email activity's `thread_id`)"},
]


def _types() -> list[str]:
    types = [t.strip() for t in (request.args.get("type") or "").split(",") if t.strip()]
    unknown = [t for t in types if t not in ACTIVITY_TYPES]
    if unknown:
        raise BadRequest(f"Unknown activity type {unknown[0]!r}; use {', '.join(ACTIVITY_TYPES)}.",
                         errors={"type": [f"Unknown activity type {unknown[0]!r}."]})
    return list(dict.fromkeys(types))


def _thread() -> uuid.UUID | None:
    raw = (request.args.get("thread_id") or "").strip()
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadRequest("thread_id must be a UUID (an email activity's thread_id).",
                         errors={"thread_id": ["Not a UUID."]}) from None


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    create_schemas = {"contacts": ActivityCreateSchema(), "companies": ActivityCreateSchema(),
                      "deals": DealActivityCreateSchema()}
    update_schema = ActivityUpdateSchema()

    def parent(session: Session, collection: str, parent_id: str, *, write: bool = False) -> Contact | Company | DealRef:
        """The contact (410 once erased), company or deal; 404 otherwise. A read through a merged id
        answers for its survivor; a write through one is 409 naming `merged_into` (it would land on
        the survivor). Deals are the replica of the pipeline's (service/deal_refs.py)."""
        if collection == "deals":
            return deal_for_path(session, parse_uuid(parent_id, "deal"))
        contacts, companies = party_services(runtime.outbox)
        service = contacts if collection == "contacts" else companies
        rid = parse_uuid(parent_id, service.aggregate)
        return service.live(session, rid) if write else service.get(session, rid)

    def routes(collection: str) -> None:
        singular = PARENTS[collection]
        base = f"/v1/{collection}/<parent_id>/activities"
        item = f"{base}/<activity_id>"
        name = f"{singular}_activities"

        def listing(parent_id: str) -> Response:
            require_scope("contacts:read")
            limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
            keys = parse_sort(request.args.get("sort"), {"occurred_at": Activity.occurred_at}, "-occurred_at",
                              Activity.id)
            types, thread_id = _types(), _thread()
            service = activity_service(runtime.outbox)
            with runtime.db.transaction() as session:
                found = parent(session, collection, parent_id)
                rows, next_cursor = service.timeline(session, found, types, keys, limit, request.args.get("cursor"),
                                                     thread_id=thread_id)
                data = [service.serialize(r) for r in rows]
            return json_response({"data": data, "next_cursor": next_cursor})

        def create(parent_id: str) -> Response:
            require_scope("contacts:write")
            values: dict[str, Any] = load(create_schemas[collection])
            service = activity_service(runtime.outbox)
            with runtime.db.transaction() as session:
                found = parent(session, collection, parent_id, write=True)
                body = service.body(session, service.add(session, found, values))
                location = f"/v1/{collection}/{found.id}/activities/{body['id']}"
            return record_response(body, 201, location=location)

        def read(parent_id: str, activity_id: str) -> Response:
            require_scope("contacts:read")
            service = activity_service(runtime.outbox)
            with runtime.db.transaction() as session:
                found = service.find(session, parent(session, collection, parent_id), parse_uuid(activity_id, "activity"))
                body = service.serialize(found)
            return record_response(body)

        def update(parent_id: str, activity_id: str) -> Response:
            require_scope("contacts:write")
            expected = if_match_version()
            values: dict[str, Any] = load(update_schema, partial=True)
            service = activity_service(runtime.outbox)
            with runtime.db.transaction() as session:
                found = service.find(session, parent(session, collection, parent_id, write=True),
                                     parse_uuid(activity_id, "activity"))
                body = service.body(session, service.change(session, found, values, expected))
            return record_response(body)

        def delete(parent_id: str, activity_id: str) -> Response:
            require_scope("contacts:write")
            expected = if_match_version()
            service = activity_service(runtime.outbox)
            with runtime.db.transaction() as session:
                found = service.find(session, parent(session, collection, parent_id, write=True),
                                     parse_uuid(activity_id, "activity"))
                service.remove(session, found, expected)
            return Response(status=204)

        bp.add_url_rule(base, f"{name}_list", listing, methods=["GET"])
        bp.add_url_rule(base, f"{name}_create", idempotent(lambda: runtime.db, lambda: runtime.idempotency)(create),
                        methods=["POST"])
        bp.add_url_rule(item, f"{name}_get", read, methods=["GET"])
        bp.add_url_rule(item, f"{name}_update", update, methods=["PATCH"])
        bp.add_url_rule(item, f"{name}_delete", delete, methods=["DELETE"])
        _document(runtime, collection, singular)

    for collection in PARENTS:
        routes(collection)


def _document(runtime: ServiceRuntime, collection: str, singular: str) -> None:
    doc = runtime.doc
    base = f"/v1/{collection}/{{parent_id}}/activities"
    item = f"{base}/{{activity_id}}"
    parent_param = {"name": "parent_id", "in": "path", "required": True, "schema": UUID_SCHEMA,
                    "description": f"The {singular}'s id" + (
                        "" if singular == "deal" else
                        "; a merged id answers reads for its survivor, and writes with 409 naming `merged_into`")}
    item_params = [parent_param, {"name": "activity_id", "in": "path", "required": True, "schema": UUID_SCHEMA}]
    gone = {410: "The contact was erased"} if singular == "contact" else {}
    whose = {"contact": "the contact's activities", "deal": "activities about the deal (posted on it, or with `deal_id`)",
             "company": "activities posted on the company and on every contact linked to it"}[singular]
    doc.operation(base, "get", summary=f"Timeline of a {singular}: {whose}, newest first", tag=TAG,
                  scope="contacts:read", response=ActivitySchema, list_of=True, parameters=[parent_param, *LIST_PARAMS],
                  extra_responses={404: f"No such {singular}", **gone})
    doc.operation(base, "post", summary=f"Log a note, call, email or meeting on a {singular}", tag=TAG,
                  scope="contacts:write", request=DealActivityCreateSchema if singular == "deal" else ActivityCreateSchema,
                  response=ActivitySchema, status=201,
                  parameters=[parent_param, {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
                  extra_responses={404: f"No such {singular}", 409: "The id was merged away (`merged_into`)",
                                   422: "Invalid fields, or fields of another type", **gone})
    doc.operation(item, "get", summary=f"Get an activity on a {singular}'s timeline", tag=TAG, scope="contacts:read",
                  response=ActivitySchema, parameters=item_params, extra_responses={404: "Not found", **gone})
    doc.operation(item, "patch", summary=f"Change an activity on a {singular}'s timeline", tag=TAG,
                  scope="contacts:write", request=ActivityUpdateSchema, response=ActivitySchema,
                  parameters=[*item_params, {"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                  extra_responses={404: "Not found", 409: "The id was merged away (`merged_into`)", 412: "Stale If-Match",
                                   422: "Invalid fields", **gone})
    doc.operation(item, "delete", summary=f"Delete an activity on a {singular}'s timeline", tag=TAG,
                  scope="contacts:write", status=204,
                  parameters=[*item_params, {"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                  extra_responses={404: "Not found", 409: "The id was merged away (`merged_into`)",
                                   412: "Stale If-Match", **gone})
