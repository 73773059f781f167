"""/v1/saved-views: the caller's own named views of the contacts and companies tables."""

from __future__ import annotations

from flask import Blueprint, Response, request

from contacts.models import SavedView
from contacts.schemas.saved_views import OBJECTS, SavedViewCreateSchema, SavedViewInSchema, SavedViewSchema
from contacts.service.saved_views import SavedViewService, own_views
from crm_core.errors import validation_error
from crm_http.auth import require_scope
from crm_http.idempotency import idempotent
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import if_match_version, load, parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, json_response, record_response
from crm_runtime.service import ServiceRuntime

PATH = "/v1/saved-views"
TAG = "Saved views"
ID_PARAM = [{"name": "view_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]
OBJECT_PARAM = {"name": "object", "in": "query", "schema": {"type": "string", "enum": list(OBJECTS)},
                "description": "Only the views of this table"}


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    out = SavedViewSchema()
    service = SavedViewService(runtime.outbox, out.dump)
    create_schema, update_schema = SavedViewCreateSchema(), SavedViewInSchema()

    def listing() -> Response:
        require_scope("contacts:read")
        object_ = request.args.get("object") or None
        if object_ is not None and object_ not in OBJECTS:
            raise validation_error({"object": [f"Must be one of: {', '.join(OBJECTS)}."]})
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        keys = parse_sort(request.args.get("sort"), {"name": SavedView.name, "created_at": SavedView.created_at,
                                                     "updated_at": SavedView.updated_at, "id": SavedView.id},
                          "name", SavedView.id)
        with runtime.db.transaction() as session:
            rows, next_cursor = paginate(session, own_views(object_), keys, limit, request.args.get("cursor"))
            return json_response({"data": [out.dump(r) for r in rows], "next_cursor": next_cursor})

    def create() -> Response:
        require_scope("contacts:write")
        values = load(create_schema)
        with runtime.db.transaction() as session:
            body = service.body(session, service.create(session, values))
        return record_response(body, 201, location=f"{PATH}/{body['id']}")

    def read(view_id: str) -> Response:
        require_scope("contacts:read")
        vid = parse_uuid(view_id, "saved view")
        with runtime.db.transaction() as session:
            return record_response(out.dump(service.get(session, vid)))

    def update(view_id: str) -> Response:
        require_scope("contacts:write")
        vid, expected = parse_uuid(view_id, "saved view"), if_match_version()
        values = load(update_schema, partial=True)
        with runtime.db.transaction() as session:
            body = service.body(session, service.update(session, vid, values, expected))
        return record_response(body)

    def delete(view_id: str) -> Response:
        require_scope("contacts:write")
        vid, expected = parse_uuid(view_id, "saved view"), if_match_version()
        with runtime.db.transaction() as session:
            service.delete(session, vid, expected)
        return Response(status=204)

    item = f"{PATH}/<view_id>"
    bp.add_url_rule(PATH, "saved_views_list", listing, methods=["GET"])
    bp.add_url_rule(PATH, "saved_views_create", idempotent(lambda: runtime.db, lambda: runtime.idempotency)(create),
                    methods=["POST"])
    bp.add_url_rule(item, "saved_views_get", read, methods=["GET"])
    bp.add_url_rule(item, "saved_views_update", update, methods=["PATCH"])
    bp.add_url_rule(item, "saved_views_delete", delete, methods=["DELETE"])

    doc, item_doc = runtime.doc, f"{PATH}/{{view_id}}"
    mine = {403: "An API key (saved views belong to a user) or a missing scope"}
    doc.operation(PATH, "get", summary="The caller's saved views (another user's are never listed)", tag=TAG,
                  scope="contacts:read", response=SavedViewSchema, list_of=True,
                  parameters=[*LIST_PARAMS, OBJECT_PARAM], extra_responses={**mine, 422: "Unknown object"})
    doc.operation(PATH, "post", summary="Save a view of the contacts or companies table for the caller", tag=TAG,
                  scope="contacts:write", request=SavedViewCreateSchema, response=SavedViewSchema, status=201,
                  parameters=[{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
                  extra_responses={**mine, 409: "The caller has a view of that table with this name",
                                   422: "Invalid fields (a filter or sort the table does not take)"})
    doc.operation(item_doc, "get", summary="Get one of the caller's saved views", tag=TAG, scope="contacts:read",
                  response=SavedViewSchema, parameters=ID_PARAM,
                  extra_responses={**mine, 404: "Not found (or another user's)"})
    doc.operation(item_doc, "patch", summary="Change one of the caller's saved views", tag=TAG, scope="contacts:write",
                  request=SavedViewInSchema, response=SavedViewSchema,
                  parameters=[*ID_PARAM, {"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                  extra_responses={**mine, 404: "Not found (or another user's)", 409: "Name taken",
                                   412: "Stale If-Match", 422: "Invalid fields"})
    doc.operation(item_doc, "delete", summary="Delete one of the caller's saved views", tag=TAG, scope="contacts:write",
                  status=204, parameters=[*ID_PARAM, {"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                  extra_responses={**mine, 404: "Not found (or another user's)", 412: "Stale If-Match"})
