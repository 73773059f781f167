"""Ticket routes: /v1/tickets (with the filter language), /v1/tickets/by-number/{n},
/v1/properties/tickets (custom fields) and /v1/settings/tickets."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import Select, and_, or_

from crm_core.errors import BadRequest, NotFound
from crm_http.auth import require_admin_access, require_scope
from crm_http.parsing import load
from crm_http.resource import RecordRoutes, json_response, list_params, record_response
from crm_properties.routes import DefinitionService, PropertyRoutes, register_property_routes
from crm_properties.schemas import PropertySchema
from crm_runtime.service import ServiceRuntime
from tickets.models import CHANNELS, PRIORITIES, STATUS_ALIASES, STATUSES, Ticket
from tickets.schemas.tickets import TicketCreateSchema, TicketInSchema, TicketSchema, TicketSettingsSchema
from tickets.service.conditions import ticket_fields
from tickets.service.desk import Desk
from tickets.service.properties import STORE, check_ticket_key
from tickets.service.tickets import settings_body, ticket_settings, update_settings

FILTER_PARAMS = [
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
    {"name": "priority", "in": "query", "schema": {"type": "string", "enum": list(PRIORITIES)}},
    {"name": "channel", "in": "query", "schema": {"type": "string", "enum": list(CHANNELS)}},
    {"name": "assignee_id", "in": "query", "schema": {"type": "string", "format": "uuid"}},
    {"name": "contact_id", "in": "query", "schema": {"type": "string", "format": "uuid"}},
    {"name": "team_id", "in": "query", "schema": {"type": "string", "format": "uuid"}},
]
SETTINGS_PATH = "/v1/settings/tickets"
MAX_WORDS = 8
_NUMBER = re.compile(r"^#?(\d{1,9})$")


def _choice(name: str, choices: tuple[str, ...], aliases: dict[str, str] | None = None) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    value = (aliases or {}).get(value, value)
    if value not in choices:
        raise BadRequest(f"Query parameter {name!r} must be one of: {', '.join(choices)}.",
                         errors={name: [f"Unknown value {value!r}."]})
    return value


def _uuid(name: str) -> uuid.UUID | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise BadRequest(f"Query parameter {name!r} must be a UUID.", errors={name: ["Not a UUID."]}) from exc


def list_filters(stmt: Select[Any]) -> Select[Any]:
    """The simple parameters (`?status=open&priority=high&assignee_id=...`), combined with AND and
    with `filter=`: kept beside the filter language for the clients that use them."""
    status, priority = _choice("status", STATUSES, STATUS_ALIASES), _choice("priority", PRIORITIES)
    # Through the ranks: those are what the indexes cover.
    for column, value in (
        (Ticket.status_rank, None if status is None else STATUSES.index(status)),
        (Ticket.priority_rank, None if priority is None else PRIORITIES.index(priority)),
        (Ticket.channel, _choice("channel", CHANNELS)),
        (Ticket.assignee_id, _uuid("assignee_id")),
        (Ticket.contact_id, _uuid("contact_id")),
        (Ticket.team_id, _uuid("team_id")),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def search(stmt: Select[Any], q: str) -> Select[Any]:
    """`q=`: every word occurs in the subject, description, requester email or name (any case);
    `1001` or `#1001` also finds ticket #1001."""
    words = q.split()[:MAX_WORDS]
    columns = (Ticket.subject, Ticket.description, Ticket.requester_email, Ticket.requester_name)
    conditions = [or_(*(c.icontains(w, autoescape=True) for c in columns)) for w in words]
    number = _NUMBER.match(q.strip())
    if number:
        return stmt.where(or_(Ticket.number == int(number.group(1)), and_(*conditions)))
    return stmt.where(and_(*conditions))


def register(bp: Blueprint, runtime: ServiceRuntime, desk: Desk) -> None:
    output = TicketSchema()
    service = desk.tickets
    routes = RecordRoutes(
        collection="tickets", area="tickets", tag="Tickets",
        db=lambda: runtime.db, service=lambda: service,
        create_schema=TicketCreateSchema(), update_schema=TicketInSchema(), output_schema=output,
        idempotency=lambda: runtime.idempotency,
        # filter= and sort= over the built-in fields and the tenant's custom fields; priority and
        # status sort by rank (urgency, workflow order), not alphabetically
        fields=ticket_fields, search=search, list_filters=list_filters,
    )
    routes.register(bp, runtime.doc)
    # RecordRoutes documents the generic list parameters; add the simple filters to that operation.
    runtime.doc.operation("/v1/tickets", "get", summary="List tickets", tag="Tickets", scope="tickets:read",
                          response=output, list_of=True, parameters=[*list_params(), *FILTER_PARAMS])

    def by_number(number: str) -> Response:
        require_scope("tickets:read")
        if not number.isdigit() or len(number) > 9:
            raise BadRequest("A ticket number is a whole number, e.g. 1001.", errors={"number": ["Not a ticket number."]})
        with runtime.db.transaction() as session:
            found = service.by_number(session, int(number))
            if found is None:
                raise NotFound(f"No ticket #{number}.")
            return record_response(service.body(session, found))

    bp.add_url_rule("/v1/tickets/by-number/<number>", "tickets_by_number", by_number, methods=["GET"])
    runtime.doc.operation("/v1/tickets/by-number/{number}", "get", summary="Get a ticket by its number (#1001)",
                          tag="Tickets", scope="tickets:read", response=output,
                          parameters=[{"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}],
                          extra_responses={400: "Not a number", 404: "Not found"})

    register_property_routes(bp, runtime, PropertyRoutes(
        path="/v1/properties/tickets", endpoint="ticket_properties", area="tickets", tag="Ticket custom fields",
        label="ticket", object_="ticket", definitions=STORE.by_object, check_key=check_ticket_key,
        service=DefinitionService(runtime.outbox, PropertySchema().dump, STORE, aggregate="ticket_property")))
    _register_settings(bp, runtime)


def _register_settings(bp: Blueprint, runtime: ServiceRuntime) -> None:
    schema = TicketSettingsSchema()

    def read() -> Response:
        require_scope("tickets:read")
        with runtime.db.transaction() as session:
            return json_response(settings_body(session, ticket_settings(session)))

    def change() -> Response:
        require_scope("tickets:write")
        require_admin_access()  # tenant-wide
        values = load(schema, partial=True)
        with runtime.db.transaction() as session:
            return json_response(settings_body(session, update_settings(session, runtime.outbox, values)))

    bp.add_url_rule(SETTINGS_PATH, "ticket_settings_get", read, methods=["GET"])
    bp.add_url_rule(SETTINGS_PATH, "ticket_settings_update", change, methods=["PATCH"])
    runtime.doc.operation(SETTINGS_PATH, "get", summary="Ticket settings: custom statuses, auto-close, portal, numbering",
                          tag="Tickets", scope="tickets:read", response=TicketSettingsSchema)
    runtime.doc.operation(SETTINGS_PATH, "patch", summary="Change ticket settings (owners and admins)", tag="Tickets",
                          scope="tickets:write", request=TicketSettingsSchema, response=TicketSettingsSchema,
                          extra_responses={403: "Not an owner or admin", 422: "Invalid fields"})
