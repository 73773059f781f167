"""Ticket routes: /v1/tickets."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request
from sqlalchemy import Select

from crm_core.errors import BadRequest
from crm_http.resource import LIST_PARAMS, RecordRoutes
from crm_runtime.service import ServiceRuntime
from tickets.models import PRIORITIES, STATUSES, Ticket
from tickets.schemas.tickets import TicketCreateSchema, TicketInSchema, TicketSchema
from tickets.service.desk import Desk

FILTER_PARAMS = [
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
    {"name": "priority", "in": "query", "schema": {"type": "string", "enum": list(PRIORITIES)}},
    {"name": "assignee_id", "in": "query", "schema": {"type": "string", "format": "uuid"}},
    {"name": "contact_id", "in": "query", "schema": {"type": "string", "format": "uuid"}},
]


def _choice(name: str, choices: tuple[str, ...]) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
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
    """`?status=open&priority=high&assignee_id=...&contact_id=...`, combined with AND."""
    status, priority = _choice("status", STATUSES), _choice("priority", PRIORITIES)
    # Through the ranks: those are what the indexes cover.
    for column, value in (
        (Ticket.status_rank, None if status is None else STATUSES.index(status)),
        (Ticket.priority_rank, None if priority is None else PRIORITIES.index(priority)),
        (Ticket.assignee_id, _uuid("assignee_id")),
        (Ticket.contact_id, _uuid("contact_id")),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def register(bp: Blueprint, runtime: ServiceRuntime, desk: Desk) -> None:
    output = TicketSchema()
    service = desk.tickets
    RecordRoutes(
        collection="tickets", area="tickets", tag="Tickets",
        db=lambda: runtime.db, service=lambda: service,
        create_schema=TicketCreateSchema(), update_schema=TicketInSchema(), output_schema=output,
        idempotency=lambda: runtime.idempotency,
        # priority and status sort by rank (urgency, workflow order), not alphabetically
        sortable={"priority": Ticket.priority_rank, "status": Ticket.status_rank, "subject": Ticket.subject,
                  "number": Ticket.number, "sla_due_at": Ticket.sla_due_at, "updated_at": Ticket.updated_at},
        list_filters=list_filters,
    ).register(bp, runtime.doc)
    # RecordRoutes documents the generic list parameters; add the filters to that operation.
    runtime.doc.operation("/v1/tickets", "get", summary="List tickets", tag="Tickets", scope="tickets:read",
                          response=output, list_of=True, parameters=[*LIST_PARAMS, *FILTER_PARAMS])
