"""Routes of the sla area: /v1/business-hours, /v1/sla-policies, GET /v1/tickets/{id}/sla, and
/v1/sla-recomputes (the progress of big recomputes those changes queue)."""

from __future__ import annotations

from flask import Blueprint, Response

from crm_http.auth import require_scope
from crm_http.parsing import parse_uuid
from crm_http.resource import RecordRoutes, json_response
from crm_runtime.service import ServiceRuntime
from tickets.models.sla import BusinessHours, SlaPolicy, SlaRecompute
from tickets.schemas.sla import (
    BusinessHoursCreateSchema,
    BusinessHoursInSchema,
    BusinessHoursSchema,
    SlaPolicyCreateSchema,
    SlaPolicyInSchema,
    SlaPolicySchema,
    SlaRecomputeInSchema,
    SlaRecomputeSchema,
    TicketSlaSchema,
)
from tickets.service import sla, sla_config
from tickets.service.desk import Desk
from tickets.service.sla_jobs import HEADER, RecomputeRecords, Recomputes, queued_headers


def register(bp: Blueprint, runtime: ServiceRuntime, desk: Desk) -> None:
    """Adds the area's routes."""
    calendars_out, policies_out = BusinessHoursSchema(), SlaPolicySchema()
    recomputes = Recomputes.from_settings(runtime.settings)
    calendars = sla_config.BusinessHoursService(runtime.outbox, calendars_out.dump, recomputes)
    policies = sla_config.SlaPolicyService(runtime.outbox, policies_out.dump, recomputes)
    jobs_out = SlaRecomputeSchema()
    jobs = RecomputeRecords(runtime.outbox, jobs_out.dump)
    # Tenant configuration: writes need an owner/admin (or the admin scope), reads tickets:read.
    RecordRoutes(
        collection="business-hours", area="tickets", tag="SLA", admin_writes=True,
        db=lambda: runtime.db, service=lambda: calendars,
        create_schema=BusinessHoursCreateSchema(), update_schema=BusinessHoursInSchema(), output_schema=calendars_out,
        idempotency=lambda: runtime.idempotency, default_sort="name",
        sortable={"name": BusinessHours.name}, write_headers=queued_headers,
    ).register(bp, runtime.doc)
    RecordRoutes(
        collection="sla-policies", area="tickets", tag="SLA", admin_writes=True,
        db=lambda: runtime.db, service=lambda: policies,
        create_schema=SlaPolicyCreateSchema(), update_schema=SlaPolicyInSchema(), output_schema=policies_out,
        idempotency=lambda: runtime.idempotency, default_sort="position",
        sortable={"position": SlaPolicy.position, "name": SlaPolicy.name}, write_headers=queued_headers,
    ).register(bp, runtime.doc)
    for collection in ("business-hours", "sla-policies"):
        for path, method, status in ((f"/v1/{collection}", "post", 201), (f"/v1/{collection}/{{record_id}}", "patch", 200),
                                     (f"/v1/{collection}/{{record_id}}", "delete", 204)):
            runtime.doc.response_header(path, method, status, HEADER, "Present when the change queued a recompute of "
                                        "many open tickets' SLA clocks: the job's id, whose progress "
                                        "GET /v1/sla-recomputes/{id} shows. Absent: the clocks were recomputed "
                                        "in the request (or none needed it).")
    # A calendar or policy change touching more open tickets than CRM_SLA_RECOMPUTE_INLINE_MAX
    # queues one of these; newest first.
    RecordRoutes(
        collection="sla-recomputes", area="tickets", tag="SLA", read_only=True,
        db=lambda: runtime.db, service=lambda: jobs,
        create_schema=SlaRecomputeInSchema(), update_schema=SlaRecomputeInSchema(), output_schema=jobs_out,
        idempotency=lambda: runtime.idempotency, sortable={"created_at": SlaRecompute.created_at},
    ).register(bp, runtime.doc)

    def ticket_sla(ticket_id: str) -> Response:
        require_scope("tickets:read")
        tid = parse_uuid(ticket_id, "ticket")
        with runtime.db.transaction() as session:
            ticket = desk.tickets.get(session, tid)
            return json_response(sla.state(session, ticket))

    bp.add_url_rule("/v1/tickets/<ticket_id>/sla", "tickets_sla", ticket_sla, methods=["GET"])
    runtime.doc.operation(
        "/v1/tickets/{ticket_id}/sla", "get", summary="A ticket's SLA clocks: targets, due times and why, segments",
        tag="SLA", scope="tickets:read", response=TicketSlaSchema, extra_responses={404: "Not found"},
        parameters=[{"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}])
