"""Thin HTTP routes for a tenant record: parse, call the use case, serialise.

One call registers the five conventional routes of API.md (create, list, read, update, delete)
with scopes, ETags, If-Match, Idempotency-Key, cursor lists and OpenAPI docs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, request
from marshmallow import Schema
from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from crm_core.context import current_tenant
from crm_core.errors import BadRequest
from crm_db.base import TenantScoped
from crm_db.database import Database
from crm_db.tenancy import Prefetch
from crm_events.envelope import dumps_bytes
from crm_events.records import RecordService
from crm_http.auth import require_admin_access, require_scope
from crm_http.idempotency import idempotent
from crm_http.openapi import ApiDoc
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, SortKey, paginate, parse_sort
from crm_http.parsing import if_match_version, load, parse_uuid, query_int
from crm_http.rows import RowSerializer, driver_row_type, schema_rows, scoped_rows
from crm_query import FieldRegistry, FieldType, column_field, compile_filter
from crm_query import parse_sort as parse_field_sort

FILTER_DOC = (
    "Filter expression: `field op value` joined with `and` / `or`, grouped with parentheses, negated with `not`. "
    "Operators: `=`, `!=`, `<`, `<=`, `>`, `>=`, `in (...)`, `not in (...)`, `contains`, `starts_with`, "
    "`is null`, `is not null`. Values: 'quoted strings' (`''` escapes a quote), numbers, true, false. "
    "Custom fields are addressed by their key. Example: "
    "`lifecycle_stage = 'lead' and (plan in ('pro', 'team') or lead_score >= 50)`. "
    "A missing value matches `!=`, `not in` and `not (...)` but no other comparison. "
    "Unknown fields and malformed expressions get 400 naming the problem."
)
FILTER_PARAM: dict[str, Any] = {"name": "filter", "in": "query", "schema": {"type": "string", "maxLength": 4000},
                                "description": FILTER_DOC}
SEARCH_PARAM: dict[str, Any] = {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "Free-text search."}
LIST_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "sort", "in": "query", "schema": {"type": "string"}, "description": "e.g. `-created_at,name`"},
]


def list_params(*, filterable: bool = True, searchable: bool = True) -> list[dict[str, Any]]:
    """Paging parameters, plus `filter` and `q` where the collection supports them."""
    return [*LIST_PARAMS, *([FILTER_PARAM] if filterable else []), *([SEARCH_PARAM] if searchable else [])]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(dumps_bytes(body), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def record_response(body: dict[str, Any], status: int = 200, location: str | None = None) -> Response:
    headers = {"ETag": f'"{body["version"]}"'}
    if location:
        headers["Location"] = location
    return json_response(body, status, headers)


def _with_headers(resp: Response, headers: dict[str, str]) -> Response:
    for key, value in headers.items():
        resp.headers[key] = value
    return resp


_READ_ROWS = "crm_read_rows"  # session.info: the rows of a read's prefetched select by id


@dataclass
class RecordRoutes:
    collection: str  # URL segment: "contacts"
    area: str  # scope area: "contacts" -> contacts:read / contacts:write
    tag: str
    db: Callable[[], Database]
    service: Callable[[], RecordService[Any]]
    create_schema: Schema
    update_schema: Schema
    output_schema: Schema
    idempotency: Callable[[], Table]
    sortable: dict[str, InstrumentedAttribute[Any]] = field(default_factory=dict)
    default_sort: str = "-created_at"
    list_filters: Callable[[Any], Any] | None = None  # stmt -> stmt, for simple query parameters
    # `?filter=` and `?sort=` over these fields (built per request, in the transaction: custom
    # properties are per tenant); replaces `sortable`. Without it `?filter=` is a 400.
    fields: Callable[[Session], FieldRegistry] | None = None
    search: Callable[[Select[Any], str], Select[Any]] | None = None  # applies `?q=`
    # Runs in the list's transaction before the query, e.g. to provision a tenant's defaults on
    # its first read rather than waiting for an event.
    before_list: Callable[[Session], None] | None = None
    # Tenant administration (scoring rules, say): writes need an owner/admin or the `admin` scope.
    admin_writes: bool = False
    # Only GET (list and read): records the service writes itself (jobs, say).
    read_only: bool = False
    # Extra headers of a write's answer (create, update, delete), from its transaction's session
    # at the end of the use case: e.g. where to follow a job the write queued.
    write_headers: Callable[[Session], dict[str, str]] | None = None
    # Lists and reads serialise Core rows with the output schema compiled once (crm_http.rows);
    # None when the schema needs ORM objects (a relationship, say): those stay on schema.dump.
    rows: RowSerializer | None = field(default=None, init=False)
    _by_id: Select[Any] | None = field(default=None, init=False)  # a read's row, sent with BEGIN
    _row_type: Any = field(default=None, init=False)

    @property
    def base(self) -> str:
        return f"/v1/{self.collection}"

    def register(self, bp: Blueprint, doc: ApiDoc) -> None:
        read, write = f"{self.area}:read", f"{self.area}:write"
        name = self.collection
        out = type(self.output_schema)
        model = self.service().model
        self.rows = schema_rows(self.output_schema, model)
        if self.rows is not None and issubclass(model, TenantScoped):
            self._by_id = select(*self.rows.table_columns).where(model.id == bindparam("rid"),
                                                                 model.tenant_id == bindparam("tenant"))
        bp.add_url_rule(self.base, f"{name}_list", self.list, methods=["GET"])
        item = f"{self.base}/<record_id>"
        bp.add_url_rule(item, f"{name}_get", self.read, methods=["GET"])
        singular = self.service().aggregate
        item_doc = f"{self.base}/{{record_id}}"
        id_param = [{"name": "record_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]
        doc.operation(self.base, "get", summary=f"List {name}", tag=self.tag, scope=read, response=out,
                      list_of=True, parameters=list_params(filterable=self.fields is not None, searchable=self.search is not None))
        doc.operation(item_doc, "get", summary=f"Get a {singular}", tag=self.tag, scope=read, response=out,
                      parameters=id_param, extra_responses={404: "Not found"})
        if self.read_only:
            return
        bp.add_url_rule(self.base, f"{name}_create", idempotent(self.db, self.idempotency)(self.create), methods=["POST"])
        bp.add_url_rule(item, f"{name}_update", self.update, methods=["PATCH"])
        bp.add_url_rule(item, f"{name}_delete", self.delete, methods=["DELETE"])
        doc.operation(self.base, "post", summary=f"Create a {singular}", tag=self.tag, scope=write,
                      request=type(self.create_schema), response=out, status=201, extra_responses={409: "Conflict", 422: "Invalid fields"},
                      parameters=[{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}])
        doc.operation(item_doc, "patch", summary=f"Update a {singular}", tag=self.tag, scope=write,
                      request=type(self.update_schema), response=out,
                      extra_responses={404: "Not found", 409: "Conflict (e.g. a merged-away id: see `merged_into`)",
                                       412: "Stale If-Match", 422: "Invalid fields"},
                      parameters=[*id_param, {"name": "If-Match", "in": "header", "schema": {"type": "string"}}])
        doc.operation(item_doc, "delete", summary=f"Delete a {singular}", tag=self.tag, scope=write, status=204,
                      parameters=id_param, extra_responses={404: "Not found", 409: "Conflict (e.g. a merged-away id: see `merged_into`)",
                                                            412: "Stale If-Match"})

    def _read_row_type(self) -> Any:
        """The row type for a read's prefetched row (rows.driver_row_type), False where SQLAlchemy
        has to convert the values (the read then selects after BEGIN). Built at the first read."""
        if self._row_type is None:
            assert self.rows is not None
            self._row_type = driver_row_type(self.rows.table_columns, self.db().engine.dialect) or False
        return self._row_type or None

    def _store_read(self, session: Session, found: Any) -> None:
        # psycopg's tuples on PostgreSQL (the prefetch goes through the driver), Rows on SQLite.
        make = self._row_type
        session.info[_READ_ROWS] = [make(*r) if type(r) is tuple else r for r in found]

    def _dump(self, record: Any) -> dict[str, Any]:
        return self.output_schema.dump(record)

    def _body(self, session: Any, record: Any) -> dict[str, Any]:
        return self.service().body(session, record)

    def _require_write(self) -> None:
        require_scope(f"{self.area}:write")
        if self.admin_writes:
            require_admin_access()

    def create(self) -> Response:
        self._require_write()
        values = load(self.create_schema)
        service = self.service()
        # What the create reads goes out with BEGIN; the row and its event with COMMIT.
        with self.db().transaction(prefetch=service.prefetch(values)) as session:
            body = service.create_body(session, values, self.rows)
            extra = self._write_headers(session)
        return _with_headers(record_response(body, 201, location=f"{self.base}/{body['id']}"), extra)

    def read(self, record_id: str) -> Response:
        require_scope(f"{self.area}:read")
        rid = parse_uuid(record_id, self.service().aggregate)
        rows = self.rows
        tenant = current_tenant()
        prefetch: list[Prefetch] = [*rows.prefetch()] if rows is not None else []
        if rows is not None and tenant is not None and self._by_id is not None and self._read_row_type() is not None:
            # The row goes out with BEGIN (one round trip for BEGIN, the tenant setting, the
            # definitions version and the row), scoped by hand like every Prefetch; RLS applies too.
            prefetch.append(Prefetch(self._by_id, {"rid": rid, "tenant": tenant}, self._store_read))
        with self.db().transaction(prefetch=prefetch) as session:
            if rows is not None:
                model = self.service().model
                if _READ_ROWS in session.info:
                    found = session.info.pop(_READ_ROWS)
                    row = found[0] if found else None
                else:
                    row = scoped_rows(session, select(*rows.table_columns).where(model.id == rid), model).first()
                if row is not None:
                    return record_response(rows.dump(row, rows.context(session)))
            # Not under this id (merged away, erased, missing): the service's get says what to answer.
            body = self._dump(self.service().get(session, rid))
        return record_response(body)

    def update(self, record_id: str) -> Response:
        self._require_write()
        rid = parse_uuid(record_id, self.service().aggregate)
        expected = if_match_version()
        values = load(self.update_schema, partial=True)
        service = self.service()
        with self.db().transaction(prefetch=service.prefetch(values)) as session:
            body = self._body(session, service.update(session, rid, values, expected))
            extra = self._write_headers(session)
        return _with_headers(record_response(body), extra)

    def delete(self, record_id: str) -> Response:
        self._require_write()
        rid = parse_uuid(record_id, self.service().aggregate)
        expected = if_match_version()
        with self.db().transaction() as session:
            self.service().delete(session, rid, expected)
            extra = self._write_headers(session)
        return _with_headers(Response(status=204), extra)

    def _write_headers(self, session: Session) -> dict[str, str]:
        return self.write_headers(session) if self.write_headers is not None else {}

    def list(self) -> Response:
        require_scope(f"{self.area}:read")
        model = self.service().model
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        raw_filter, query = request.args.get("filter"), (request.args.get("q") or "").strip()
        if self.fields is None and raw_filter:
            raise BadRequest(f"Filtering is not supported on /v1/{self.collection}.",
                             errors={"filter": ["Filtering is not supported on this collection."]})
        if self.search is None and query:
            raise BadRequest(f"Search is not supported on /v1/{self.collection}.",
                             errors={"q": ["Search is not supported on this collection."]})
        keys: list[SortKey] = []
        if self.fields is None:
            sortable = {"created_at": model.created_at, "updated_at": model.updated_at, "id": model.id, **self.sortable}
            keys = parse_sort(request.args.get("sort"), sortable, self.default_sort, model.id)
        rows = self.rows
        stmt = select(*rows.table_columns) if rows is not None else select(model)
        if self.list_filters is not None:
            stmt = self.list_filters(stmt)
        if self.search is not None and query:
            stmt = self.search(stmt, query)
        with self.db().transaction(prefetch=rows.prefetch() if rows is not None else ()) as session:
            if self.before_list is not None:
                self.before_list(session)
            if self.fields is not None:
                registry = self.fields(session)  # may be shared between requests: never changed here
                defaults = [d for d in (column_field("id", FieldType.UUID, model.id),
                                        column_field("created_at", FieldType.DATETIME, model.created_at),
                                        column_field("updated_at", FieldType.DATETIME, model.updated_at))
                            if d.name not in registry]
                if defaults:
                    registry = FieldRegistry([*registry.values(), *defaults])
                keys = parse_field_sort(request.args.get("sort"), registry, self.default_sort, registry["id"])
                where = compile_filter(raw_filter, registry, session.get_bind().dialect.name)
                if where is not None:
                    stmt = stmt.where(where)
            run = (lambda s: scoped_rows(session, s, model)) if rows is not None else None
            page, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"), rows=rows is not None, run=run)
            data = rows.many(page, rows.context(session)) if rows is not None else [self._dump(r) for r in page]
        return json_response({"data": data, "next_cursor": next_cursor})
