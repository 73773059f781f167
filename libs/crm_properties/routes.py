"""The administration of custom field definitions, shared by every service that has custom fields:
`/v1/properties/<collection>` list, define, read, change (archive/restore) and archive (DELETE),
plus the per-transaction store and use cases of an object whose definitions have a table of
their own (deals, tickets).

    store = DefinitionStore(DealPropertyDefinition, "deal")
    service = DefinitionService(runtime.outbox, PropertySchema().dump, store, aggregate="deal_property")
    register_property_routes(bp, runtime, PropertyRoutes(
        path="/v1/properties/deals", endpoint="deal_properties", area="pipeline", tag="Deal custom fields",
        label="deal", service=service, definitions=store.by_object,
        check_key=lambda object_, key: check_key(object_, key, BUILTINS)))

A service whose one table holds several objects' definitions (contacts and companies) routes a
path parameter instead: `path="/v1/properties/<object_path>"` with `resolve` mapping it to the
object, and `object_column=True` so a new definition records its object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
from crm_properties import ActiveDefinitions, definition_of
from crm_properties.schemas import PropertyCreateSchema, PropertySchema, PropertyUpdateSchema


class DefinitionStore:
    """The definitions of one object kept in a table of their own (a TenantScoped model with key,
    label, type, options, required, archived_at), read once per transaction."""

    def __init__(self, model: type[Any], object_: str) -> None:
        self.model, self.object = model, object_
        self._all, self._active = f"crm_{object_}_definitions", f"crm_{object_}_active_definitions"

    def all(self, session: Session) -> dict[str, Any]:
        """All definitions by key (archived too), as ORM objects."""
        found = session.info.get(self._all)
        if found is None:
            found = session.info[self._all] = {d.key: d for d in session.scalars(select(self.model))}
        return found

    def by_object(self, session: Session, _object: str) -> dict[str, Any]:
        return self.all(session)

    def active(self, session: Session) -> ActiveDefinitions:
        """The active definitions in the immutable shape value checks read (crm_properties.Definition)."""
        found = session.info.get(self._active)
        if found is None:
            by_key = {d.key: definition_of(d) for d in self.all(session).values() if d.archived_at is None}
            found = session.info[self._active] = ActiveDefinitions(0, MappingProxyType(by_key))
        return found

    def forget(self, session: Session) -> None:
        """Definitions change in this transaction: read them again next time."""
        session.info.pop(self._all, None)
        session.info.pop(self._active, None)


class DefinitionService(RecordService[Any]):
    """Create / change definitions of a DefinitionStore's object (events crm.<aggregate>.*)."""

    def __init__(self, outbox: Any, serialize: Callable[[Any], dict[str, Any]], store: DefinitionStore,
                 *, aggregate: str) -> None:
        super().__init__(outbox, serialize)
        self.store, self.model, self.aggregate = store, store.model, aggregate

    def find(self, session: Session, _object: str, key: str) -> Any:
        found = self.store.all(session).get(key)
        if found is None:
            raise NotFound(f"No {self.store.object} property {key!r}.")
        return found

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        existing = self.store.all(session).get(values["key"])
        if existing is not None:
            raise Conflict(f"The {self.store.object} property {values['key']!r} exists"
                           + (" (archived; restore it with PATCH archived=false)." if existing.archived_at else "."),
                           existing_id=str(existing.id), errors={"key": ["Already defined."]})
        self.store.forget(session)

    def create(self, session: Session, values: dict[str, Any]) -> Any:
        record = super().create(session, values)
        self.store.forget(session)
        return record

    def before_update(self, session: Session, record: Any, values: dict[str, Any]) -> None:
        self.store.forget(session)


@dataclass
class PropertyRoutes:
    path: str  # the Flask rule: "/v1/properties/deals" or "/v1/properties/<object_path>"
    endpoint: str  # endpoint name prefix: "deal_properties"
    area: str  # scope area: "pipeline" -> pipeline:read / pipeline:write
    tag: str
    # service.find(session, object_, key) -> definition (404); RecordService create / update / body
    service: Any
    definitions: Callable[[Session, str], Mapping[str, Any]]  # (session, object_) -> all by key
    check_key: Callable[[str, str], None]  # (object_, key): 422 for a built-in or reserved key
    label: str = ""  # in the docs' summaries: "deal" -> "List deal custom fields"
    object_: str = ""  # the object of a single-object path
    resolve: Callable[[Mapping[str, str]], str] | None = None  # path parameters -> object (404 if unknown)
    object_column: bool = False  # definitions carry their object (one table for several objects)
    doc_path: str = ""  # the OpenAPI path, when the rule has parameters: "/v1/properties/{object}"
    path_params: list[dict[str, Any]] = field(default_factory=list)  # their OpenAPI parameters

    def object_of(self, path: Mapping[str, str]) -> str:
        return self.resolve(path) if self.resolve is not None else self.object_


def register_property_routes(bp: Blueprint, runtime: Any, routes: PropertyRoutes) -> None:
    """Registers and documents the five definition routes of `routes` (see the module doc)."""
    output = PropertySchema()
    create_schema, update_schema = PropertyCreateSchema(), PropertyUpdateSchema()
    read_scope, write_scope = f"{routes.area}:read", f"{routes.area}:write"
    service = routes.service

    def listing(**path: str) -> Response:
        require_scope(read_scope)
        object_ = routes.object_of(path)
        archived = request.args.get("archived")
        with runtime.db.transaction() as session:
            rows = sorted(routes.definitions(session, object_).values(), key=lambda d: (d.created_at, d.id))
            if archived in ("true", "false"):
                rows = [d for d in rows if (d.archived_at is not None) == (archived == "true")]
            return json_response({"data": [output.dump(d) for d in rows], "next_cursor": None})

    def create(**path: str) -> Response:
        require_scope(write_scope)
        require_admin_access()  # field definitions are tenant-wide
        object_ = routes.object_of(path)
        values = load(create_schema)
        values.pop("archived", None)
        if routes.object_column:
            values["object"] = object_
        routes.check_key(object_, values["key"])
        with runtime.db.transaction() as session:
            body = service.body(session, service.create(session, values))
        return record_response(body, 201, location=f"{request.path.rstrip('/')}/{body['key']}")

    def read(key: str, **path: str) -> Response:
        require_scope(read_scope)
        object_ = routes.object_of(path)
        with runtime.db.transaction() as session:
            return record_response(output.dump(service.find(session, object_, key)))

    def update(key: str, **path: str) -> Response:
        require_scope(write_scope)
        require_admin_access()
        object_ = routes.object_of(path)
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

    def archive(key: str, **path: str) -> Response:
        """DELETE archives: the values stay on the records, hidden, and come back on restore."""
        require_scope(write_scope)
        require_admin_access()
        object_ = routes.object_of(path)
        expected = if_match_version()
        with runtime.db.transaction() as session:
            found = service.find(session, object_, key)
            if found.archived_at is None:
                service.update(session, found.id, {"archived_at": utcnow()}, expected)
        return Response(status=204)

    name, base = routes.endpoint, routes.path
    bp.add_url_rule(base, f"{name}_list", listing, methods=["GET"])
    bp.add_url_rule(base, f"{name}_create", idempotent(lambda: runtime.db, lambda: runtime.idempotency)(create),
                    methods=["POST"])
    item = f"{base}/<key>"
    bp.add_url_rule(item, f"{name}_get", read, methods=["GET"])
    bp.add_url_rule(item, f"{name}_update", update, methods=["PATCH"])
    bp.add_url_rule(item, f"{name}_archive", archive, methods=["DELETE"])

    doc, tag, what = runtime.doc, routes.tag, f"{routes.label} custom field".strip()
    doc_base = routes.doc_path or base
    item_doc, params = f"{doc_base}/{{key}}", routes.path_params
    key_param = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
    doc.operation(doc_base, "get", summary=f"List {what}s", tag=tag, scope=read_scope, response=PropertySchema,
                  list_of=True, parameters=[*params, {"name": "archived", "in": "query", "schema": {"type": "boolean"}}])
    doc.operation(doc_base, "post", summary=f"Define a {what}", tag=tag, scope=write_scope,
                  request=PropertyCreateSchema, response=PropertySchema, status=201, parameters=[*params],
                  extra_responses={409: "Key exists", 422: "Invalid fields"})
    doc.operation(item_doc, "get", summary=f"Get a {what}", tag=tag, scope=read_scope, response=PropertySchema,
                  parameters=[*params, key_param], extra_responses={404: "Not found"})
    doc.operation(item_doc, "patch", summary=f"Change or archive/restore a {what}", tag=tag, scope=write_scope,
                  request=PropertyUpdateSchema, response=PropertySchema, parameters=[*params, key_param],
                  extra_responses={404: "Not found", 412: "Stale If-Match", 422: "Invalid fields"})
    doc.operation(item_doc, "delete", summary=f"Archive a {what} (values are kept, hidden)", tag=tag,
                  scope=write_scope, status=204, parameters=[*params, key_param], extra_responses={404: "Not found"})
